// Batched 2-D real FFTs held in registers, for square sides 8 to 128 (kRegisterFftSides):
// the powers of two, the even 7-smooth sides between them and 13. The
// faster of our two custom transform kernels where it applies (the other, with radix-4
// passes in shared memory, is batched_fft_kernels.h; both fuse the same padding,
// transposition, cropping, scaling and bias, and take the same arguments:
// transform_params.h).
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
#ifndef FFTRAIN_FFTCONV_CUDA_KERNELS_REGISTER_FFT_KERNELS_H_
#define FFTRAIN_FFTCONV_CUDA_KERNELS_REGISTER_FFT_KERNELS_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "fftconv/cuda/kernels/transform_params.h"
#include "fftconv/transform_size.h"  // kRegisterFftSides, RegisterFftSideAtLeast

namespace fftrain::fftconv {

// True for fft_h == fft_w in kRegisterFftSides.
bool RegisterFftSupports(int64_t fft_h, int64_t fft_w);

// Raises the kernels' dynamic shared-memory limit on the current device; call once before
// launching (host-side attribute, no synchronisation).
cudaError_t PrepareRegisterFft();

// The transforms of transform_params.h for fft_h == fft_w == n in kRegisterFftSides.
// cudaErrorInvalidValue for other sizes, no maps, a window that is empty or not inside
// the n x n map, or a bias with a period below 1.
cudaError_t LaunchRegisterRealToHalfSpectrum(const RealToHalfSpectrumParams& params,
                                             cudaStream_t stream);

cudaError_t LaunchRegisterHalfSpectrumToReal(const HalfSpectrumToRealParams& params,
                                             cudaStream_t stream);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_KERNELS_REGISTER_FFT_KERNELS_H_
