#include "trainer/optimizer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fftrain::trainer {

absl::Status LearningRateSchedule::Validate() const {
  if (!(base > 0) || !std::isfinite(base)) {
    return absl::InvalidArgumentError(absl::StrCat("learning rate must be positive, got ", base));
  }
  if (!(final_rate >= 0 && final_rate <= base)) {  // NaN fails too
    return absl::InvalidArgumentError(
        absl::StrCat("final learning rate must be in [0, ", base, "], got ", final_rate));
  }
  if (kind == ScheduleKind::kStep && (step_epochs <= 0 || !(gamma > 0) || gamma > 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "step schedule needs step epochs > 0 and 0 < gamma <= 1, got ", step_epochs, " and ",
        gamma));
  }
  if (steps_per_epoch <= 0 || total_steps <= 0 || warmup_steps < 0) {
    return absl::InvalidArgumentError("schedule: step counts must be positive");
  }
  return absl::OkStatus();
}

float LearningRateSchedule::At(int64_t step) const {
  double rate = base;
  switch (kind) {
    case ScheduleKind::kConstant:
      break;
    case ScheduleKind::kStep:
      rate = base * std::pow(static_cast<double>(gamma),
                             static_cast<double>((step / steps_per_epoch) / step_epochs));
      break;
    case ScheduleKind::kCosine: {
      const double progress =
          std::min(1.0, static_cast<double>(step) / static_cast<double>(total_steps));
      rate = final_rate + (base - final_rate) * 0.5 * (1.0 + std::cos(M_PI * progress));
      break;
    }
  }
  if (step < warmup_steps) {
    const double from = base / 10.0;
    rate = std::min(rate, from + (base - from) * static_cast<double>(step) / warmup_steps);
  }
  return static_cast<float>(rate);
}

absl::StatusOr<ScheduleKind> ParseScheduleKind(const std::string& name) {
  if (name == "constant") return ScheduleKind::kConstant;
  if (name == "step") return ScheduleKind::kStep;
  if (name == "cosine") return ScheduleKind::kCosine;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown learning-rate schedule '", name, "'; expected constant, step or cosine"));
}

absl::StatusOr<SgdOptimizer> SgdOptimizer::Create(Backend& backend, int64_t parameter_count,
                                                  float momentum, float weight_decay) {
  if (!(momentum >= 0 && momentum < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("momentum must be in [0, 1), got ", momentum));
  }
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay)) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight decay must be >= 0, got ", weight_decay));
  }
  FFTRAIN_ASSIGN_OR_RETURN(Buffer velocity,
                           backend.Allocate(sizeof(float) * parameter_count));
  FFTRAIN_RETURN_IF_ERROR(backend.Fill(velocity.floats(), 0.0f, parameter_count));
  return SgdOptimizer(backend, std::move(velocity), parameter_count, momentum, weight_decay);
}

absl::Status SgdOptimizer::Step(float* parameters, const float* gradients,
                                float learning_rate) {
  return backend_->SgdMomentumStep(parameters, gradients, velocity_.floats(), count_,
                                   {learning_rate, momentum_, weight_decay_});
}

absl::Status SgdOptimizer::StepWithRateFrom(float* parameters, const float* gradients,
                                            const float* learning_rate_source) {
  if (learning_rate_source == nullptr) {
    return absl::InvalidArgumentError("StepWithRateFrom: no learning-rate source");
  }
  return backend_->SgdMomentumStep(parameters, gradients, velocity_.floats(), count_,
                                   {0.0f, momentum_, weight_decay_, learning_rate_source});
}

}  // namespace fftrain::trainer
