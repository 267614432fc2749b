#include "fftconv/cuda/batched_map_transform.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/cuda/cuda_status.h"
#include "base/cuda/nvtx_range.h"
#include "base/status_macros.h"
#include "fftconv/cuda/kernels/batched_fft_kernels.h"
#include "fftconv/cuda/kernels/register_fft_kernels.h"

namespace fftrain::fftconv {

using ::fftrain::base::NvtxRange;

namespace {

// Where a shared-memory-pass block holds one map (128x64, 64x128; 128x128 before the
// register kernels took it) it would touch the bin-major spectra in isolated 8-byte
// words; it works map-major in scratch instead, a chunk of maps at a time, with a
// coalesced transpose to or from the bin-major layout; with two maps a block the direct
// layout is faster (docs/profiling.md, "Design choices and their measurements").
constexpr int kMapsPerBlockForDirectLayout = 2;
constexpr int64_t kChunkBytes = int64_t{64} << 20;

class BatchedMapTransform : public MapTransform {
 public:
  BatchedMapTransform(int64_t fft_h, int64_t fft_w, int64_t maps, SpectrumOrder order)
      : fft_h_(fft_h),
        fft_w_(fft_w),
        maps_(maps),
        bins_(fft_h * (fft_w / 2 + 1)),
        order_(order),
        in_registers_(RegisterFftSupports(fft_h, fft_w)),
        chunk_(!in_registers_ && order == SpectrumOrder::kBinMajor &&
                       BatchedFftMapsPerBlock(fft_h, fft_w) < kMapsPerBlockForDirectLayout
                   ? std::min(maps, std::max<int64_t>(1, kChunkBytes / (8 * bins_)))
                   : 0) {}

  const char* name() const override { return "batched"; }
  size_t WorkBytes() const override { return static_cast<size_t>(chunk_ * bins_) * 8; }

  absl::Status Forward(const float* maps, const MapWindow& window, cufftComplex* spectrum,
                       const TransformScratch& scratch, cudaStream_t stream) const override {
    NvtxRange range("fftconv.transform");
    RealToHalfSpectrumParams params;
    params.maps_in = maps;
    params.batch = {maps_, fft_h_, fft_w_, window};
    params.order = order_;
    params.spectrum = reinterpret_cast<float2*>(spectrum);
    if (in_registers_) {
      FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchRegisterRealToHalfSpectrum(params, stream));
      return absl::OkStatus();
    }
    if (chunk_ == 0) {
      FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchBatchedRealToHalfSpectrum(params, stream));
      return absl::OkStatus();
    }
    float2* work = static_cast<float2*>(scratch.work);
    RealToHalfSpectrumParams chunk = params;
    chunk.order = SpectrumOrder::kMapMajor;
    chunk.spectrum = work;
    for (int64_t first = 0; first < maps_; first += chunk_) {
      const int64_t count = std::min(chunk_, maps_ - first);
      chunk.maps_in = maps + first * window.rows * window.cols;
      chunk.batch.maps = count;
      FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchBatchedRealToHalfSpectrum(chunk, stream));
      // work[map][bin] -> spectrum[bin][first + map]
      FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchTransposeSpectra(work, count, bins_, bins_, maps_,
                                                          params.spectrum + first, stream));
    }
    return absl::OkStatus();
  }

  absl::Status InverseAndCrop(cufftComplex* spectrum, const MapWindow& window, float scale,
                              const float* bias, int64_t bias_period, float* out,
                              const TransformScratch& scratch,
                              cudaStream_t stream) const override {
    NvtxRange range("fftconv.inverse");
    HalfSpectrumToRealParams params;
    params.spectrum = reinterpret_cast<const float2*>(spectrum);
    params.order = order_;
    params.batch = {maps_, fft_h_, fft_w_, window};
    params.scale = scale;
    params.bias = {bias, bias_period, 0};
    params.maps_out = out;
    if (in_registers_) {
      FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchRegisterHalfSpectrumToReal(params, stream));
      return absl::OkStatus();
    }
    if (chunk_ == 0) {
      FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchBatchedHalfSpectrumToReal(params, stream));
      return absl::OkStatus();
    }
    float2* work = static_cast<float2*>(scratch.work);
    HalfSpectrumToRealParams chunk = params;
    chunk.order = SpectrumOrder::kMapMajor;
    chunk.spectrum = work;
    for (int64_t first = 0; first < maps_; first += chunk_) {
      const int64_t count = std::min(chunk_, maps_ - first);
      // spectrum[bin][first + map] -> work[map][bin]
      FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchTransposeSpectra(params.spectrum + first, bins_, count,
                                                          maps_, bins_, work, stream));
      chunk.batch.maps = count;
      chunk.bias.phase = first % bias_period;
      chunk.maps_out = out + first * window.rows * window.cols;
      FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchBatchedHalfSpectrumToReal(chunk, stream));
    }
    return absl::OkStatus();
  }

 private:
  int64_t fft_h_, fft_w_, maps_, bins_;
  SpectrumOrder order_;
  // The square sides of kRegisterFftSides run the register-resident kernels
  // (register_fft_kernels.h), which measure faster at the powers of two; the shared-memory
  // passes take the other powers of two. The plan's
  // windows always lie inside the transform (it is at least the padded input).
  bool in_registers_;
  int64_t chunk_;  // maps per map-major chunk of a bin-major batch; 0: none
};

}  // namespace

bool BatchedTransformSupports(int64_t fft_h, int64_t fft_w) {
  return RegisterFftSupports(fft_h, fft_w) || BatchedFftSupports(fft_h, fft_w);
}

absl::StatusOr<std::unique_ptr<MapTransform>> CreateBatchedMapTransform(
    int64_t fft_h, int64_t fft_w, int64_t maps, SpectrumOrder order) {
  if (!BatchedTransformSupports(fft_h, fft_w)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the batched FFT kernels take powers of two up to ", kBatchedFftMaxSide,
        " per side and the square sides ", absl::StrJoin(kRegisterFftSides, ", "),
        "; the transform is ", fft_h, "x", fft_w));
  }
  if (maps <= 0 || maps > (int64_t{1} << 40)) {
    return absl::InvalidArgumentError(absl::StrCat("batched FFT: bad map count ", maps));
  }
  if (RegisterFftSupports(fft_h, fft_w)) {
    FFTRAIN_CUDA_RETURN_IF_ERROR(PrepareRegisterFft());
  } else {
    FFTRAIN_CUDA_RETURN_IF_ERROR(PrepareBatchedFft(fft_h, fft_w));
  }
  return std::make_unique<BatchedMapTransform>(fft_h, fft_w, maps, order);
}

}  // namespace fftrain::fftconv
