#include "fftconv/cuda/batched_map_transform.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "fftconv/cuda/batched_fft_kernels.h"
#include "fftconv/cuda/cuda_status.h"
#include "fftconv/cuda/nvtx_range.h"

namespace fftrain::fftconv {
namespace {

class BatchedMapTransform : public MapTransform {
 public:
  BatchedMapTransform(int64_t fft_h, int64_t fft_w, int64_t maps)
      : fft_h_(fft_h), fft_w_(fft_w), maps_(maps) {}

  const char* name() const override { return "batched"; }
  size_t WorkBytes() const override { return 0; }

  absl::Status Forward(const float* maps, const MapWindow& window, cufftComplex* spectrum,
                       const TransformScratch&, cudaStream_t stream) const override {
    NvtxRange range("fftconv.transform");
    FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchBatchedRealToHalfSpectrum(
        maps, maps_, window.rows, window.cols, window.top, window.left, fft_h_, fft_w_,
        reinterpret_cast<float2*>(spectrum), stream));
    return absl::OkStatus();
  }

  absl::Status InverseAndCrop(cufftComplex* spectrum, const MapWindow& window, float scale,
                              const float* bias, int64_t bias_period, float* out,
                              const TransformScratch&, cudaStream_t stream) const override {
    NvtxRange range("fftconv.inverse");
    FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchBatchedHalfSpectrumToReal(
        reinterpret_cast<const float2*>(spectrum), maps_, fft_h_, fft_w_, window.rows,
        window.cols, window.top, window.left, scale, bias, bias_period, out, stream));
    return absl::OkStatus();
  }

 private:
  int64_t fft_h_, fft_w_, maps_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MapTransform>> CreateBatchedMapTransform(int64_t fft_h,
                                                                        int64_t fft_w,
                                                                        int64_t maps) {
  if (!BatchedFftSupports(fft_h, fft_w)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the batched FFT kernels take powers of two up to ", kBatchedFftMaxSide,
        " per side; the transform is ", fft_h, "x", fft_w));
  }
  if (maps <= 0 || maps > (int64_t{1} << 40)) {
    return absl::InvalidArgumentError(absl::StrCat("batched FFT: bad map count ", maps));
  }
  FFTRAIN_CUDA_RETURN_IF_ERROR(PrepareBatchedFft(fft_h, fft_w));
  return std::make_unique<BatchedMapTransform>(fft_h, fft_w, maps);
}

}  // namespace fftrain::fftconv
