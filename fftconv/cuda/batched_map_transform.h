// MapTransform on our batched FFT kernels: the register-resident ones
// (register_fft_kernels.h) for the square sides they take, the shared-memory passes
// (batched_fft_kernels.h) for the other powers of two. Padding, transposition and
// cropping are fused into the transforms; no library work area.
#ifndef FFTRAIN_FFTCONV_CUDA_BATCHED_MAP_TRANSFORM_H_
#define FFTRAIN_FFTCONV_CUDA_BATCHED_MAP_TRANSFORM_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "fftconv/cuda/map_transform.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

// True where one of the two kernel families takes fft_h x fft_w: powers of two up to 128
// per side, and the square sides in kRegisterFftSides.
bool BatchedTransformSupports(int64_t fft_h, int64_t fft_w);

// InvalidArgument unless BatchedTransformSupports(fft_h, fft_w).
absl::StatusOr<std::unique_ptr<MapTransform>> CreateBatchedMapTransform(
    int64_t fft_h, int64_t fft_w, int64_t maps, SpectrumOrder order);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_BATCHED_MAP_TRANSFORM_H_
