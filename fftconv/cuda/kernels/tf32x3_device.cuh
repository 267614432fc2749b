// Pieces the two tf32x3 product kernels share (tf32x3_product_kernels.cu, mma.sync;
// tf32x3_wgmma_product_kernels.cu, Hopper's wgmma): asynchronous operand-tile copies, the
// split of an fp32 number into two TF32 ones, and the launchers' argument checks. Internal.
#ifndef FFTRAIN_FFTCONV_CUDA_KERNELS_TF32X3_DEVICE_CUH_
#define FFTRAIN_FFTCONV_CUDA_KERNELS_TF32X3_DEVICE_CUH_

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "fftconv/cuda/kernels/tf32x3_product_kernels.h"

namespace fftrain::fftconv {

// The product's sizes as the kernels index them (the launchers' checks keep them in int).
struct KernelDims {
  int m, n, k;
  int64_t batch;
};

inline KernelDims ToKernelDims(const ComplexProductDims& dims) {
  return {static_cast<int>(dims.m), static_cast<int>(dims.n), static_cast<int>(dims.k),
          dims.batch};
}

// Launches a product kernel over C's kTileM x kTileN tiles and the batch (grid z, at most
// 65535: blocks loop over the rest). Above 48 KiB of shared memory a kernel must opt in:
// once per kernel (a thread-safe static of this instantiation).
template <auto kKernel, int kTileM, int kTileN, int kThreads, int kSharedBytes>
cudaError_t LaunchProductKernel(const KernelDims& d, const ComplexMatrices& a,
                                const ComplexMatrices& b, float2* c, int64_t ldc,
                                int64_t stride_c, cudaStream_t stream) {
  static const cudaError_t opt_in =
      cudaFuncSetAttribute(kKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSharedBytes);
  if (opt_in != cudaSuccess) return opt_in;
  const int64_t max_grid_z = 65535;
  const dim3 grid((d.n + kTileN - 1) / kTileN, (d.m + kTileM - 1) / kTileM,
                  static_cast<unsigned>(d.batch < max_grid_z ? d.batch : max_grid_z));
  kKernel<<<grid, kThreads, kSharedBytes, stream>>>(d, a, b, c, ldc, stride_c);
  return cudaGetLastError();
}

// C[row][col] from Gauss's three real products, where it is inside C.
__device__ __forceinline__ void StoreGaussProduct(const KernelDims& d, float2* c, int64_t ldc,
                                                  int row, int col, float re_re, float im_im,
                                                  float sum_sum) {
  if (row < d.m && col < d.n) {
    c[row * ldc + col] = make_float2(re_re - im_im, sum_sum - re_re - im_im);
  }
}

// kVec complex elements (8 or 16 bytes) from global to shared memory, asynchronously.
template <int kVec>
__device__ __forceinline__ void CopyAsync(float2* shared, const float2* global, bool in_bounds) {
  const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(shared));
  // A source size of 0 zero-fills: the tile's edges past the matrix add nothing.
  const int source_bytes = in_bounds ? 8 * kVec : 0;
  if constexpr (kVec == 2) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(address),
                 "l"(global), "r"(source_bytes));
  } else {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;\n" ::"r"(address), "l"(global),
                 "r"(source_bytes));
  }
}
__device__ __forceinline__ void CommitCopies() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void WaitForCopies() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

// Issues the copies of a kRows x kCols tile of a stored matrix (rows ld apart, row_limit x
// col_limit of them in bounds), from (row0, col0), into a shared tile with kPitch, by the
// block's kThreads threads. Consecutive threads take consecutive elements of a row
// (coalesced).
template <int kThreads, int kRows, int kCols, int kPitch, int kVec>
__device__ __forceinline__ void CopyTileAsync(const float2* matrix, int64_t ld, int row0,
                                              int col0, int row_limit, int col_limit,
                                              float2* tile) {
  constexpr int kChunksPerRow = kCols / kVec;
  static_assert(kRows * kChunksPerRow % kThreads == 0, "tile copies must split evenly");
#pragma unroll
  for (int i = 0; i < kRows * kChunksPerRow / kThreads; ++i) {
    const int chunk = threadIdx.x + i * kThreads;
    const int row = chunk / kChunksPerRow, col = chunk % kChunksPerRow * kVec;
    // With kVec == 2 the limits are even, so a chunk is wholly in or out.
    const bool in_bounds = row0 + row < row_limit && col0 + col < col_limit;
    const float2* source = in_bounds ? matrix + (row0 + row) * ld + col0 + col : matrix;
    CopyAsync<kVec>(tile + row * kPitch + col, source, in_bounds);
  }
}

