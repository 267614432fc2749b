// Per-frequency complex products on tensor cores at fp32 accuracy. Each fp32 operand is
// split in registers into two numbers, x = big + small (big = x rounded to TF32, small =
// the rest, of which the tensor cores read the top bits), and a product is
// big*big + big*small + small*big: three TF32 tensor-core multiplies (mma.sync m16n8k8)
// that carry about 21 bits, where one TF32 multiply carries 11: fp32 accuracy, like
// CGEMM's (the measured errors: docs/fftconv.md). The dropped small*small term is below
// that. A complex product is Gauss's three real ones, on
// (re, im, re + im): 9 tensor-core multiplies per complex multiply-add. Operands are
// read once into shared memory as interleaved complex and split from there, so a product
// reads its operands as often as CGEMM does.
//
// Batched over frequency bins: C_b = op(A_b) op(B_b) for b < batch, every matrix
// row-major in our terms (cuBLAS's transposes do not enter). Launches are asynchronous
// on `stream` and return the launch error; cudaErrorInvalidValue for sizes that are not
// positive, do not fit the kernel's 32-bit tile indices, or leading dimensions smaller
// than the rows they hold.
#ifndef FFTRAIN_FFTCONV_CUDA_KERNELS_TF32X3_PRODUCT_KERNELS_H_
#define FFTRAIN_FFTCONV_CUDA_KERNELS_TF32X3_PRODUCT_KERNELS_H_

#include <cuda_runtime.h>

#include <cstdint>

namespace fftrain::fftconv {

// One batch of complex matrices, batch_stride elements apart. op(M) is M itself, or with
// `transposed` its transpose; with `conjugated`, its elements' conjugates.
struct ComplexMatrices {
  const float2* data = nullptr;
  int64_t ld = 0;  // elements between rows as stored
  int64_t batch_stride = 0;
  bool transposed = false;
  bool conjugated = false;
};

struct ComplexProductDims {
  int64_t m = 0, n = 0, k = 0, batch = 0;  // op(A) is m x k, op(B) k x n, C m x n
};

// C_b[i][j] = sum_l op(A_b)[i][l] op(B_b)[l][j]; C row-major with ldc, stride_c apart.
cudaError_t LaunchTf32x3ComplexProduct(const ComplexProductDims& dims, const ComplexMatrices& a,
                                       const ComplexMatrices& b, float2* c, int64_t ldc,
                                       int64_t stride_c, cudaStream_t stream);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_KERNELS_TF32X3_PRODUCT_KERNELS_H_
