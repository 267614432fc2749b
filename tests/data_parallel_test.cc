// Data-parallel training on the CPU, G ranks as threads of one process over the loopback
// communicator: the same model as one rank with G times the batch, identical parameters
// on every rank, sharded evaluation, exact resume, refused disagreements, the buckets'
// order. (tests/multirank_train_test.sh runs the same over Open MPI, as processes.)
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "comm/communicator.h"
#include "comm/loopback_communicator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/training_run.h"
#include "trainer/backend/backend.h"
#include "trainer/trainer.h"

namespace fftrain::trainer {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) { return ::testing::TempDir() + name; }

using RankResult = TrainingRun;

// Runs one trainer per rank, each on a thread of its own with its own CPU backend;
// `configure` may change a rank's configuration.
std::vector<RankResult> TrainRanks(
    int ranks, const TrainConfig& config,
    const std::function<void(int, TrainConfig&)>& configure = nullptr,
    std::vector<std::vector<comm::CollectiveRecord>>* histories = nullptr,
    const std::function<void(int, Trainer&)>& before_run = nullptr) {
  auto group = comm::LoopbackGroup::Create(ranks, absl::Seconds(20));
  EXPECT_TRUE(group.ok()) << group.status();
  std::vector<RankResult> results(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      TrainConfig mine = config;
      if (configure) configure(r, mine);
      results[r] = TrainOnCpu(mine, (*group)->rank(r), [&](Trainer& trainer) {
        if (before_run) before_run(r, trainer);
      });
    });
  }
  for (auto& t : threads) t.join();
  if (histories != nullptr) {
    for (int r = 0; r < ranks; ++r) histories->push_back((*group)->history(r));
  }
  return results;
}

class DataParallelTest : public ::testing::TestWithParam<int> {};

TEST_P(DataParallelTest, GRanksTrainTheModelOfOneRankWithGTimesTheBatch) {
  const int ranks = GetParam();
  TrainConfig config = SmallDataParallelConfig();
  config.epochs = 1;  // 480 / (8 * G) steps: 30 at G = 2, 20 at G = 3
  const std::vector<RankResult> parallel = TrainRanks(ranks, config);
  for (const RankResult& r : parallel) ASSERT_TRUE(r.status.ok()) << r.status;

  TrainConfig single = config;
  single.batch_size = config.batch_size * ranks;
  const std::vector<RankResult> one = TrainRanks(1, single);
  ASSERT_TRUE(one[0].status.ok()) << one[0].status;

  // Every rank holds bitwise the same parameters: they start from rank 0's and apply
  // the same averaged gradients, which the loopback reduces in rank order once for all.
  for (int r = 1; r < ranks; ++r) {
    ASSERT_EQ(parallel[r].parameters.size(), parallel[0].parameters.size());
    EXPECT_EQ(std::memcmp(parallel[r].parameters.data(), parallel[0].parameters.data(),
                          4 * parallel[0].parameters.size()),
              0)
        << "rank " << r;
  }
  // Against one rank: the same data order and updates; only the order of the float sums
  // differs (G partial means of b examples averaged, against one mean of G*b), a few
  // ulps a step, which 20-30 steps carry on without amplifying much: seen 2.4e-7 of
  // parameters up to 1.2 (2 ulps). 1e-5 of the largest parameter leaves 50x headroom
  // and stays far below a real difference (a step on other data, or gradients summed
  // instead of averaged, moves parameters by ~1e-2 of their size).
  const float tolerance = 1e-5f * MaxAbs(one[0].parameters);
  const float difference = MaxAbsDifference(parallel[0].parameters, one[0].parameters);
  std::printf("G=%d ranks vs 1 rank x %d batch: max |dparam| %.3g (tolerance %.3g)\n", ranks,
              ranks, difference, tolerance);
  EXPECT_LE(difference, tolerance);
  // Metrics are global: the loss over the global batch, the same on every rank.
  EXPECT_NEAR(parallel[0].history[0].train_loss, one[0].history[0].train_loss, 1e-4);
  EXPECT_EQ(parallel[0].history[0].train_loss, parallel[ranks - 1].history[0].train_loss);
  EXPECT_EQ(parallel[0].history[0].test_accuracy, parallel[ranks - 1].history[0].test_accuracy);
}

