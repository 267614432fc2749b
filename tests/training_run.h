// Shared by the data-parallel tests (threads over the loopback communicator, processes
// over MPI): a small configuration with two gradient buckets, one training run on a
// fresh CPU backend, and the parameter comparisons.
#ifndef FFTRAIN_TESTS_TRAINING_RUN_H_
#define FFTRAIN_TESTS_TRAINING_RUN_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "comm/communicator.h"
#include "trainer/trainer.h"

namespace fftrain::trainer {

// Small enough for 2 cores, with two layers of parameters so that there are two buckets:
// the fc layer's 4 * 6*4*4 + 4 = 388 floats close the first; the conv layer's
// 6*2*9 + 6 = 114 floats make the second.
TrainConfig SmallDataParallelConfig();

struct TrainingRun {
  absl::Status status;  // the first failure: creating, training or reading back
  std::vector<EpochMetrics> history;
  std::vector<float> parameters;
  int stopped_by = 0;
  int64_t steps = 0;
};

// Trains `config` on a fresh CPU backend over `communicator`; `before_run`, when given,
// sees the trainer once it is created.
TrainingRun TrainOnCpu(const TrainConfig& config, comm::Communicator& communicator,
                       const std::function<void(Trainer&)>& before_run = nullptr);

float MaxAbsDifference(const std::vector<float>& a, const std::vector<float>& b);
float MaxAbs(const std::vector<float>& a);

}  // namespace fftrain::trainer

#endif  // FFTRAIN_TESTS_TRAINING_RUN_H_
