#include "fftconv/cuda/kernels/register_fft128_kernels.h"

#include <cstdint>

#include "fftconv/cuda/kernels/register_fft_device.cuh"

namespace fftrain::fftconv {
namespace {

using register_fft::FastDivisor;
using register_fft::IntWindow;
using register_fft::IntWindowOf;
using register_fft::FftInRegisters;
using register_fft::LaunchOverMaps;
using register_fft::LoadSpectra;
using register_fft::RaiseSharedLimit;
using register_fft::SeparateRealPair;
using register_fft::StaticFor;
using register_fft::StoreRealMaps;
using register_fft::StageRealMapsIn;
using register_fft::StoreSpectra;
using register_fft::ThisBlocksMaps;
using register_fft::TimesTwiddle;
using register_fft::WithOrder;

// Map j's region holds, in turn: its real tile (rows kRealStride floats apart), the packed
// row spectra Z_p = FFT(x_p + i x_{p+64}) (64 rows kZStride apart, not yet separated), and
// its half spectrum ([row][kHalf]). kZStride = 129 puts the two threads of a line, which
// read neighbouring rows, on different banks.
// Bin-major spectra put two maps in a block, so that its scattered spectrum accesses move
// 16 bytes a bin: that fills the SM's shared memory, one block per SM. Map-major spectra
// are contiguous per map, so a block takes one map and three blocks share an SM, one's
// copies overlapping another's transforms (measured: docs/profiling.md, "Design choices
// and their measurements").
template <bool kMapMajor>
struct Layout128 {
  static constexpr int kN = 128;
  static constexpr int kHalf = 65;
  static constexpr int kBins = kN * kHalf;
  static constexpr int kZStride = 129;
  static constexpr int kRealStride = 129;
  static constexpr int kRegion = kBins + 1;
  static constexpr int kThreadsPerMap = 128;  // 64 lines x 2 threads
  static constexpr int kMaps = kMapMajor ? 1 : 2;
  static constexpr int kThreads = kThreadsPerMap * kMaps;
  static constexpr int kMinBlocksPerSm = kMapMajor ? 3 : 1;
  static constexpr size_t kSharedBytes = sizeof(float2) * kMaps * kRegion;
};
using Shape128 = Layout128<false>;  // what does not depend on the order
static_assert(64 * Shape128::kZStride <= Shape128::kRegion, "packed rows overflow the region");
static_assert(128 * Shape128::kRealStride <= 2 * Shape128::kRegion, "real tile overflows");

// On entry thread `half` of a line holds the 64-point DFT of the line's samples
// 2m + half; on exit v[i] = X[32 half + i] and v[32 + i] = X[64 + 32 half + i] of the
// 128-point DFT. X[k] = E[k] + W^k O[k], X[k + 64] = E[k] - W^k O[k]: the odd thread
// applies W^k, then each thread trades the half of its values the other needs.
template <bool kInverse>
__device__ __forceinline__ void CombineHalves(float2 (&v)[64], int half, unsigned pair_mask) {
  if (half == 1) {
    StaticFor<0, 64>([&](auto m) {
      constexpr int kM = decltype(m)::value;
      v[kM] = TimesTwiddle<128, kM, kInverse>(v[kM]);
    });
  }
#pragma unroll
  for (int i = 0; i < 32; ++i) {
    const float2 send = half == 0 ? v[32 + i] : v[i];  // E[32 + i] or W^i O[i]
    float2 received;
    received.x = __shfl_xor_sync(pair_mask, send.x, 1);
    received.y = __shfl_xor_sync(pair_mask, send.y, 1);
    const float2 e = half == 0 ? v[i] : received;
    const float2 o = half == 0 ? received : v[32 + i];
    v[i] = make_float2(e.x + o.x, e.y + o.y);
    v[32 + i] = make_float2(e.x - o.x, e.y - o.y);
  }
}

// Where this thread works: t of its map's threads, sharing line `line` with its neighbour
// (lanes 2l and 2l+1, `pair_mask`) as parity `half`, in its map's shared region.
struct LineThread {
  int t, line, half;
  unsigned pair_mask;
  float2* region;
};

__device__ __forceinline__ LineThread ThisThreadsLine(float2* shared) {
  const int t = threadIdx.x % Shape128::kThreadsPerMap;
  return {t, t / 2, t % 2, 3u << ((threadIdx.x % 32) & ~1),
          shared + (threadIdx.x / Shape128::kThreadsPerMap) * Shape128::kRegion};
}

// The output index of v[i] after CombineHalves.
__device__ __forceinline__ int CombinedIndex(int i, int half) {
  return i < 32 ? 32 * half + i : 64 + 32 * half + (i - 32);
}

template <bool kMapMajor>
__global__ void __launch_bounds__(Layout128<kMapMajor>::kThreads,
                                  Layout128<kMapMajor>::kMinBlocksPerSm)
    RealToHalfSpectrum128Kernel(const float* __restrict__ in, int64_t maps, int rows, int cols,
                                int top, int left, FastDivisor map_size, FastDivisor row_size,
                                float2* __restrict__ out) {
  using L = Layout128<kMapMajor>;
  extern __shared__ float2 shared[];
  const auto [first, count] = StageRealMapsIn<L::kRegion, L::kRealStride, L::kMaps>(
      in, maps, rows, cols, top, left, map_size, row_size, shared);
  const auto [t, line, half, pair_mask, region] = ThisThreadsLine(shared);
  float2 v[64];

  // Rows line and line + 64 as one complex row; this thread's parity of its samples.
  const float* real = reinterpret_cast<const float*>(region);
#pragma unroll
  for (int m = 0; m < 64; ++m) {
    v[m] = make_float2(real[line * L::kRealStride + 2 * m + half],
                       real[(line + 64) * L::kRealStride + 2 * m + half]);
  }
  __syncthreads();
  FftInRegisters<64, false>(v);
  CombineHalves<false>(v, half, pair_mask);
#pragma unroll
  for (int i = 0; i < 64; ++i) region[line * L::kZStride + CombinedIndex(i, half)] = v[i];
  __syncthreads();

  // Column `line` (line 0: columns 0 and 64, real-valued, as one complex column), rows
  // 2m + half, separated from the packed rows as they are read: rows below 64 are the
  // first member of a pair (A), the others the second (B).
  const int c = line;
  const int c_mirror = c == 0 ? 64 : 128 - c;
#pragma unroll
  for (int m = 0; m < 64; ++m) {
    const int z_row = (2 * m + half) & 63;
    const float2 a = region[z_row * L::kZStride + c];
    const float2 b = region[z_row * L::kZStride + c_mirror];
    if (c == 0) {
      v[m] = m < 32 ? make_float2(a.x, b.x) : make_float2(a.y, b.y);
    } else {
      float2 row_a, row_b;
      SeparateRealPair(a, b, &row_a, &row_b);
      v[m] = m < 32 ? row_a : row_b;
    }
  }
  __syncthreads();  // the packed rows are read; the region now takes the half spectrum
  FftInRegisters<64, false>(v);
  CombineHalves<false>(v, half, pair_mask);
#pragma unroll
  for (int i = 0; i < 64; ++i) region[CombinedIndex(i, half) * L::kHalf + c] = v[i];
  __syncthreads();

  // Column 0 holds the transform of (column 0) + i (column 64): separate the two. Thread k
  // takes bins k and 128 - k, which no other thread touches.
  if (t <= 64) {
    const int k = t, k_mirror = (128 - t) % 128;
    const float2 zk = region[k * L::kHalf], zn = region[k_mirror * L::kHalf];
    float2 col0, col64;
    SeparateRealPair(zk, zn, &col0, &col64);
    region[k * L::kHalf] = col0;
    region[k * L::kHalf + 64] = col64;
    region[k_mirror * L::kHalf] = make_float2(col0.x, -col0.y);
    region[k_mirror * L::kHalf + 64] = make_float2(col64.x, -col64.y);
  }
  __syncthreads();
  StoreSpectra<kMapMajor, L::kRegion, L::kMaps, L::kBins>(shared, maps, first, count, out);
}

template <bool kMapMajor>
__global__ void __launch_bounds__(Layout128<kMapMajor>::kThreads,
                                  Layout128<kMapMajor>::kMinBlocksPerSm)
    HalfSpectrumToReal128Kernel(const float2* __restrict__ in, int64_t maps, int rows, int cols,
                                int top, int left, float scale, const float* __restrict__ bias,
                                int64_t bias_period, int64_t bias_phase, FastDivisor map_size,
                                FastDivisor row_size, float* __restrict__ out) {
  using L = Layout128<kMapMajor>;
  extern __shared__ float2 shared[];
  const auto [first, count] = ThisBlocksMaps<L::kMaps>(maps);
  LoadSpectra<kMapMajor, L::kRegion, L::kMaps, L::kBins>(in, maps, first, count, shared);
  __syncthreads();
  const auto [t, line, half, pair_mask, region] = ThisThreadsLine(shared);
  float2 v[64];

  // Column `line` (line 0: columns 0 and 64 as c0 + i c64, whose inverses are real).
  const int c = line;
#pragma unroll
  for (int m = 0; m < 64; ++m) {
    const int row = 2 * m + half;
    if (c == 0) {
      const float2 c0 = region[row * L::kHalf], c64 = region[row * L::kHalf + 64];
      v[m] = make_float2(c0.x - c64.y, c0.y + c64.x);
    } else {
      v[m] = region[row * L::kHalf + c];
    }
  }
  FftInRegisters<64, true>(v);
  // The shuffles order both threads' reads of this column before either writes it.
  CombineHalves<true>(v, half, pair_mask);
#pragma unroll
  for (int i = 0; i < 64; ++i) {
    const int row = CombinedIndex(i, half);
    if (c == 0) {
      region[row * L::kHalf] = make_float2(v[i].x, 0.0f);
      region[row * L::kHalf + 64] = make_float2(v[i].y, 0.0f);
    } else {
      region[row * L::kHalf + c] = v[i];
    }
  }
  __syncthreads();

  // Rows line and line + 64 as one complex row A + iB, extended by Hermitian symmetry.
  const int p = line;
#pragma unroll
  for (int m = 0; m < 64; ++m) {
    const int k = 2 * m + half;
    const bool upper = k > 64;
    const int source = upper ? 128 - k : k;
    const float2 a = region[p * L::kHalf + source];
    const float2 b = region[(p + 64) * L::kHalf + source];
    v[m] = upper ? make_float2(a.x + b.y, b.x - a.y) : make_float2(a.x - b.y, a.y + b.x);
  }
  __syncthreads();  // the spectra are read; the region now takes the real tile
  FftInRegisters<64, true>(v);
  CombineHalves<true>(v, half, pair_mask);
  float* real = reinterpret_cast<float*>(region);
#pragma unroll
  for (int i = 0; i < 64; ++i) {
    const int n = CombinedIndex(i, half);
    real[p * L::kRealStride + n] = v[i].x;
    real[(p + 64) * L::kRealStride + n] = v[i].y;
  }
  __syncthreads();
  StoreRealMaps<L::kRegion, L::kRealStride, L::kMaps>(shared, first, count, rows, cols, top,
                                                      left, scale, bias, bias_period,
                                                      bias_phase, map_size, row_size, out);
}

}  // namespace

cudaError_t PrepareRegisterFft128() {
  const cudaError_t error =
      RaiseSharedLimit(Layout128<false>::kSharedBytes, RealToHalfSpectrum128Kernel<false>,
                       HalfSpectrumToReal128Kernel<false>);
  return error != cudaSuccess
             ? error
             : RaiseSharedLimit(Layout128<true>::kSharedBytes, RealToHalfSpectrum128Kernel<true>,
                                HalfSpectrumToReal128Kernel<true>);
}

cudaError_t LaunchRegisterFft128Forward(const RealToHalfSpectrumParams& p,
                                        cudaStream_t stream) {
  const IntWindow w = IntWindowOf(p.batch.window);
  return WithOrder(p.order, [&](auto map_major) {
    constexpr bool kMapMajor = decltype(map_major)::value;
    return LaunchOverMaps<Layout128<kMapMajor>>(
        RealToHalfSpectrum128Kernel<kMapMajor>, p.batch.maps, stream, p.maps_in, p.batch.maps,
        w.rows, w.cols, w.top, w.left, FastDivisor::For(w.rows * w.cols),
        FastDivisor::For(w.cols), p.spectrum);
  });
}

cudaError_t LaunchRegisterFft128Inverse(const HalfSpectrumToRealParams& p,
                                        cudaStream_t stream) {
  const IntWindow w = IntWindowOf(p.batch.window);
  return WithOrder(p.order, [&](auto map_major) {
    constexpr bool kMapMajor = decltype(map_major)::value;
    return LaunchOverMaps<Layout128<kMapMajor>>(
        HalfSpectrumToReal128Kernel<kMapMajor>, p.batch.maps, stream, p.spectrum, p.batch.maps,
        w.rows, w.cols, w.top, w.left, p.scale, p.bias.values, p.bias.period, p.bias.phase,
        FastDivisor::For(w.rows * w.cols), FastDivisor::For(w.cols), p.maps_out);
  });
}

}  // namespace fftrain::fftconv