TEST_P(DataParallelTest, ShardedEvaluationMatchesOneRank) {
  const int ranks = GetParam();
  TrainConfig config = SmallDataParallelConfig();
  // A learning rate this small leaves the parameters (nearly) where they start, so the
  // evaluation runs on the same model however the training steps are split.
  config.learning_rate = 1e-12f;
  config.warmup_steps = 0;
  config.epochs = 1;
  config.synthetic_test = 103;  // not a multiple of the batch nor of the ranks
  const auto parallel = TrainRanks(ranks, config);
  const auto one = TrainRanks(1, config, [&](int, TrainConfig& c) {
    c.batch_size = config.batch_size * ranks;
  });
  ASSERT_TRUE(parallel[0].status.ok()) << parallel[0].status;
  ASSERT_TRUE(one[0].status.ok()) << one[0].status;
  EXPECT_EQ(parallel[0].history[0].test_accuracy, one[0].history[0].test_accuracy);
  EXPECT_NEAR(parallel[0].history[0].test_loss, one[0].history[0].test_loss, 1e-6);
}

TEST_P(DataParallelTest, ResumeOnTheSameRanksIsExactAndOtherRankCountsAreRefused) {
  const int ranks = GetParam();
  TrainConfig straight = SmallDataParallelConfig();
  straight.checkpoint_path = TempPath("dp_straight_" + std::to_string(ranks) + ".ckpt");
  const auto two_epochs = TrainRanks(ranks, straight);
  ASSERT_TRUE(two_epochs[0].status.ok()) << two_epochs[0].status;

  TrainConfig first = straight;
  first.checkpoint_path = TempPath("dp_split_" + std::to_string(ranks) + ".ckpt");
  first.stop_after_epoch = 1;
  ASSERT_TRUE(TrainRanks(ranks, first)[0].status.ok());
  TrainConfig second = first;
  second.stop_after_epoch = 0;
  second.resume = true;
  const auto resumed = TrainRanks(ranks, second);
  for (int r = 0; r < ranks; ++r) {
    ASSERT_TRUE(resumed[r].status.ok()) << resumed[r].status;
    ASSERT_EQ(resumed[r].history.size(), 1u);
    EXPECT_EQ(resumed[r].history[0].epoch, 2);
    EXPECT_EQ(std::memcmp(resumed[r].parameters.data(), two_epochs[0].parameters.data(),
                          4 * two_epochs[0].parameters.size()),
              0)
        << "rank " << r;
  }
  const auto other_ranks = TrainRanks(ranks + 1, second);
  for (const RankResult& r : other_ranks) {
    EXPECT_EQ(r.status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(r.status.message()), HasSubstr("ranks=" + std::to_string(ranks)));
  }
}

TEST_P(DataParallelTest, BucketsStartInThePlannedOrderEveryStepOnEveryRank) {
  const int ranks = GetParam();
  TrainConfig config = SmallDataParallelConfig();
  config.epochs = 1;
  std::vector<std::vector<comm::CollectiveRecord>> histories;
  const auto results = TrainRanks(ranks, config, nullptr, &histories);
  ASSERT_TRUE(results[0].status.ok()) << results[0].status;
  const int64_t steps = config.synthetic_train / (config.batch_size * ranks);
  // Backward completes fc4 (388 floats, after the conv's 114) first: bucket 0 is the fc
  // layer's gradients, bucket 1 the convolution's, both averaged, every step.
  for (int r = 0; r < ranks; ++r) {
    const auto& history = histories[r];
    ASSERT_EQ(static_cast<int64_t>(history.size()), 2 * steps) << "rank " << r;
    const float* base = history[1].data;
    for (int64_t s = 0; s < steps; ++s) {
      EXPECT_EQ(history[2 * s].count, 388);
      EXPECT_EQ(history[2 * s].data, base + 114);
      EXPECT_EQ(history[2 * s + 1].count, 114);
      EXPECT_EQ(history[2 * s + 1].data, base);
      EXPECT_EQ(history[2 * s].op, comm::ReduceOp::kAverage);
      if (s > 0) {
        EXPECT_GT(history[2 * s].sequence, history[2 * s - 1].sequence);
      }
    }
  }
}

