// MapTransform on cuFFT: a padding kernel, then a batched R2C plan whose advanced layout
// writes the spectra in either order directly; a batched C2R plan, then a cropping kernel that
// scales and adds bias. cuFFT's work area comes from the caller (no auto-allocation).
#ifndef FFTRAIN_FFTCONV_CUDA_CUFFT_MAP_TRANSFORM_H_
#define FFTRAIN_FFTCONV_CUDA_CUFFT_MAP_TRANSFORM_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "fftconv/cuda/map_transform.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

absl::StatusOr<std::unique_ptr<MapTransform>> CreateCufftMapTransform(
    int64_t fft_h, int64_t fft_w, int64_t maps, SpectrumOrder order);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_CUFFT_MAP_TRANSFORM_H_
