// Data-parallel training on the CPU over Open MPI, run by every rank of a job
// (tests/mpi_training_test.sh starts it under mpirun at 2 and 3 ranks): G processes
// with batch b train the model of one with batch G*b, every rank ends with bitwise the
// same parameters, a resumed run is exact, and ranks that disagree are refused.
// tests/data_parallel_test covers the same and more with threads (the loopback double).
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/testing/mpi_test_main.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/training_run.h"
#include "trainer/backend/backend.h"
#include "trainer/trainer.h"

namespace fftrain::trainer {
namespace {

using ::testing::HasSubstr;

// Every rank must name the same files: TEST_TMPDIR, which mpirun passes to its ranks.
std::string SharedPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name + "." +
         std::to_string(comm::mpi_test::World().size());
}

// Rank 0's parameters as every rank sees them, to compare bitwise on each rank.
std::vector<std::string> EveryRanksBytes(const std::vector<float>& parameters) {
  auto all = comm::mpi_test::World().AllGather(
      std::string(reinterpret_cast<const char*>(parameters.data()), 4 * parameters.size()));
  EXPECT_TRUE(all.ok()) << all.status();
  return all.ok() ? *all : std::vector<std::string>{};
}

TEST(MpiTrainingTest, GRanksTrainTheModelOfOneRankWithGTimesTheBatchIdenticallyOnEveryRank) {
  comm::Communicator& world = comm::mpi_test::World();
  const int ranks = world.size();
  TrainConfig config = SmallDataParallelConfig();
  config.epochs = 1;
  const TrainingRun parallel = TrainOnCpu(config, world);
  ASSERT_TRUE(parallel.status.ok()) << parallel.status;

  const std::vector<std::string> bytes = EveryRanksBytes(parallel.parameters);
  for (int r = 1; r < ranks; ++r) EXPECT_EQ(bytes[r], bytes[0]) << "rank " << r;

  if (world.rank() != 0) return;
  comm::SingleProcessCommunicator alone;
  TrainConfig single = config;
  single.batch_size = config.batch_size * ranks;
  const TrainingRun one = TrainOnCpu(single, alone);
  ASSERT_TRUE(one.status.ok()) << one.status;
  // As in tests/data_parallel_test: only the order of the float sums differs, a few
  // ulps a step; 1e-5 of the largest parameter leaves wide headroom and stays far below
  // what a real difference (other data, gradients summed instead of averaged) makes.
  const float largest = MaxAbs(one.parameters);
  const float difference = MaxAbsDifference(one.parameters, parallel.parameters);
  std::printf("%d MPI ranks vs 1 rank x %d batch: max |dparam| %.3g (tolerance %.3g)\n", ranks,
              ranks, difference, 1e-5 * largest);
  EXPECT_LE(difference, 1e-5f * largest);
  EXPECT_NEAR(parallel.history[0].train_loss, one.history[0].train_loss, 1e-4);
}

TEST(MpiTrainingTest, ResumingOnTheSameRanksIsExact) {
  comm::Communicator& world = comm::mpi_test::World();
  TrainConfig straight = SmallDataParallelConfig();
  straight.checkpoint_path = SharedPath("mpi_straight.ckpt");
  const TrainingRun two_epochs = TrainOnCpu(straight, world);
  ASSERT_TRUE(two_epochs.status.ok()) << two_epochs.status;

  TrainConfig first = straight;
  first.checkpoint_path = SharedPath("mpi_split.ckpt");
  first.stop_after_epoch = 1;
  ASSERT_TRUE(TrainOnCpu(first, world).status.ok());
  TrainConfig second = first;
  second.stop_after_epoch = 0;
  second.resume = true;
  const TrainingRun resumed = TrainOnCpu(second, world);
  ASSERT_TRUE(resumed.status.ok()) << resumed.status;
  ASSERT_EQ(resumed.history.size(), 1u);
  EXPECT_EQ(resumed.history[0].train_loss, two_epochs.history[1].train_loss);
  ASSERT_EQ(resumed.parameters.size(), two_epochs.parameters.size());
  EXPECT_EQ(std::memcmp(resumed.parameters.data(), two_epochs.parameters.data(),
                        4 * resumed.parameters.size()),
            0);
}

TEST(MpiTrainingTest, RanksThatDisagreeAreAllRefusedWithTheDifference) {
  comm::Communicator& world = comm::mpi_test::World();
  if (world.size() < 2) GTEST_SKIP() << "a disagreement needs two ranks; this job has one";
  TrainConfig config = SmallDataParallelConfig();
  if (world.rank() == world.size() - 1) config.batch_size = 4;
  const TrainingRun result = TrainOnCpu(config, world);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(result.status.message()),
              HasSubstr("rank " + std::to_string(world.size() - 1) +
                        " has batch_size=4 where rank 0 has batch_size=8"));
}

}  // namespace
}  // namespace fftrain::trainer
