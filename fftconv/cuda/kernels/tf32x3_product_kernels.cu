#include "fftconv/cuda/kernels/tf32x3_product_kernels.h"

#include <cstdint>

#include "fftconv/cuda/kernels/tf32x3_device.cuh"

namespace fftrain::fftconv {
namespace {

// A block of four warps computes a kTileM x kTileN tile of C (64 x 64 or 128 x 32, see
// Tiling), each warp kWarpM x kWarpN of it: mma tiles of 16 x 8 with three accumulators
// (Gauss's products, below). Operand tiles of kTileK complex columns stream through
// kStages buffers filled by cp.async, so the loads of tile t+2 overlap the multiplies of
// tile t.
constexpr int kTileK = 16;
constexpr int kStages = 3;
constexpr int kWarpM = 32;
constexpr int kWarpN = 32;
constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kMmaTilesM = kWarpM / 16;
constexpr int kMmaTilesN = kWarpN / 8;

// Shared-memory pitches (complex elements) that make each quarter-warp's 8-byte fragment
// loads hit distinct banks: the row step is 8 banks modulo 32 in every layout.
constexpr int kPitchK = kTileK + 4;  // tiles stored [row][k]

// The block's warps as kWarpsM x (kWarps / kWarpsM). 64 x 64 tiles serve most products;
// 128 x 32 ones serve those whose n leaves half of a 64-wide tile empty (96 channels).
template <int kWarpsM>
struct Tiling {
  static constexpr int kTileM = kWarpM * kWarpsM;
  static constexpr int kTileN = kWarpN * (kWarps / kWarpsM);
  static constexpr int kPitchM = kTileM + 4;  // A stored [k][m]
  static constexpr int kPitchN = kTileN + 4;  // B stored [k][n]
  template <bool kTransposed>
  static constexpr int ATileElements() {
    return kTransposed ? kTileK * kPitchM : kTileM * kPitchK;
  }
  template <bool kTransposed>
  static constexpr int BTileElements() {
    return kTransposed ? kTileN * kPitchK : kTileK * kPitchN;
  }
  template <bool kATransposed, bool kBTransposed>
  static constexpr int SharedBytes() {
    return kStages * (ATileElements<kATransposed>() + BTileElements<kBTransposed>()) *
           static_cast<int>(sizeof(float2));
  }
};

__device__ __forceinline__ void Mma(float (&d)[4], const uint32_t (&a)[4],
                                    const uint32_t (&b)[2]) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// d += a * b at fp32 accuracy; the small terms first, as they are the smaller.
__device__ __forceinline__ void Mma3(float (&d)[4], const uint32_t (&a_big)[4],
                                     const uint32_t (&a_small)[4], const uint32_t (&b_big)[2],
                                     const uint32_t (&b_small)[2]) {
  Mma(d, a_small, b_big);
  Mma(d, a_big, b_small);
  Mma(d, a_big, b_big);
}

// The copies of the operands' k-tile starting at k0 into one stage's buffers.
template <int kWarpsM, bool kATransposed, bool kBTransposed, int kVec>
__device__ __forceinline__ void LoadTiles(const KernelDims& d, const float2* a, int64_t lda,
                                          const float2* b, int64_t ldb, int m0, int n0, int k0,
                                          float2* a_tile, float2* b_tile) {
  using T = Tiling<kWarpsM>;
  constexpr int kTileM = T::kTileM, kTileN = T::kTileN, kPitchM = T::kPitchM,
                kPitchN = T::kPitchN;
  if constexpr (kATransposed) {
    CopyTileAsync<kThreads, kTileK, kTileM, kPitchM, kVec>(a, lda, k0, m0, d.k, d.m, a_tile);
  } else {
    CopyTileAsync<kThreads, kTileM, kTileK, kPitchK, kVec>(a, lda, m0, k0, d.m, d.k, a_tile);
  }
  if constexpr (kBTransposed) {
    CopyTileAsync<kThreads, kTileN, kTileK, kPitchK, kVec>(b, ldb, n0, k0, d.n, d.k, b_tile);
  } else {
    CopyTileAsync<kThreads, kTileK, kTileN, kPitchN, kVec>(b, ldb, k0, n0, d.k, d.n, b_tile);
  }
}

template <int kWarpsM, bool kATransposed, bool kBTransposed, int kVec>
__global__ void __launch_bounds__(kThreads, 2)
    Tf32x3ComplexProductKernel(KernelDims d, ComplexMatrices a, ComplexMatrices b,
                               float2* __restrict__ c, int64_t ldc, int64_t stride_c) {
  extern __shared__ float2 shared[];
  using T = Tiling<kWarpsM>;
  constexpr int kTileM = T::kTileM, kTileN = T::kTileN, kPitchM = T::kPitchM,
                kPitchN = T::kPitchN;
  constexpr int kAElements = T::template ATileElements<kATransposed>();
  constexpr int kStageElements = kAElements + T::template BTileElements<kBTransposed>();

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int group = lane / 4, thread_in_group = lane % 4;  // mma fragment coordinates
  const int warp_m = (warp % kWarpsM) * kWarpM, warp_n = (warp / kWarpsM) * kWarpN;
  const int m0 = blockIdx.y * kTileM, n0 = blockIdx.x * kTileN;
  const float a_sign = a.conjugated ? -1.0f : 1.0f;
  const float b_sign = b.conjugated ? -1.0f : 1.0f;
  const int k_tiles = (d.k + kTileK - 1) / kTileK;

  for (int64_t batch = blockIdx.z; batch < d.batch; batch += gridDim.z) {
    const float2* a_batch = a.data + batch * a.batch_stride;
    const float2* b_batch = b.data + batch * b.batch_stride;
    // Gauss's three products: re*re, im*im and (re + im)(re + im).
    float acc[3][kMmaTilesM][kMmaTilesN][4] = {};

    // The buffers may still be read by the previous batch's last tiles.
    __syncthreads();
#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) {
      if (s < k_tiles) {
        LoadTiles<kWarpsM, kATransposed, kBTransposed, kVec>(d, a_batch, a.ld, b_batch, b.ld, m0, n0,
                                              s * kTileK, shared + s * kStageElements,
                                              shared + s * kStageElements + kAElements);
      }
      CommitCopies();
    }
    for (int kt = 0; kt < k_tiles; ++kt) {
      WaitForCopies<kStages - 2>();
      __syncthreads();
      // Refill the stage every warp finished with (tile kt - 1) before the barrier.
      const int next = kt + kStages - 1;
      if (next < k_tiles) {
        float2* stage = shared + (next % kStages) * kStageElements;
        LoadTiles<kWarpsM, kATransposed, kBTransposed, kVec>(d, a_batch, a.ld, b_batch, b.ld, m0, n0,
                                              next * kTileK, stage, stage + kAElements);
      }
      CommitCopies();

      const float2* a_tile = shared + (kt % kStages) * kStageElements;
      const float2* b_tile = a_tile + kAElements;
#pragma unroll
      for (int kk = 0; kk < kTileK; kk += 8) {
        // A fragments: [tile][re, im, re + im][register], registers at rows g, g+8 and
        // columns t, t+4 of the 16 x 8 tile (PTX's m16n8k8 .tf32 layout). Split once
        // and kept for all of the warp's B fragments.
        uint32_t a_big[kMmaTilesM][3][4], a_small[kMmaTilesM][3][4];
#pragma unroll
        for (int mi = 0; mi < kMmaTilesM; ++mi) {
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const int row = warp_m + mi * 16 + group + (r % 2) * 8;
            const int col = kk + thread_in_group + (r / 2) * 4;
            const float2 v =
                kATransposed ? a_tile[col * kPitchM + row] : a_tile[row * kPitchK + col];
            SplitGaussOperands(v, a_sign, a_big[mi][0][r], a_small[mi][0][r], a_big[mi][1][r],
                               a_small[mi][1][r], a_big[mi][2][r], a_small[mi][2][r]);
          }
        }
#pragma unroll
        for (int ni = 0; ni < kMmaTilesN; ++ni) {
          // B fragment: rows t and t+4, column g of the 8 x 8 tile.
          uint32_t b_big[3][2], b_small[3][2];
#pragma unroll
          for (int r = 0; r < 2; ++r) {
            const int row = kk + thread_in_group + r * 4;
            const int col = warp_n + ni * 8 + group;
            const float2 v =
                kBTransposed ? b_tile[col * kPitchK + row] : b_tile[row * kPitchN + col];
            SplitGaussOperands(v, b_sign, b_big[0][r], b_small[0][r], b_big[1][r], b_small[1][r],
                               b_big[2][r], b_small[2][r]);
          }
#pragma unroll
          for (int mi = 0; mi < kMmaTilesM; ++mi) {
#pragma unroll
            for (int p = 0; p < 3; ++p) {
              Mma3(acc[p][mi][ni], a_big[mi][p], a_small[mi][p], b_big[p], b_small[p]);
            }
          }
        }
      }
    }
    WaitForCopies<0>();

