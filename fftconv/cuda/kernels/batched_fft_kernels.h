// Batched 2-D FFT kernels for power-of-two transform sizes, parallel over maps inside one
// launch (the paper's custom FFT), with the passes around the transform fused in:
//   forward: reads maps in the framework's layout with implicit zero padding, writes
//            bin-major half spectra ([bin][map]) for the per-frequency products;
//   inverse: reads bin-major half spectra, writes the cropped window of each map, scaled,
//            plus bias.
// Each block holds several maps in shared memory and runs radix-2 passes over all their
// rows, then all their columns (only the fft_w/2+1 columns the half spectrum needs).
#ifndef FFTRAIN_FFTCONV_CUDA_KERNELS_BATCHED_FFT_KERNELS_H_
#define FFTRAIN_FFTCONV_CUDA_KERNELS_BATCHED_FFT_KERNELS_H_

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "fftconv/cuda/kernels/transform_params.h"

namespace fftrain::fftconv {

// Largest transform side the kernels take (one 128x128 map fills 130 KB of shared memory).
inline constexpr int64_t kBatchedFftMaxSide = 128;

// True for fft_h and fft_w powers of two in [1, kBatchedFftMaxSide].
bool BatchedFftSupports(int64_t fft_h, int64_t fft_w);

// Raises the kernels' dynamic shared-memory limit (a host-side attribute of the kernels,
// set to what the largest size needs) on the current device; call before launching.
cudaError_t PrepareBatchedFft(int64_t fft_h, int64_t fft_w);

// Maps a block holds: where it is small (large transforms), bin-major accesses of one
// block touch isolated 8-byte words, and the map-major layout plus a transpose is faster.
int BatchedFftMapsPerBlock(int64_t fft_h, int64_t fft_w);

// The transforms of transform_params.h for BatchedFftSupports sizes: the spectrum's order
// as params.order says. cudaErrorInvalidValue for other sizes or no maps.
cudaError_t LaunchBatchedRealToHalfSpectrum(const RealToHalfSpectrumParams& params,
                                            cudaStream_t stream);

cudaError_t LaunchBatchedHalfSpectrumToReal(const HalfSpectrumToRealParams& params,
                                            cudaStream_t stream);

// out[c * ld_out + r] = in[r * ld_in + c] for r < rows, c < cols (complex): a transpose
// of a strided sub-matrix, coalesced both ways.
cudaError_t LaunchTransposeSpectra(const float2* in, int64_t rows, int64_t cols, int64_t ld_in,
                                   int64_t ld_out, float2* out, cudaStream_t stream);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_KERNELS_BATCHED_FFT_KERNELS_H_
