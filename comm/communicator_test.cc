#include "comm/communicator.h"

#include <vector>

#include "gtest/gtest.h"

namespace fftrain::comm {
namespace {

TEST(SingleProcessCommunicatorTest, CollectivesLeaveDataAsIs) {
  SingleProcessCommunicator comm;
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.size(), 1);
  std::vector<float> data = {1.5f, -2.0f, 3.25f};
  const std::vector<float> before = data;
  ASSERT_TRUE(comm.AllReduceSum(data.data(), 3).ok());
  EXPECT_EQ(data, before);
  ASSERT_TRUE(comm.Broadcast(data.data(), 3, 0).ok());
  EXPECT_EQ(data, before);
  EXPECT_TRUE(comm.Barrier().ok());
}

TEST(SingleProcessCommunicatorTest, RefusesBadArguments) {
  SingleProcessCommunicator comm;
  float x = 0;
  EXPECT_FALSE(comm.Broadcast(&x, 1, 1).ok());
  EXPECT_FALSE(comm.AllReduceSum(nullptr, 4).ok());
  EXPECT_FALSE(comm.AllReduceSum(&x, -1).ok());
}

}  // namespace
}  // namespace fftrain::comm