    float2* c_batch = c + batch * stride_c;
#pragma unroll
    for (int mi = 0; mi < kMmaTilesM; ++mi) {
#pragma unroll
      for (int ni = 0; ni < kMmaTilesN; ++ni) {
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          // Accumulator registers: rows g (0, 1) and g+8 (2, 3), columns 2t and 2t+1.
          const int row = m0 + warp_m + mi * 16 + group + (r / 2) * 8;
          const int col = n0 + warp_n + ni * 8 + thread_in_group * 2 + r % 2;
          StoreGaussProduct(d, c_batch, ldc, row, col, acc[0][mi][ni][r], acc[1][mi][ni][r],
                            acc[2][mi][ni][r]);
        }
      }
    }
  }
}

template <int kWarpsM, bool kATransposed, bool kBTransposed, int kVec>
cudaError_t Launch(const KernelDims& d, const ComplexMatrices& a, const ComplexMatrices& b,
                   float2* c, int64_t ldc, int64_t stride_c, cudaStream_t stream) {
  using T = Tiling<kWarpsM>;
  return LaunchProductKernel<Tf32x3ComplexProductKernel<kWarpsM, kATransposed, kBTransposed, kVec>,
                             T::kTileM, T::kTileN, kThreads,
                             T::template SharedBytes<kATransposed, kBTransposed>()>(
      d, a, b, c, ldc, stride_c, stream);
}

