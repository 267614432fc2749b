// The 128 x 128 member of the register-resident FFT kernels (register_fft_kernels.h, which
// documents the arguments and validates them before calling these). A 128-point line does
// not fit one thread's registers, so two neighbouring threads share it: each transforms
// one parity of the samples (64 points, in registers), and they combine the halves with a
// radix-2 step through warp shuffles. Internal.
#ifndef FFTRAIN_FFTCONV_CUDA_REGISTER_FFT128_KERNELS_H_
#define FFTRAIN_FFTCONV_CUDA_REGISTER_FFT128_KERNELS_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "fftconv/spectrum_order.h"

namespace fftrain::fftconv {

cudaError_t PrepareRegisterFft128();

cudaError_t LaunchRegisterFft128Forward(SpectrumOrder order, const float* maps_in, int64_t maps, int rows, int cols,
                                        int top, int left, float2* spectrum,
                                        cudaStream_t stream);

cudaError_t LaunchRegisterFft128Inverse(SpectrumOrder order, const float2* spectrum, int64_t maps, int rows,
                                        int cols, int top, int left, float scale,
                                        const float* bias, int64_t bias_period,
                                        int64_t bias_phase, float* maps_out,
                                        cudaStream_t stream);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_REGISTER_FFT128_KERNELS_H_
