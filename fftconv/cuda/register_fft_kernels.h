// Batched 2-D real FFTs held in registers, for square sides 8 to 128 (kRegisterFftSides):
// the powers of two, the even 7-smooth sides between them and 13. The
// faster of our two custom transform kernels where it applies (the other, with radix-4
// passes in shared memory, is batched_fft_kernels.h; both fuse the same padding,
// transposition, cropping, scaling and bias, and take the same arguments).
//
// How: every line of a transform is one thread's, computed entirely in registers by an
// unrolled FFT whose twiddles are compile-time constants (radix 2 for powers of two, mixed
// radices 4, 2, 3, 5 and 7 for the other sides). Two real rows travel as
// one complex row (z = x_p + i x_{p+N/2}) and are separated after the transform, and the
// two real columns of the half spectrum (bins 0 and N/2) likewise, so a map of side N is
// N/2 row transforms plus N/2 column transforms of N points, by N/2 threads (by N at 128,
// where two threads share a line: register_fft128_kernels.h). Shared memory
// only carries each map between the row and column steps and stages coalesced global
// accesses: two round trips per map where the shared-memory passes make 2 log4(N).
#ifndef FFTRAIN_FFTCONV_CUDA_REGISTER_FFT_KERNELS_H_
#define FFTRAIN_FFTCONV_CUDA_REGISTER_FFT_KERNELS_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "fftconv/spectrum_order.h"
#include "fftconv/transform_size.h"  // kRegisterFftSides, RegisterFftSideAtLeast

namespace fftrain::fftconv {

// True for fft_h == fft_w in kRegisterFftSides.
bool RegisterFftSupports(int64_t fft_h, int64_t fft_w);

// Raises the kernels' dynamic shared-memory limit on the current device; call once before
// launching (host-side attribute, no synchronisation).
cudaError_t PrepareRegisterFft();

// spectrum (bins = n x (n/2+1), row-major; [bin][map] or [map][bin] as `order` says) =
// DFT of each rows x cols map of maps_in, zero-padded to n x n with its corner at
// (top, left).
cudaError_t LaunchRegisterRealToHalfSpectrum(const float* maps_in, int64_t maps, int64_t rows,
                                             int64_t cols, int64_t top, int64_t left,
                                             int64_t n, SpectrumOrder order, float2* spectrum,
                                             cudaStream_t stream);

// maps_out = the rows x cols window at (top, left) of each map's inverse DFT (no 1/n^2)
// times scale, plus bias[(bias_phase + map) % bias_period] where bias is not null.
cudaError_t LaunchRegisterHalfSpectrumToReal(const float2* spectrum, SpectrumOrder order,
                                             int64_t maps, int64_t n, int64_t rows,
                                             int64_t cols, int64_t top, int64_t left,
                                             float scale, const float* bias,
                                             int64_t bias_period, int64_t bias_phase,
                                             float* maps_out, cudaStream_t stream);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_REGISTER_FFT_KERNELS_H_
