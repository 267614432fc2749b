#include "fftconv/cuda/cufft_map_transform.h"

#include <algorithm>
#include <utility>

#include "base/cuda/cuda_resources.h"
#include "base/cuda/cuda_status.h"
#include "base/cuda/cufft_status.h"
#include "base/cuda/nvtx_range.h"
#include "base/status_macros.h"
#include "fftconv/cuda/kernels/conv_kernels.h"

namespace fftrain::fftconv {

using ::fftrain::base::CufftPlan;
using ::fftrain::base::NvtxRange;

namespace {

enum class Direction { kRealToComplex, kComplexToReal };

// `maps` fft_h x fft_w real transforms between [map][rows][cols] real maps and half
// spectra in `order`: for bin-major the advanced layout puts the transpose into cuFFT's
// output.
absl::StatusOr<CufftPlan> MakeBatchPlan(Direction direction, int64_t fft_h, int64_t fft_w,
                                        int64_t maps, SpectrumOrder order, size_t* work_bytes) {
  FFTRAIN_ASSIGN_OR_RETURN(CufftPlan plan, CufftPlan::Create());
  FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftSetAutoAllocation(plan.get(), 0));
  long long n[2] = {fft_h, fft_w};
  long long real_embed[2] = {fft_h, fft_w};
  long long half_embed[2] = {fft_h, fft_w / 2 + 1};
  const long long real_dist = fft_h * fft_w;
  const bool map_major = order == SpectrumOrder::kMapMajor;
  const long long half_stride = map_major ? 1 : maps;
  const long long half_dist = map_major ? fft_h * (fft_w / 2 + 1) : 1;
  if (direction == Direction::kRealToComplex) {
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftMakePlanMany64(
        plan.get(), 2, n, real_embed, /*istride=*/1, real_dist, half_embed,
        half_stride, half_dist, CUFFT_R2C, maps, work_bytes));
  } else {
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftMakePlanMany64(
        plan.get(), 2, n, half_embed, half_stride, half_dist, real_embed,
        /*ostride=*/1, real_dist, CUFFT_C2R, maps, work_bytes));
  }
  return plan;
}

class CufftMapTransform : public MapTransform {
 public:
  CufftMapTransform(int64_t fft_h, int64_t fft_w, int64_t maps, CufftPlan forward,
                    CufftPlan inverse, size_t work_bytes)
      : fft_h_(fft_h),
        fft_w_(fft_w),
        maps_(maps),
        forward_(std::move(forward)),
        inverse_(std::move(inverse)),
        work_bytes_(work_bytes) {}

  const char* name() const override { return "cufft"; }
  size_t WorkBytes() const override { return work_bytes_; }

  absl::Status Forward(const float* maps, const MapWindow& window, cufftComplex* spectrum,
                       const TransformScratch& scratch, cudaStream_t stream) const override {
    NvtxRange range("fftconv.transform");
    FFTRAIN_CUDA_RETURN_IF_ERROR(
        LaunchPadMaps(maps, {maps_, fft_h_, fft_w_, window}, scratch.staging, stream));
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftSetStream(forward_.get(), stream));
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftSetWorkArea(forward_.get(), scratch.work));
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftExecR2C(forward_.get(), scratch.staging, spectrum));
    return absl::OkStatus();
  }

  absl::Status InverseAndCrop(cufftComplex* spectrum, const MapWindow& window, float scale,
                              const float* bias, int64_t bias_period, float* out,
                              const TransformScratch& scratch,
                              cudaStream_t stream) const override {
    NvtxRange range("fftconv.inverse");
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftSetStream(inverse_.get(), stream));
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftSetWorkArea(inverse_.get(), scratch.work));
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftExecC2R(inverse_.get(), spectrum, scratch.staging));
    FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchCropMaps(
        scratch.staging, {maps_, fft_h_, fft_w_, window}, scale, bias, bias_period, out, stream));
    return absl::OkStatus();
  }

 private:
  int64_t fft_h_, fft_w_, maps_;
  CufftPlan forward_, inverse_;
  size_t work_bytes_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MapTransform>> CreateCufftMapTransform(
    int64_t fft_h, int64_t fft_w, int64_t maps, SpectrumOrder order) {
  size_t forward_work = 0, inverse_work = 0;
  FFTRAIN_ASSIGN_OR_RETURN(
      CufftPlan forward, MakeBatchPlan(Direction::kRealToComplex, fft_h, fft_w, maps, order, &forward_work));
  FFTRAIN_ASSIGN_OR_RETURN(
      CufftPlan inverse, MakeBatchPlan(Direction::kComplexToReal, fft_h, fft_w, maps, order, &inverse_work));
  return std::make_unique<CufftMapTransform>(fft_h, fft_w, maps, std::move(forward),
                                             std::move(inverse),
                                             std::max(forward_work, inverse_work));
}

}  // namespace fftrain::fftconv
