#include "tests/training_run.h"

#include <algorithm>
#include <cmath>

#include "trainer/backend/backend.h"

namespace fftrain::trainer {

TrainConfig SmallDataParallelConfig() {
  TrainConfig c;
  c.network = "conv3x6p1,relu,pool2,fc4";
  c.dataset = "synthetic";
  c.synthetic_shape = {2, 8, 8};
  c.synthetic_train = 480;
  c.synthetic_test = 100;
  c.batch_size = 8;
  c.epochs = 2;
  c.learning_rate = 0.05f;
  c.warmup_steps = 5;
  c.progress = false;
  c.first_bucket_bytes = 1024;
  c.bucket_bytes = 1024;
  return c;
}

TrainingRun TrainOnCpu(const TrainConfig& config, comm::Communicator& communicator,
                       const std::function<void(Trainer&)>& before_run) {
  TrainingRun run;
  auto backend = CreateCpuBackend();
  if (!backend.ok()) {
    run.status = backend.status();
    return run;
  }
  auto trainer = Trainer::Create(config, **backend, communicator, nullptr);
  if (!trainer.ok()) {
    run.status = trainer.status();
    return run;
  }
  if (before_run) before_run(**trainer);
  auto history = (*trainer)->Run();
  if (!history.ok()) {
    run.status = history.status();
    return run;
  }
  run.history = *std::move(history);
  run.stopped_by = (*trainer)->stopped_by();
  run.steps = (*trainer)->steps_done();
  auto parameters = (*trainer)->Parameters();
  run.status = parameters.status();
  if (parameters.ok()) run.parameters = *std::move(parameters);
  return run;
}

float MaxAbsDifference(const std::vector<float>& a, const std::vector<float>& b) {
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

float MaxAbs(const std::vector<float>& a) {
  float largest = 0;
  for (float x : a) largest = std::max(largest, std::fabs(x));
  return largest;
}

}  // namespace fftrain::trainer
