#include "fftconv/cuda/kernels/tf32x3_wgmma_product_kernels.h"

#include <cstdint>
#include <type_traits>

#include "fftconv/cuda/kernels/tf32x3_device.cuh"

// wgmma exists only in sm_90a's arch-specific feature set; elsewhere the kernel compiles to nothing
// and the launch reports cudaErrorNotSupported.
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define FFTRAIN_WGMMA_KERNEL 1
#endif

namespace fftrain::fftconv {
namespace {

// One warpgroup (four warps) per block computes a 64 x 64 tile of C with wgmma m64n64k8: A from
// registers (each warp's 16 rows, split there, so no row is split twice), B from shared memory,
// where the block stores it already split. Raw operand tiles of kTileK complex columns stream in by
// cp.async through kStages buffers; B's split copy is double-buffered so that the split of tile t+1
// overlaps the multiplies of tile t.
constexpr int kThreads = 128;
constexpr int kTileM = 64;
constexpr int kTileN = 64;  // wgmma's n, the accumulators (acc[3][32]) and the store assume 64
// 16-deep k-tiles in three stages leave room for two blocks an SM (shared memory, registers);
// 8-deep tiles in four stages measured 3% slower on L5, 16-deep in four (one block) 30% slower.
constexpr int kTileK = 16;
constexpr int kStages = 3;
constexpr int kKSteps = kTileK / 8;  // wgmma k8 steps a tile
constexpr int kKCores = kTileK / 4;  // core matrices along k
constexpr int kPitchK = kTileK + 4;  // raw tiles stored [row][k]
// B split: Gauss's three operands (re, im, re + im), each as big and small TF32 parts.
constexpr int kSplitParts = 6;

struct Layout {
  static constexpr int kPitchM = kTileM + 4;  // raw A stored [k][m]
  static constexpr int kPitchN = kTileN + 4;  // raw B stored [k][n]
  template <bool kTransposed>
  static constexpr int ARawElements() {
    return kTransposed ? kTileK * kPitchM : kTileM * kPitchK;
  }
  template <bool kTransposed>
  static constexpr int BRawElements() {
    return kTransposed ? kTileN * kPitchK : kTileK * kPitchN;
  }
  // One split part of B's k-tile: kTileN rows (n) of kTileK TF32 numbers in wgmma's K-major layout
  // without swizzle: 8 x 4 core matrices of 128 contiguous bytes, those along k 128 bytes apart,
  // successive groups of 8 rows kKCores x 128 bytes apart.
  static constexpr int kSplitPartFloats = kTileN * kTileK;
  static constexpr int kSplitFloats = kSplitParts * kSplitPartFloats;
  template <bool kATransposed, bool kBTransposed>
  static constexpr int SharedBytes() {
    return kStages * (ARawElements<kATransposed>() + BRawElements<kBTransposed>()) *
               static_cast<int>(sizeof(float2)) +
           2 * kSplitFloats * static_cast<int>(sizeof(float));
  }
};

// A warp's split A fragments for one k-tile: [k8 step][re, im, re + im][big, small][register].
using Fragments = uint32_t[kKSteps][3][2][4];

#ifdef FFTRAIN_WGMMA_KERNEL
// wgmma's shared-memory matrix descriptor: start address, the byte offsets between core matrices
// along k (leading) and along rows (stride), no swizzle.
__device__ __forceinline__ uint64_t SplitPartDescriptor(const float* part) {
  const uint32_t address = static_cast<uint32_t>(__cvta_generic_to_shared(part));
  constexpr uint64_t kLeadingBytes = 128, kStrideBytes = 128 * kKCores;
  return static_cast<uint64_t>((address & 0x3FFFF) >> 4) | ((kLeadingBytes >> 4) << 16) |
         ((kStrideBytes >> 4) << 32);
}

__device__ __forceinline__ void WgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void WgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int kPending>
__device__ __forceinline__ void WgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}
// Generic-proxy stores to shared memory (the split) made visible to wgmma's async proxy.
__device__ __forceinline__ void FenceSharedForAsyncProxy() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// Extends the fragments' live range to this point: the compiler does not know that an issued wgmma
// still reads them, and would otherwise reuse their registers.
__device__ __forceinline__ void KeepRegistersUntilHere(Fragments& frag) {
  uint32_t* registers = &frag[0][0][0][0];
#pragma unroll
  for (int i = 0; i < sizeof(Fragments) / sizeof(uint32_t); ++i) {
    asm volatile("" : "+r"(registers[i])::"memory");
  }
}

// d (64 x 64 over the warpgroup, 32 per thread) += a (registers) * b (shared memory).
__device__ __forceinline__ void Wgmma64(float (&d)[32], const uint32_t (&a)[4], uint64_t b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "
      "%30, %31}, "
      "{%32, %33, %34, %35}, %36, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
}
#endif  // FFTRAIN_WGMMA_KERNEL

// One operand's k-tile copies (kRows x kCols of the stored matrix, k along the rows or the
// columns), with each thread's chunk offsets and in-bounds flags worked out once per matrix: a
// tile then costs a pointer add and a k comparison per chunk. Offsets are 32-bit: leading
// dimensions stay below kMaxLeadingDimension.
template <int kRows, int kCols, int kPitch, int kVec, bool kKInRows>
struct TileCopier {
  static constexpr int kChunksPerRow = kCols / kVec;
  static constexpr int kPerThread = kRows * kChunksPerRow / kThreads;
  static_assert(kRows * kChunksPerRow % kThreads == 0, "tile copies must split evenly");

