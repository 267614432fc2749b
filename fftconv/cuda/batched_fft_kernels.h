// Batched 2-D FFT kernels for power-of-two transform sizes, parallel over maps inside one
// launch (the paper's custom FFT), with the passes around the transform fused in:
//   forward: reads maps in the framework's layout with implicit zero padding, writes
//            bin-major half spectra ([bin][map]) for the per-frequency products;
//   inverse: reads bin-major half spectra, writes the cropped window of each map, scaled,
//            plus bias.
// Each block holds several maps in shared memory and runs radix-2 passes over all their
// rows, then all their columns (only the fft_w/2+1 columns the half spectrum needs).
#ifndef FFTRAIN_FFTCONV_CUDA_BATCHED_FFT_KERNELS_H_
#define FFTRAIN_FFTCONV_CUDA_BATCHED_FFT_KERNELS_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace fftrain::fftconv {

// Largest transform side the kernels take (one 128x128 map fills 130 KB of shared memory).
inline constexpr int64_t kBatchedFftMaxSide = 128;

// True for fft_h and fft_w powers of two in [1, kBatchedFftMaxSide].
bool BatchedFftSupports(int64_t fft_h, int64_t fft_w);

// Raises the kernels' dynamic shared-memory limit for this size (host-side attribute; call
// once per size before launching).
cudaError_t PrepareBatchedFft(int64_t fft_h, int64_t fft_w);

cudaError_t LaunchBatchedRealToHalfSpectrum(const float* maps_in, int64_t maps, int64_t rows,
                                            int64_t cols, int64_t top, int64_t left,
                                            int64_t fft_h, int64_t fft_w, float2* spectrum,
                                            cudaStream_t stream);

cudaError_t LaunchBatchedHalfSpectrumToReal(const float2* spectrum, int64_t maps,
                                            int64_t fft_h, int64_t fft_w, int64_t rows,
                                            int64_t cols, int64_t top, int64_t left,
                                            float scale, const float* bias,
                                            int64_t bias_period, float* maps_out,
                                            cudaStream_t stream);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_BATCHED_FFT_KERNELS_H_
