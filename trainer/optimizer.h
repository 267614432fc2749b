// SGD with momentum and weight decay, and learning-rate schedules.
#ifndef FFTRAIN_TRAINER_OPTIMIZER_H_
#define FFTRAIN_TRAINER_OPTIMIZER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trainer/backend/backend.h"

namespace fftrain::trainer {

enum class ScheduleKind { kConstant, kStep, kCosine };

// The learning rate at each optimizer step:
//   constant  base
//   step      base * gamma^floor(epoch / step_epochs)
//   cosine    final + (base - final) * (1 + cos(pi * step / total_steps)) / 2
// with a linear warm-up from base/10 over the first warmup_steps steps, if any.
struct LearningRateSchedule {
  ScheduleKind kind = ScheduleKind::kCosine;
  float base = 0.05f;
  float final_rate = 0.0f;      // cosine
  int64_t step_epochs = 10;     // step
  float gamma = 0.1f;           // step
  int64_t steps_per_epoch = 1;
  int64_t total_steps = 1;      // cosine
  int64_t warmup_steps = 0;

  absl::Status Validate() const;
  float At(int64_t step) const;
};

// "constant", "step", "cosine".
absl::StatusOr<ScheduleKind> ParseScheduleKind(const std::string& name);

// Owns the velocity (momentum) buffer, laid out as the network's parameters.
class SgdOptimizer {
 public:
  static absl::StatusOr<SgdOptimizer> Create(Backend& backend, int64_t parameter_count,
                                             float momentum, float weight_decay);

  // v = momentum v + (g + weight_decay p); p -= lr v, over all parameters at once.
  absl::Status Step(float* parameters, const float* gradients, float learning_rate);
  // The same, with the rate read from `learning_rate_source` (a float in the backend's
  // memory) when the step runs: for a step captured once and replayed (Backend::Capture).
  absl::Status StepWithRateFrom(float* parameters, const float* gradients,
                                const float* learning_rate_source);

  float* velocity() const { return velocity_.floats(); }
  int64_t parameter_count() const { return count_; }

 private:
  SgdOptimizer(Backend& backend, Buffer velocity, int64_t count, float momentum,
               float weight_decay)
      : backend_(&backend), velocity_(std::move(velocity)), count_(count),
        momentum_(momentum), weight_decay_(weight_decay) {}
  Backend* backend_;
  Buffer velocity_;
  int64_t count_;
  float momentum_;
  float weight_decay_;
};

}  // namespace fftrain::trainer

#endif  // FFTRAIN_TRAINER_OPTIMIZER_H_