  const float2* origin;  // the matrix at k = 0 and the block's first fixed row or column
  int64_t k_stride;      // elements from one k to the next
  uint32_t offset[kPerThread];
  uint32_t fixed_in_bounds = 0;  // bit i: chunk i's fixed row or column is in the matrix

  __device__ __forceinline__ TileCopier(const float2* matrix, int64_t ld, int fixed0,
                                        int fixed_limit)
      : origin(matrix + (kKInRows ? fixed0 : fixed0 * ld)), k_stride(kKInRows ? ld : 1) {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int chunk = threadIdx.x + i * kThreads;
      const int row = chunk / kChunksPerRow, col = chunk % kChunksPerRow * kVec;
      offset[i] = static_cast<uint32_t>(row * ld + col);
      fixed_in_bounds |= static_cast<uint32_t>(fixed0 + (kKInRows ? col : row) < fixed_limit) << i;
    }
  }

  __device__ __forceinline__ void Copy(int k0, int k_limit, float2* tile) const {
    const float2* at_k0 = origin + k0 * k_stride;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int chunk = threadIdx.x + i * kThreads;
      const int row = chunk / kChunksPerRow, col = chunk % kChunksPerRow * kVec;
      // With kVec == 2 the limits are even, so a chunk is wholly in or out.
      const bool in_bounds =
          (fixed_in_bounds >> i & 1) && k0 + (kKInRows ? row : col) < k_limit;
      CopyAsync<kVec>(tile + row * kPitch + col, in_bounds ? at_k0 + offset[i] : origin, in_bounds);
    }
  }
};

template <bool kATransposed, bool kBTransposed, int kVec>
struct RawTileCopiers {
  using A =
      std::conditional_t<kATransposed, TileCopier<kTileK, kTileM, Layout::kPitchM, kVec, true>,
                         TileCopier<kTileM, kTileK, kPitchK, kVec, false>>;
  using B = std::conditional_t<kBTransposed, TileCopier<kTileN, kTileK, kPitchK, kVec, false>,
                               TileCopier<kTileK, kTileN, Layout::kPitchN, kVec, true>>;
  A a;
  B b;
  int k_limit;

  __device__ __forceinline__ RawTileCopiers(const KernelDims& d, const float2* a_matrix,
                                            int64_t lda, const float2* b_matrix, int64_t ldb,
                                            int m0, int n0)
      : a(a_matrix, lda, m0, d.m), b(b_matrix, ldb, n0, d.n), k_limit(d.k) {}

  __device__ __forceinline__ void Copy(int k0, float2* a_tile, float2* b_tile) const {
    a.Copy(k0, k_limit, a_tile);
    b.Copy(k0, k_limit, b_tile);
  }
};

