// Direct convolution kernels with double accumulation: the GPU reference.
#ifndef FFTRAIN_FFTCONV_CUDA_KERNELS_REFERENCE_CONV_KERNELS_H_
#define FFTRAIN_FFTCONV_CUDA_KERNELS_REFERENCE_CONV_KERNELS_H_

#include <cuda_runtime.h>

#include "fftconv/cuda/kernels/conv_dims.h"

namespace fftrain::fftconv {

cudaError_t LaunchReferenceForward(const ConvDims& d, const float* x, const float* w,
                                   const float* bias, float* y, cudaStream_t stream);

cudaError_t LaunchReferenceBackwardData(const ConvDims& d, const float* gy, const float* w,
                                        float* gx, cudaStream_t stream);

// The sum over images is split `splits` ways into partial[splits][K*C*kh*kw] doubles,
// then added in a fixed order, so the result is deterministic.
cudaError_t LaunchReferenceBackwardFilter(const ConvDims& d, const float* x, const float* gy,
                                          int splits, double* partial, float* gw,
                                          cudaStream_t stream);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_KERNELS_REFERENCE_CONV_KERNELS_H_
