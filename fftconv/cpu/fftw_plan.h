// Move-only owner of an FFTW single-precision plan. FFTW's planner and plan destruction
// are not thread-safe, so both run under one process-wide lock; executing is thread-safe.
#ifndef FFTRAIN_FFTCONV_CPU_FFTW_PLAN_H_
#define FFTRAIN_FFTCONV_CPU_FFTW_PLAN_H_

#include <complex>
#include <cstdint>

#include "absl/status/statusor.h"

namespace fftrain::fftconv {

// A batch of 2-D real transforms of size rows x cols between real maps stored one after
// another ([map][rows][cols]) and half spectra stored bin-major ([bin][map]), which is
// the layout the per-frequency products read.
class FftwPlan {
 public:
  enum class Direction { kRealToComplex, kComplexToReal };

  static absl::StatusOr<FftwPlan> Create(Direction direction, int64_t rows, int64_t cols,
                                         int64_t maps);

  FftwPlan(FftwPlan&& other) noexcept;
  FftwPlan& operator=(FftwPlan&& other) noexcept;
  FftwPlan(const FftwPlan&) = delete;
  FftwPlan& operator=(const FftwPlan&) = delete;
  ~FftwPlan();

  // Both pointers must be aligned to 64 bytes (the plan was made for such arrays).
  void RealToComplex(float* real, std::complex<float>* spectrum) const;
  // Unnormalised; overwrites the spectrum (FFTW's complex-to-real destroys its input).
  void ComplexToReal(std::complex<float>* spectrum, float* real) const;

 private:
  FftwPlan(void* plan, Direction direction) : plan_(plan), direction_(direction) {}
  void Reset();

  void* plan_;  // fftwf_plan, kept opaque so this header needs no fftw3.h.
  Direction direction_;
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CPU_FFTW_PLAN_H_
