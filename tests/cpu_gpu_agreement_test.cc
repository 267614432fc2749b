// The first steps of training agree between the CPU and the GPU.
#include <algorithm>
#include <cmath>
#include <vector>

#include "comm/communicator.h"
#include "gtest/gtest.h"
#include "trainer/test_backends.h"
#include "trainer/trainer.h"

namespace fftrain::trainer {
namespace {

// Both backends compute the same function in float32 with different transform and GEMM
// libraries: per step the results differ by float rounding (~1e-6 relative), and SGD
// carries the differences forward. After 8 steps at a moderate learning rate that is
// far below 1e-3 of the parameters' scale, while a wrong gradient anywhere would move
// parameters by about the learning rate times the gradient (~1e-2).
constexpr double kTolerance = 1e-3;

TEST(CpuGpuAgreementTest, FirstStepsOfTrainingAgree) {
  std::string skip;
  auto gpu = test_util::MakeTestBackend(Device::kCuda, &skip);
  if (gpu == nullptr) GTEST_SKIP() << skip;
  auto cpu = test_util::MakeTestBackend(Device::kCpu, &skip);
  ASSERT_NE(cpu, nullptr);

  TrainConfig config;
  config.network = "conv5x16p2,relu,pool2,conv3x8p1,relu,pool3s2,fc10";
  config.dataset = "synthetic";
  config.synthetic_shape = {2, 17, 20};
  config.synthetic_train = 256;
  config.synthetic_test = 64;
  config.batch_size = 32;
  config.epochs = 1;
  config.learning_rate = 0.02f;
  config.progress = false;
  std::vector<std::vector<float>> parameters;
  std::vector<double> losses;
  for (Backend* backend : {cpu.get(), gpu.get()}) {
    comm::SingleProcessCommunicator comm;
    auto trainer = Trainer::Create(config, *backend, comm, nullptr);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    auto history = (*trainer)->Run();
    ASSERT_TRUE(history.ok()) << history.status();
    losses.push_back(history->back().train_loss);
    parameters.push_back(*(*trainer)->Parameters());
  }
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < parameters[0].size(); ++i) {
    max_diff = std::max(max_diff, std::abs(double{parameters[0][i]} - parameters[1][i]));
    max_ref = std::max(max_ref, std::abs(double{parameters[0][i]}));
  }
  std::printf("CPU vs GPU after 8 steps: parameters %.2e relative, loss %.9g vs %.9g\n",
              max_diff / max_ref, losses[0], losses[1]);
  EXPECT_LE(max_diff / max_ref, kTolerance);
  EXPECT_NEAR(losses[0], losses[1], kTolerance * losses[0]);
}

}  // namespace
}  // namespace fftrain::trainer
