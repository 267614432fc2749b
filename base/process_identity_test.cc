#include "base/process_identity.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace fftrain::base {
namespace {

class ProcessIdentityTest : public ::testing::Test {
 protected:
  void TearDown() override { ClearProcessIdentity(); }
};

TEST_F(ProcessIdentityTest, EmptyUntilSet) { EXPECT_EQ(ProcessIdentitySuffix(), ""); }

TEST_F(ProcessIdentityTest, NamesRankSizeAndHost) {
  SetProcessIdentity(1, 4, "gpu-node-3");
  EXPECT_EQ(ProcessIdentitySuffix(), " (rank 1 of 4 on host gpu-node-3)");
}

TEST_F(ProcessIdentityTest, OmitsAnUnknownHost) {
  SetProcessIdentity(0, 2, "");
  EXPECT_EQ(ProcessIdentitySuffix(), " (rank 0 of 2)");
}

TEST_F(ProcessIdentityTest, LaterCallReplacesAndClearForgets) {
  SetProcessIdentity(0, 2, "a");
  SetProcessIdentity(3, 8, "b");
  EXPECT_EQ(ProcessIdentitySuffix(), " (rank 3 of 8 on host b)");
  ClearProcessIdentity();
  EXPECT_EQ(ProcessIdentitySuffix(), "");
}

// Readers on other threads see either the old or the new identity, never a torn one.
TEST_F(ProcessIdentityTest, ConcurrentReadsSeeWholeValues) {
  SetProcessIdentity(0, 2, "first");
  const std::string first = " (rank 0 of 2 on host first)";
  const std::string second = " (rank 1 of 2 on host second)";
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        const std::string seen = ProcessIdentitySuffix();
        EXPECT_TRUE(seen == first || seen == second) << seen;
      }
    });
  }
  SetProcessIdentity(1, 2, "second");
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(ProcessIdentitySuffix(), second);
}

}  // namespace
}  // namespace fftrain::base
