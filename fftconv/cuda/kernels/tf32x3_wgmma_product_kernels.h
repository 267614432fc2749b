// The tf32x3 complex products (tf32x3_product_kernels.h: the same split, Gauss's form,
// accuracy and arguments) on Hopper's warpgroup tensor-core instructions (wgmma,
// sm_90a), which read B from shared memory themselves: the block splits B once as it
// stages it, and each warp splits only its own rows of A, where the mma.sync kernel has
// every warp load and split both operands' fragments for itself.
//
// Needs a compute capability 9.0 device and a build with sm_90a code (the
// cuda_library's `arch_specific`); elsewhere the launch returns cudaErrorNotSupported.
#ifndef FFTRAIN_FFTCONV_CUDA_KERNELS_TF32X3_WGMMA_PRODUCT_KERNELS_H_
#define FFTRAIN_FFTCONV_CUDA_KERNELS_TF32X3_WGMMA_PRODUCT_KERNELS_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "fftconv/cuda/kernels/tf32x3_product_kernels.h"

namespace fftrain::fftconv {

// Whether the current device runs the wgmma kernel (compute capability 9.0); false where
// there is no device.
bool CurrentDeviceRunsTf32x3Wgmma();

// The operands' leading dimensions must stay below this (the kernel's tile offsets are 32-bit).
inline constexpr int64_t kMaxLeadingDimension = int64_t{1} << 24;

// As LaunchTf32x3ComplexProduct, on the current device; also cudaErrorInvalidValue for an
// operand's leading dimension of kMaxLeadingDimension or more.
cudaError_t LaunchTf32x3WgmmaComplexProduct(const ComplexProductDims& dims,
                                            const ComplexMatrices& a, const ComplexMatrices& b,
                                            float2* c, int64_t ldc, int64_t stride_c,
                                            cudaStream_t stream);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_KERNELS_TF32X3_WGMMA_PRODUCT_KERNELS_H_
