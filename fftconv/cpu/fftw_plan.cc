#include "fftconv/cpu/fftw_plan.h"

#include <fftw3.h>

#include <cstdlib>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace fftrain::fftconv {
namespace {

absl::Mutex& PlannerMutex() {
  static absl::Mutex* mutex = new absl::Mutex;
  return *mutex;
}

}  // namespace

absl::StatusOr<FftwPlan> FftwPlan::Create(Direction direction, int64_t rows, int64_t cols,
                                          int64_t maps) {
  if (rows <= 0 || cols <= 0 || maps <= 0 || rows > (1 << 30) || cols > (1 << 30) ||
      maps > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(absl::StrCat("FftwPlan: unsupported batch of ", maps,
                                                   " transforms of ", rows, "x", cols));
  }
  const int n[2] = {static_cast<int>(rows), static_cast<int>(cols)};
  const int half[2] = {static_cast<int>(rows), static_cast<int>(cols / 2 + 1)};
  const int batch = static_cast<int>(maps);
  // FFTW_ESTIMATE never reads or writes the arrays while planning; it records only their
  // alignment. Two small 64-byte-aligned arrays stand for the real ones, so planning
  // costs no memory however large the batch; callers pass arrays aligned alike.
  void* real = std::aligned_alloc(64, 64);
  void* spectrum = std::aligned_alloc(64, 64);
  fftwf_plan plan = nullptr;
  {
    absl::MutexLock lock(&PlannerMutex());
    if (direction == Direction::kRealToComplex) {
      plan = fftwf_plan_many_dft_r2c(2, n, batch, static_cast<float*>(real), nullptr,
                                     /*istride=*/1, /*idist=*/n[0] * n[1],
                                     static_cast<fftwf_complex*>(spectrum), half,
                                     /*ostride=*/batch, /*odist=*/1, FFTW_ESTIMATE);
    } else {
      plan = fftwf_plan_many_dft_c2r(2, n, batch, static_cast<fftwf_complex*>(spectrum), half,
                                     /*istride=*/batch, /*idist=*/1, static_cast<float*>(real),
                                     nullptr, /*ostride=*/1, /*odist=*/n[0] * n[1],
                                     FFTW_ESTIMATE);
    }
  }
  std::free(real);
  std::free(spectrum);
  if (plan == nullptr) {
    return absl::InternalError(absl::StrCat("fftwf_plan_many_dft failed for ", maps,
                                            " transforms of ", rows, "x", cols));
  }
  return FftwPlan(plan, direction);
}

FftwPlan::FftwPlan(FftwPlan&& other) noexcept
    : plan_(std::exchange(other.plan_, nullptr)), direction_(other.direction_) {}

FftwPlan& FftwPlan::operator=(FftwPlan&& other) noexcept {
  if (this != &other) {
    Reset();
    plan_ = std::exchange(other.plan_, nullptr);
    direction_ = other.direction_;
  }
  return *this;
}

FftwPlan::~FftwPlan() { Reset(); }

void FftwPlan::Reset() {
  if (plan_ == nullptr) return;
  absl::MutexLock lock(&PlannerMutex());
  fftwf_destroy_plan(static_cast<fftwf_plan>(plan_));
  plan_ = nullptr;
}

void FftwPlan::RealToComplex(float* real, std::complex<float>* spectrum) const {
  fftwf_execute_dft_r2c(static_cast<fftwf_plan>(plan_), real,
                        reinterpret_cast<fftwf_complex*>(spectrum));
}

void FftwPlan::ComplexToReal(std::complex<float>* spectrum, float* real) const {
  fftwf_execute_dft_c2r(static_cast<fftwf_plan>(plan_),
                        reinterpret_cast<fftwf_complex*>(spectrum), real);
}

}  // namespace fftrain::fftconv
