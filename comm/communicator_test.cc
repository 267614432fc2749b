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
  ASSERT_TRUE(comm.AllReduce(data.data(), 3, ReduceOp::kSum).ok());
  EXPECT_EQ(data, before);
  ASSERT_TRUE(comm.AllReduce(data.data(), 3, ReduceOp::kAverage).ok());
  EXPECT_EQ(data, before);
  ASSERT_TRUE(comm.Broadcast(data.data(), 3, 0).ok());
  EXPECT_EQ(data, before);
  double metrics[2] = {3.0, 4.0};
  ASSERT_TRUE(comm.AllReduceHost(metrics, 2).ok());
  EXPECT_EQ(metrics[0], 3.0);
  auto all = comm.AllGather("config");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, std::vector<std::string>{"config"});
  EXPECT_TRUE(comm.Barrier().ok());
}

TEST(SingleProcessCommunicatorTest, RefusesBadArguments) {
  SingleProcessCommunicator comm;
  float x = 0;
  EXPECT_EQ(comm.Broadcast(&x, 1, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(comm.StartAllReduce(nullptr, 4, ReduceOp::kSum).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(comm.StartAllReduce(&x, -1, ReduceOp::kSum).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(comm.AllReduceHost(nullptr, 1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(CommunicatorTest, StepIsKeptForFaultMessages) {
  SingleProcessCommunicator comm;
  EXPECT_EQ(comm.step(), -1);
  comm.set_step(42);
  EXPECT_EQ(comm.step(), 42);
}

}  // namespace
}  // namespace fftrain::comm