// Blocks cover C in whole tiles; the shape that pads C less wins (64 x 64 on a tie).
bool PrefersTallTiles(const KernelDims& d) {
  const auto padded = [&](int tile_m, int tile_n) {
    return int64_t{(d.m + tile_m - 1) / tile_m * tile_m} * ((d.n + tile_n - 1) / tile_n * tile_n);
  };
  return padded(Tiling<4>::kTileM, Tiling<4>::kTileN) < padded(Tiling<2>::kTileM, Tiling<2>::kTileN);
}

}  // namespace

cudaError_t LaunchTf32x3ComplexProduct(const ComplexProductDims& dims, const ComplexMatrices& a,
                                       const ComplexMatrices& b, float2* c, int64_t ldc,
                                       int64_t stride_c, cudaStream_t stream) {
  if (!Tf32x3ProductArgumentsValid(dims, a, b, c, ldc)) return cudaErrorInvalidValue;
  const KernelDims d = ToKernelDims(dims);
  const bool tall = PrefersTallTiles(d);
  return DispatchOnLayouts(dims, a, b, [&](auto a_transposed, auto b_transposed, auto vec) {
    constexpr bool kA = decltype(a_transposed)::value, kB = decltype(b_transposed)::value;
    constexpr int kVec = decltype(vec)::value;
    return tall ? Launch<4, kA, kB, kVec>(d, a, b, c, ldc, stride_c, stream)
                : Launch<2, kA, kB, kVec>(d, a, b, c, ldc, stride_c, stream);
  });
}

}  // namespace fftrain::fftconv
