// The small kernels around the transforms: zero-padding maps into transform-sized
// buffers, cropping inverse transforms (scale and bias fused), and the bias gradient.
// Each launch is asynchronous on `stream` and returns the launch error.
#ifndef FFTRAIN_FFTCONV_CUDA_KERNELS_CONV_KERNELS_H_
#define FFTRAIN_FFTCONV_CUDA_KERNELS_CONV_KERNELS_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "fftconv/cuda/kernels/transform_params.h"

namespace fftrain::fftconv {

// out[m][r][q] (fft_h x fft_w) = in[m][r-top][q-left] inside the window at (top, left),
// else 0; in holds the batch's rows x cols maps one after another.
cudaError_t LaunchPadMaps(const float* in, const MapBatch& batch, float* out,
                          cudaStream_t stream);

// out[m][r][q] (rows x cols) = staging[m][top+r][left+q] * scale + bias[m % bias_period]
// for the batch's fft_h x fft_w staging maps and window; bias may be null.
cudaError_t LaunchCropMaps(const float* staging, const MapBatch& batch, float scale,
                           const float* bias, int64_t bias_period, float* out,
                           cudaStream_t stream);

// gb[k] = sum over n and the plane of gy[n][k], accumulated in double in a fixed order
// (deterministic).
cudaError_t LaunchBiasGradient(const float* gy, int64_t n, int64_t k, int64_t plane, float* gb,
                               cudaStream_t stream);

// gb[c] = sum over images i < n of Re(spectrum[(i * k + c) * map_stride]), the DC bins of
// n*k maps' spectra (map_stride 1 for bin-major spectra, the bin count for map-major).
// The DC bin of a map's unnormalised spectrum is the sum of its plane, so from dL/dy's
// spectrum this is the bias gradient at N*K reads instead of a second pass over dL/dy.
// Sums in double in a fixed order (deterministic).
cudaError_t LaunchBiasGradientFromDcBins(const float2* spectrum, int64_t map_stride, int64_t n,
                                         int64_t k, float* gb, cudaStream_t stream);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_KERNELS_CONV_KERNELS_H_
