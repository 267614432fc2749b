// The launch arguments of the transform kernels as structs, the way TileDims and
// ComplexProductDims are: both custom transform families (register_fft_kernels.h,
// batched_fft_kernels.h) take the same two, one a direction, and the padding and cropping
// around cuFFT (conv_kernels.h) take their MapBatch. Plain structs that .cu files take
// by reference; no Abseil.
#ifndef FFTRAIN_FFTCONV_CUDA_KERNELS_TRANSFORM_PARAMS_H_
#define FFTRAIN_FFTCONV_CUDA_KERNELS_TRANSFORM_PARAMS_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "fftconv/spectrum_order.h"

namespace fftrain::fftconv {

// The rows x cols window of each fft_h x fft_w map that holds data, at (top, left).
struct MapWindow {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t top = 0;
  int64_t left = 0;
};

// `maps` maps of fft_h x fft_w, each holding data in `window`; the real maps outside the
// transform are stored window by window (rows x cols each, one after another).
struct MapBatch {
  int64_t maps = 0;
  int64_t fft_h = 0;
  int64_t fft_w = 0;
  MapWindow window;
};

// What an inverse adds to map m after scaling: bias[(phase + m) % period]; nothing where
// `values` is null. The phase lets a chunk of a batch continue the batch's pattern.
struct MapBias {
  const float* values = nullptr;
  int64_t period = 1;
  int64_t phase = 0;
};

// spectrum (fft_h x (fft_w/2+1) bins a map, [bin][map] or [map][bin] as `order` says) =
// the DFT of each real map of maps_in, zero-padded to fft_h x fft_w with the window's
// corner at (top, left).
struct RealToHalfSpectrumParams {
  const float* maps_in = nullptr;
  MapBatch batch;
  SpectrumOrder order = SpectrumOrder::kBinMajor;
  float2* spectrum = nullptr;
};

// maps_out = the window of each map's inverse DFT (unnormalised: no 1/(fft_h fft_w))
// times scale, plus the bias.
struct HalfSpectrumToRealParams {
  const float2* spectrum = nullptr;
  SpectrumOrder order = SpectrumOrder::kBinMajor;
  MapBatch batch;
  float scale = 1.0f;
  MapBias bias;
  float* maps_out = nullptr;
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_KERNELS_TRANSFORM_PARAMS_H_
