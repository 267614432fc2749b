// Training steps captured as CUDA graphs and replayed (TrainConfig::cuda_graphs) against
// the same steps launched call by call, on one GPU, with no communication and over NCCL
// with one rank (whose all-reduces are captured into the graph). A replay runs the
// recorded kernels with the same arguments in the same order, and the learning rate of
// each step is read from device memory, so the runs must agree bitwise: parameters,
// losses and evaluation. Two epochs with a cosine schedule make every step's rate
// different, so a rate frozen at capture would show.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/cuda/cuda_resources.h"
#include "comm/communicator.h"
#include "comm/nccl_communicator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/test_backends.h"
#include "trainer/trainer.h"

namespace fftrain::trainer {
namespace {

using ::testing::StartsWith;

TrainConfig SmallGpuConfig() {
  TrainConfig config;
  config.network = "conv5x16p2,relu,pool2,conv3x8p1,relu,pool3s2,fc10";
  config.dataset = "synthetic";
  config.synthetic_shape = {2, 17, 20};
  config.synthetic_train = 256;
  config.synthetic_test = 80;  // three evaluation batches, the last one padded
  config.batch_size = 32;
  config.epochs = 2;
  config.warmup_steps = 3;
  config.learning_rate = 0.02f;
  config.progress = false;
  // Small buckets: several all-reduces inside the captured backward over NCCL.
  config.first_bucket_bytes = config.bucket_bytes = 4096;
  return config;
}

struct Outcome {
  std::vector<float> parameters;
  std::vector<EpochMetrics> history;
  std::string step_graph;
  bool used_graphs = false;
};

void ExpectSameRun(const Outcome& got, const Outcome& want, const std::string& what) {
  ASSERT_EQ(got.parameters.size(), want.parameters.size()) << what;
  EXPECT_EQ(std::memcmp(got.parameters.data(), want.parameters.data(),
                        4 * want.parameters.size()),
            0)
      << what << ": parameters differ";
  ASSERT_EQ(got.history.size(), want.history.size()) << what;
  for (size_t e = 0; e < want.history.size(); ++e) {
    EXPECT_EQ(got.history[e].train_loss, want.history[e].train_loss) << what << " epoch " << e;
    EXPECT_EQ(got.history[e].test_loss, want.history[e].test_loss) << what << " epoch " << e;
    EXPECT_EQ(got.history[e].test_accuracy, want.history[e].test_accuracy) << what;
  }
}

TEST(CudaGraphsGpuTest, ReplayedStepsTrainBitwiseAsStepsLaunchedOneByOne) {
  std::string skip;
  auto backend = test_util::MakeTestBackend(Device::kCuda, &skip);
  if (backend == nullptr) GTEST_SKIP() << skip;

  for (bool nccl : {false, true}) {
    std::vector<Outcome> outcomes;
    for (bool graphs : {false, true}) {
      comm::SingleProcessCommunicator single;
      std::unique_ptr<comm::Communicator> over_nccl;
      if (nccl) {
        auto made = comm::NcclCommunicator::Create(
            single, 0, static_cast<base::CudaStreamHandle>(backend->compute_stream()),
            absl::Seconds(60));
        ASSERT_TRUE(made.ok()) << made.status();
        over_nccl = *std::move(made);
      }
      comm::Communicator& communicator = nccl ? *over_nccl : single;
      TrainConfig config = SmallGpuConfig();
      config.cuda_graphs = graphs;
      auto trainer = Trainer::Create(config, *backend, communicator, nullptr);
      ASSERT_TRUE(trainer.ok()) << trainer.status();
      EXPECT_EQ((*trainer)->uses_graphs(), graphs);
      auto history = (*trainer)->Run();
      ASSERT_TRUE(history.ok()) << history.status();
      Outcome outcome;
      outcome.history = *history;
      outcome.parameters = *(*trainer)->Parameters();
      outcome.step_graph = (*trainer)->step_graph();
      outcomes.push_back(outcome);
    }
    const std::string what = nccl ? "over NCCL" : "one process";
    EXPECT_TRUE(outcomes[0].step_graph.empty()) << what;
    EXPECT_THAT(outcomes[1].step_graph, StartsWith("a CUDA graph of ")) << what;
    // Phases are still timed inside the graph.
    for (const EpochMetrics& m : outcomes[1].history) {
      EXPECT_GT(m.forward_seconds, 0) << what;
      EXPECT_GT(m.backward_seconds, 0) << what;
      EXPECT_GT(m.update_seconds, 0) << what;
    }
    ExpectSameRun(outcomes[1], outcomes[0], what);
  }
}

// The benchmark's iterations replay the same graph as training.
TEST(CudaGraphsGpuTest, TimedIterationsReplayTheCapturedStep) {
  std::string skip;
  auto backend = test_util::MakeTestBackend(Device::kCuda, &skip);
  if (backend == nullptr) GTEST_SKIP() << skip;
  comm::SingleProcessCommunicator single;
  auto trainer = Trainer::Create(SmallGpuConfig(), *backend, single, nullptr);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  auto ms = (*trainer)->TimeIterations(2, 5);
  ASSERT_TRUE(ms.ok()) << ms.status();
  EXPECT_GT(*ms, 0);
  EXPECT_THAT((*trainer)->step_graph(), StartsWith("a CUDA graph of "));
}

}  // namespace
}  // namespace fftrain::trainer
