// The 128 x 128 member of the register-resident FFT kernels (register_fft_kernels.h, which
// documents the arguments and validates them before calling these). A 128-point line does
// not fit one thread's registers, so two neighbouring threads share it: each transforms
// one parity of the samples (64 points, in registers), and they combine the halves with a
// radix-2 step through warp shuffles. Internal.
#ifndef FFTRAIN_FFTCONV_CUDA_KERNELS_REGISTER_FFT128_KERNELS_H_
#define FFTRAIN_FFTCONV_CUDA_KERNELS_REGISTER_FFT128_KERNELS_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "fftconv/cuda/kernels/transform_params.h"

namespace fftrain::fftconv {

cudaError_t PrepareRegisterFft128();

// fft_h = fft_w = 128, arguments already validated by the launchers of
// register_fft_kernels.h.
cudaError_t LaunchRegisterFft128Forward(const RealToHalfSpectrumParams& params,
                                        cudaStream_t stream);

cudaError_t LaunchRegisterFft128Inverse(const HalfSpectrumToRealParams& params,
                                        cudaStream_t stream);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_KERNELS_REGISTER_FFT128_KERNELS_H_
