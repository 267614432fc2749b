// The NCCL path of data-parallel training with one rank, on one GPU: the trainer drives
// the NcclCommunicator's buckets, broadcasts and waits exactly as in a job of many
// ranks, and with one rank it must change nothing: bitwise the parameters of a run with
// no communication. (Two ranks on one GPU are refused by NCCL; runs on several GPUs are
// the bundle's run_multigpu.sh.)
#include <cstring>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "base/cuda/cuda_resources.h"
#include "comm/communicator.h"
#include "comm/nccl_communicator.h"
#include "gtest/gtest.h"
#include "trainer/test_backends.h"
#include "trainer/trainer.h"

namespace fftrain::trainer {
namespace {

TEST(NcclTrainingGpuTest, OneRankOverNcclTrainsBitwiseAsWithoutCommunication) {
  std::string skip;
  auto backend = test_util::MakeTestBackend(Device::kCuda, &skip);
  if (backend == nullptr) GTEST_SKIP() << skip;

  TrainConfig config;
  config.network = "conv5x16p2,relu,pool2,conv3x8p1,relu,pool3s2,fc10";
  config.dataset = "synthetic";
  config.synthetic_shape = {2, 17, 20};
  config.synthetic_train = 256;
  config.synthetic_test = 64;
  config.batch_size = 32;
  config.epochs = 2;
  config.learning_rate = 0.02f;
  config.progress = false;
  // Small buckets, so that several all-reduces run while backward goes on.
  config.first_bucket_bytes = config.bucket_bytes = 4096;

  std::vector<std::vector<float>> parameters;
  std::vector<double> losses;
  for (bool nccl : {false, true}) {
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
    auto trainer = Trainer::Create(config, *backend, communicator, nullptr);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    auto history = (*trainer)->Run();
    ASSERT_TRUE(history.ok()) << history.status();
    losses.push_back(history->back().test_loss);
    parameters.push_back(*(*trainer)->Parameters());
  }
  ASSERT_EQ(parameters[0].size(), parameters[1].size());
  EXPECT_EQ(std::memcmp(parameters[0].data(), parameters[1].data(),
                        4 * parameters[0].size()),
            0);
  EXPECT_EQ(losses[0], losses[1]);
}

}  // namespace
}  // namespace fftrain::trainer
