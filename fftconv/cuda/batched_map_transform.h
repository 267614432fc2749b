// MapTransform on our batched FFT kernels (batched_fft_kernels.h): padding, transposition
// and cropping fused into the transforms, no library work area.
#ifndef FFTRAIN_FFTCONV_CUDA_BATCHED_MAP_TRANSFORM_H_
#define FFTRAIN_FFTCONV_CUDA_BATCHED_MAP_TRANSFORM_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "fftconv/cuda/map_transform.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

// InvalidArgument unless BatchedFftSupports(fft_h, fft_w).
absl::StatusOr<std::unique_ptr<MapTransform>> CreateBatchedMapTransform(
    int64_t fft_h, int64_t fft_w, int64_t maps, SpectrumOrder order);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_BATCHED_MAP_TRANSFORM_H_
