#include "base/system_memory.h"

#include "gtest/gtest.h"

namespace fftrain::base {
namespace {

TEST(SystemMemoryTest, ReportsSomeAvailableMemory) {
  absl::StatusOr<uint64_t> available = AvailableHostMemoryBytes();
  ASSERT_TRUE(available.ok()) << available.status();
  // A machine that runs the tests has at least a few MiB left, and less than 2^60 bytes.
  EXPECT_GT(*available, uint64_t{4} << 20);
  EXPECT_LT(*available, uint64_t{1} << 60);
}

TEST(SystemMemoryTest, HumanBytes) {
  EXPECT_EQ(HumanBytes(512), "512 bytes");
  EXPECT_EQ(HumanBytes(12.0 * (1 << 20)), "12.0 MiB");
  EXPECT_EQ(HumanBytes(1.5 * (1 << 30)), "1.5 GiB");
  EXPECT_EQ(HumanBytes(2.0 * 1024 * 1024 * 1024 * 1024), "2.0 TiB");
}

}  // namespace
}  // namespace fftrain::base