// Splits the raw B tile into its six parts. A thread takes one core-matrix row (4 k columns of
// one row of B) and stores each part's 16 bytes at once; a warp's stores fill 512 contiguous
// bytes, free of bank conflicts.
template <bool kBTransposed>
__device__ __forceinline__ void SplitB(const float2* b_tile, float b_sign, float* split) {
  constexpr int kPerThread = kTileN * kTileK / 4 / kThreads;
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int quad = threadIdx.x + i * kThreads;  // split index / 4
    const int core = quad / 8;
    const int row = (core / kKCores) * 8 + quad % 8, k0 = (core % kKCores) * 4;
    uint32_t parts[kSplitParts][4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int k = k0 + j;
      const float2 v = kBTransposed ? b_tile[row * kPitchK + k] : b_tile[k * Layout::kPitchN + row];
      SplitGaussOperands(v, b_sign, parts[0][j], parts[1][j], parts[2][j], parts[3][j],
                         parts[4][j], parts[5][j]);
    }
#pragma unroll
    for (int p = 0; p < kSplitParts; ++p) {
      *reinterpret_cast<uint4*>(split + p * Layout::kSplitPartFloats + 4 * quad) =
          make_uint4(parts[p][0], parts[p][1], parts[p][2], parts[p][3]);
    }
  }
}

// The warp's A fragments of the raw tile, split: [k8 step][re, im, re + im][big, small][register],
// registers at rows g, g+8 and columns t, t+4 of the warp's 16 x 8 slices (the m16n8k8 .tf32
// layout, which wgmma's register A keeps per warp).
template <bool kATransposed>
__device__ __forceinline__ void SplitAFragments(const float2* a_tile, float a_sign,
                                                Fragments& frag) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int group = lane / 4, thread_in_group = lane % 4;
#pragma unroll
  for (int s = 0; s < kKSteps; ++s) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int row = warp * 16 + group + (r % 2) * 8;
      const int col = s * 8 + thread_in_group + (r / 2) * 4;
      const float2 v =
          kATransposed ? a_tile[col * Layout::kPitchM + row] : a_tile[row * kPitchK + col];
      SplitGaussOperands(v, a_sign, frag[s][0][0][r], frag[s][0][1][r], frag[s][1][0][r],
                         frag[s][1][1][r], frag[s][2][0][r], frag[s][2][1][r]);
    }
  }
}