// Issue 17, defect 6: a signal to one rank must stop every rank after the same step (the
// others would otherwise wait for it in the next collective). Only the last rank is asked
// here; every rank stops at the first agreement (step kStopCheckSteps), with the same
// parameters, and the mid-epoch checkpoint resumes on the same ranks exactly.
TEST_P(DataParallelTest, AStopRequestToOneRankStopsEveryRankAfterTheSameStep) {
  const int ranks = GetParam();
  TrainConfig straight = SmallDataParallelConfig();
  straight.epochs = 1;  // 480 / (8 * G) steps: 30 at G = 2, 20 at G = 3
  const auto whole = TrainRanks(ranks, straight);
  ASSERT_TRUE(whole[0].status.ok()) << whole[0].status;

  TrainConfig stopped = straight;
  stopped.checkpoint_path = TempPath("dp_stop_" + std::to_string(ranks) + ".ckpt");
  std::atomic<int> request{SIGTERM};
  const auto first = TrainRanks(ranks, stopped, nullptr, nullptr, [&](int r, Trainer& t) {
    if (r == ranks - 1) t.set_stop_request(&request);
  });
  for (int r = 0; r < ranks; ++r) {
    ASSERT_TRUE(first[r].status.ok()) << "rank " << r << ": " << first[r].status;
    EXPECT_EQ(first[r].stopped_by, SIGTERM) << "rank " << r;
    EXPECT_EQ(first[r].steps, Trainer::kStopCheckSteps) << "rank " << r;
    EXPECT_TRUE(first[r].history.empty());
    EXPECT_EQ(first[r].parameters, first[0].parameters) << "rank " << r;
  }
  TrainConfig resumed = stopped;
  resumed.resume = true;
  const auto rest = TrainRanks(ranks, resumed);
  for (int r = 0; r < ranks; ++r) {
    ASSERT_TRUE(rest[r].status.ok()) << "rank " << r << ": " << rest[r].status;
    EXPECT_EQ(std::memcmp(rest[r].parameters.data(), whole[0].parameters.data(),
                          4 * whole[0].parameters.size()),
              0)
        << "rank " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Ranks, DataParallelTest, ::testing::Values(2, 3));

TEST(DataParallelRefusalTest, RanksThatDisagreeAreAllStoppedWithTheDifference) {
  const auto results = TrainRanks(3, SmallDataParallelConfig(), [](int r, TrainConfig& c) {
    if (r == 2) c.seed = 7;
  });
  for (const RankResult& r : results) {
    EXPECT_EQ(r.status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(r.status.message()),
                HasSubstr("rank 2 has seed=7 where rank 0 has seed=1"));
  }
}

TEST(DataParallelRefusalTest, AStartUpFailureOnOneRankEndsEveryRankWithItsMessage) {
  TrainConfig config = SmallDataParallelConfig();
  config.dataset = "fashion-mnist";
  const auto results = TrainRanks(2, config, [](int r, TrainConfig& c) {
    c.data_dir = r == 1 ? TempPath("no-such-data-dir") : c.data_dir;
    if (r == 0) c.dataset = "synthetic";
  });
  // Rank 1 fails to load its data; rank 0 learns it from the agreement and stops too.
  EXPECT_THAT(std::string(results[1].status.message()), HasSubstr("no-such-data-dir"));
  EXPECT_THAT(std::string(results[0].status.message()), HasSubstr("rank 1 failed"));
  EXPECT_THAT(std::string(results[0].status.message()), HasSubstr("no-such-data-dir"));
}

}  // namespace
}  // namespace fftrain::trainer
