#include "trainer/workspace_pool.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::trainer {
namespace {

using ::testing::HasSubstr;

TEST(WorkspacePoolTest, SizedByTheLargestRequest) {
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  auto pool = WorkspacePool::Create(**backend, {{"layer 1 'conv5x8'", 1000, 800.0},
                                                {"layer 4 'conv3x16'", 5000, 4096.0},
                                                {"layer 6 'conv3x4'", 300, 100.0}});
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ(pool->bytes(), 5000u);
  EXPECT_GE(pool->span().bytes, 5000u);
  EXPECT_EQ(pool->sized_by().layer, "layer 4 'conv3x16'");
  EXPECT_THAT(pool->Describe(), HasSubstr("set by layer 4 'conv3x16'"));
  EXPECT_THAT(pool->Describe(), HasSubstr("4n(n+1)"));
}

TEST(WorkspacePoolTest, EmptyWithoutConvolutions) {
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  auto pool = WorkspacePool::Create(**backend, {});
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ(pool->bytes(), 0u);
  EXPECT_THAT(pool->Describe(), HasSubstr("no convolution layer"));
}

TEST(WorkspacePoolTest, NamesTheNeedAndTheFreeMemoryWhenItDoesNotFit) {
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  const size_t too_much = size_t{1} << 60;  // an exbibyte: no machine has it
  auto pool = WorkspacePool::Create(**backend, {{"layer 1 'conv11x96'", too_much, 1.0}});
  ASSERT_FALSE(pool.ok());
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(pool.status().message()), HasSubstr("needs 1099511627776.0 MiB"));
  EXPECT_THAT(std::string(pool.status().message()), HasSubstr("set by layer 1 'conv11x96'"));
  EXPECT_THAT(std::string(pool.status().message()), HasSubstr("MiB free"));
  EXPECT_THAT(std::string(pool.status().message()), HasSubstr("--batch_size"));
}

// Issue 17, defect 3: a pool larger than the free memory but small enough for the allocator
// to grant (on Linux, virtual memory) was accepted and then took the machine's memory as it
// was touched. It is compared with the free memory first.
TEST(WorkspacePoolTest, APoolLargerThanTheFreeMemoryIsRefusedBeforeAllocating) {
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  absl::StatusOr<size_t> free_bytes = (*backend)->FreeBytes();
  ASSERT_TRUE(free_bytes.ok()) << free_bytes.status();
  auto pool = WorkspacePool::Create(**backend,
                                    {{"layer 2 'conv9x512'", *free_bytes + (64 << 20), 1.0}});
  ASSERT_FALSE(pool.ok()) << "a pool of the free memory + 64 MiB was allocated";
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(pool.status().message()), HasSubstr("set by layer 2 'conv9x512'"));
  EXPECT_THAT(std::string(pool.status().message()), HasSubstr("MiB free"));
}

}  // namespace
}  // namespace fftrain::trainer