template <bool kATransposed, bool kBTransposed, int kVec>
__global__ void __launch_bounds__(kThreads, 2)
    Tf32x3WgmmaComplexProductKernel(KernelDims d, ComplexMatrices a, ComplexMatrices b,
                                    float2* __restrict__ c, int64_t ldc, int64_t stride_c) {
#ifdef FFTRAIN_WGMMA_KERNEL
  extern __shared__ __align__(128) float shared_floats[];
  constexpr int kARaw = Layout::ARawElements<kATransposed>();
  constexpr int kStageElements = kARaw + Layout::BRawElements<kBTransposed>();
  float2* raw = reinterpret_cast<float2*>(shared_floats + 2 * Layout::kSplitFloats);

  const int m0 = blockIdx.y * kTileM, n0 = blockIdx.x * kTileN;
  const float a_sign = a.conjugated ? -1.0f : 1.0f;
  const float b_sign = b.conjugated ? -1.0f : 1.0f;
  const int k_tiles = (d.k + kTileK - 1) / kTileK;

  for (int64_t batch = blockIdx.z; batch < d.batch; batch += gridDim.z) {
    const float2* a_batch = a.data + batch * a.batch_stride;
    const float2* b_batch = b.data + batch * b.batch_stride;
    // Gauss's three products: re*re, im*im and (re + im)(re + im).
    float acc[3][32] = {};

    // The buffers may still be read by the previous batch's last tiles.
    __syncthreads();
    const RawTileCopiers<kATransposed, kBTransposed, kVec> copiers(d, a_batch, a.ld, b_batch,
                                                                    b.ld, m0, n0);
#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) {
      if (s < k_tiles) {
        float2* stage = raw + s * kStageElements;
        copiers.Copy(s * kTileK, stage, stage + kARaw);
      }
      CommitCopies();
    }
    // wgmma reads A's registers until its group completes, so the fragments alternate between two
    // sets: tile kt's stay live until tile kt + 1 has waited for them.
    Fragments frags[2] = {};
    const auto multiply_tile = [&](int kt, Fragments& frag, Fragments& previous_frag) {
      WaitForCopies<kStages - 2>();
      // Every thread's copies of tile kt have landed, every warp has read tile kt - 1's raw stage,
      // and tile kt - 2's multiplies (reading this split buffer) are done.
      __syncthreads();
      // Tile kt + 2 refills tile kt - 1's stage. Issued before the split, which it overlaps
      // (after it, 8% slower on L5).
      const int next = kt + kStages - 1;
      if (next < k_tiles) {
        float2* stage = raw + (next % kStages) * kStageElements;
        copiers.Copy(next * kTileK, stage, stage + kARaw);
      }
      CommitCopies();

      const float2* a_tile = raw + (kt % kStages) * kStageElements;
      float* split = shared_floats + (kt % 2) * Layout::kSplitFloats;
      SplitB<kBTransposed>(a_tile + kARaw, b_sign, split);
      FenceSharedForAsyncProxy();
      SplitAFragments<kATransposed>(a_tile, a_sign, frag);
      __syncthreads();

      WgmmaFence();
#pragma unroll
      for (int s = 0; s < kKSteps; ++s) {
#pragma unroll
        for (int p = 0; p < 3; ++p) {
          // Step s's k columns start 2 core matrices (64 floats) into each row group.
          const float* big = split + (2 * p) * Layout::kSplitPartFloats + s * 64;
          const uint64_t b_big = SplitPartDescriptor(big);
          const uint64_t b_small = SplitPartDescriptor(big + Layout::kSplitPartFloats);
          Wgmma64(acc[p], frag[s][p][1], b_big);
          Wgmma64(acc[p], frag[s][p][0], b_small);
          Wgmma64(acc[p], frag[s][p][0], b_big);
        }
      }
      WgmmaCommit();
      WgmmaWait<1>();
      KeepRegistersUntilHere(previous_frag);
    };
    for (int kt = 0; kt < k_tiles; kt += 2) {
      multiply_tile(kt, frags[0], frags[1]);
      if (kt + 1 < k_tiles) multiply_tile(kt + 1, frags[1], frags[0]);
    }
    WgmmaWait<0>();
    WaitForCopies<0>();

    // Accumulator registers, per 8-column slice j as in m16n8 (rows from the warp's 16):
    // [4j] (g, 8j+2t), [4j+1] (g, 8j+2t+1), [4j+2] (g+8, 8j+2t), [4j+3] (g+8, 8j+2t+1).
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int group = lane / 4, thread_in_group = lane % 4;
    float2* c_batch = c + batch * stride_c;
#pragma unroll
    for (int i = 0; i < 32; ++i) {
      const int row = m0 + warp * 16 + group + ((i % 4) / 2) * 8;
      const int col = n0 + (i / 4) * 8 + thread_in_group * 2 + i % 2;
      StoreGaussProduct(d, c_batch, ldc, row, col, acc[0][i], acc[1][i], acc[2][i]);
    }
  }
#endif  // FFTRAIN_WGMMA_KERNEL
}

template <bool kATransposed, bool kBTransposed, int kVec>
cudaError_t Launch(const KernelDims& d, const ComplexMatrices& a, const ComplexMatrices& b,
                   float2* c, int64_t ldc, int64_t stride_c, cudaStream_t stream) {
  return LaunchProductKernel<Tf32x3WgmmaComplexProductKernel<kATransposed, kBTransposed, kVec>,
                             kTileM, kTileN, kThreads,
                             Layout::SharedBytes<kATransposed, kBTransposed>()>(
      d, a, b, c, ldc, stride_c, stream);
}

}  // namespace

bool CurrentDeviceRunsTf32x3Wgmma() {
  int device = 0, major = 0, minor = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
    return false;
  }
  return major == 9 && minor == 0;
}

cudaError_t LaunchTf32x3WgmmaComplexProduct(const ComplexProductDims& dims,
                                            const ComplexMatrices& a, const ComplexMatrices& b,
                                            float2* c, int64_t ldc, int64_t stride_c,
                                            cudaStream_t stream) {
  if (!Tf32x3ProductArgumentsValid(dims, a, b, c, ldc) || a.ld >= kMaxLeadingDimension ||
      b.ld >= kMaxLeadingDimension) {
    return cudaErrorInvalidValue;
  }
  if (!CurrentDeviceRunsTf32x3Wgmma()) return cudaErrorNotSupported;
  const KernelDims d = ToKernelDims(dims);
  return DispatchOnLayouts(dims, a, b, [&](auto a_transposed, auto b_transposed, auto vec) {
    return Launch<decltype(a_transposed)::value, decltype(b_transposed)::value,
                  decltype(vec)::value>(d, a, b, c, ldc, stride_c, stream);
  });
}

}  // namespace fftrain::fftconv