// x = big + small: big is x rounded to TF32; small, the rest, is exact in fp32 and at
// most half a TF32 ulp of x, and the tensor cores read only its top 19 bits (they
// ignore an operand's low 13 bits), so big + small carries x to 2^-21 relative.
// The rounding adds half a TF32 ulp to the magnitude's bits and clears the 13 below
// (to nearest, ties away, as cvt.rna.tf32.f32): two integer instructions, where Hopper
// has no cvt to TF32 and emulates it in five. Finite x stay finite unless they round
// past FLT_MAX, as cvt.rna's do; inf stays inf.
__device__ __forceinline__ void SplitTf32(float x, uint32_t& big, uint32_t& small) {
  big = (__float_as_uint(x) + 0x1000u) & 0xffffe000u;
  small = __float_as_uint(x - __uint_as_float(big));
}

// Gauss's three operands of v, conjugated where sign is -1 (re, sign * im and their sum),
// each split into big and small TF32 parts.
__device__ __forceinline__ void SplitGaussOperands(float2 v, float sign, uint32_t& re_big,
                                                   uint32_t& re_small, uint32_t& im_big,
                                                   uint32_t& im_small, uint32_t& sum_big,
                                                   uint32_t& sum_small) {
  const float im = sign * v.y;
  SplitTf32(v.x, re_big, re_small);
  SplitTf32(im, im_big, im_small);
  SplitTf32(v.x + im, sum_big, sum_small);
}

// Whether every row of the operand starts 16-byte aligned and holds whole pairs in
// bounds, so that tiles copy two complex numbers at a time.
inline bool CopiesInPairs(const ComplexMatrices& m, int64_t stored_columns) {
  return reinterpret_cast<uintptr_t>(m.data) % 16 == 0 && m.ld % 2 == 0 &&
         m.batch_stride % 2 == 0 && stored_columns % 2 == 0;
}

// The launchers' shared checks: positive sizes that fit the kernels' 32-bit tile indices,
// operands and result present, leading dimensions at least the rows they hold.
inline bool Tf32x3ProductArgumentsValid(const ComplexProductDims& dims, const ComplexMatrices& a,
                                        const ComplexMatrices& b, const float2* c,
                                        int64_t ldc) {
  constexpr int64_t kMaxSize = int64_t{1} << 30;  // tile origins and indices stay in int
  const bool sizes_ok = dims.m > 0 && dims.n > 0 && dims.k > 0 && dims.batch > 0 &&
                        dims.m < kMaxSize && dims.n < kMaxSize && dims.k < kMaxSize;
  return sizes_ok && a.data != nullptr && b.data != nullptr && c != nullptr &&
         a.ld >= (a.transposed ? dims.m : dims.k) && b.ld >= (b.transposed ? dims.k : dims.n) &&
         ldc >= dims.n && (dims.m + 31) / 32 <= 65535;
}

// Calls launch(std::bool_constant<A transposed>, std::bool_constant<B transposed>,
// std::integral_constant<int, complex numbers a copy>): each layout is its own kernel
// instance, and copies move two numbers where every row of both operands allows it.
template <typename Launch>
cudaError_t DispatchOnLayouts(const ComplexProductDims& dims, const ComplexMatrices& a,
                              const ComplexMatrices& b, Launch&& launch) {
  using Yes = std::true_type;
  using No = std::false_type;
  const auto with_copies = [&](auto a_transposed, auto b_transposed) {
    const bool pairs = CopiesInPairs(a, a.transposed ? dims.m : dims.k) &&
                       CopiesInPairs(b, b.transposed ? dims.k : dims.n);
    return pairs ? launch(a_transposed, b_transposed, std::integral_constant<int, 2>{})
                 : launch(a_transposed, b_transposed, std::integral_constant<int, 1>{});
  };
  if (a.transposed) return b.transposed ? with_copies(Yes{}, Yes{}) : with_copies(Yes{}, No{});
  return b.transposed ? with_copies(No{}, Yes{}) : with_copies(No{}, No{});
}

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_KERNELS_TF32X3_DEVICE_CUH_
