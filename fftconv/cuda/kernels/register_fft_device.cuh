// Device-side pieces shared by the register-resident FFT kernels
// (register_fft_kernels.cu for the sides up to 64, powers of two and smooth ones alike;
// register_fft128_kernels.cu for 128): unrolled
// FFTs with compile-time twiddles, real-pair separation, fast division, and the staging
// copies between global memory and a block's per-map shared-memory regions. Internal.
#ifndef FFTRAIN_FFTCONV_CUDA_KERNELS_REGISTER_FFT_DEVICE_CUH_
#define FFTRAIN_FFTCONV_CUDA_KERNELS_REGISTER_FFT_DEVICE_CUH_

#include <cuda_pipeline.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "fftconv/cuda/kernels/transform_params.h"
#include "fftconv/spectrum_order.h"

namespace fftrain::fftconv::register_fft {

// ---- Compile-time twiddles -------------------------------------------------------------

// Taylor series in double for |x| <= pi: the terms shrink below 1e-17 by term 30, and the
// rounding to float afterwards dominates the error.
__host__ __device__ constexpr double TaylorSin(double x) {
  double term = x, sum = x;
  for (int i = 1; i < 30; ++i) {
    term *= -x * x / ((2.0 * i) * (2.0 * i + 1.0));
    sum += term;
  }
  return sum;
}

__host__ __device__ constexpr double TaylorCos(double x) {
  double term = 1.0, sum = 1.0;
  for (int i = 1; i < 30; ++i) {
    term *= -x * x / ((2.0 * i - 1.0) * (2.0 * i));
    sum += term;
  }
  return sum;
}

// exp(-2 pi i k / n) for the forward transform, its conjugate for the inverse.
template <int kN, int kK, bool kInverse>
struct Twiddle {
  static constexpr int kReduced = (kK % kN) * 2 > kN ? (kK % kN) - kN : (kK % kN);
  static constexpr double kAngle = -2.0 * 3.14159265358979323846 * kReduced / kN;
  static constexpr float kRe = static_cast<float>(TaylorCos(kAngle));
  static constexpr float kIm = static_cast<float>(kInverse ? -TaylorSin(kAngle) : TaylorSin(kAngle));
};

// ---- Unrolled loops with compile-time indices -----------------------------------------

template <int kBegin, int kEnd, typename F>
__device__ __forceinline__ void StaticFor(F&& f) {
  if constexpr (kBegin < kEnd) {
    f(std::integral_constant<int, kBegin>{});
    StaticFor<kBegin + 1, kEnd>(f);
  }
}

__device__ __forceinline__ float2 Add(float2 a, float2 b) { return make_float2(a.x + b.x, a.y + b.y); }
__device__ __forceinline__ float2 Sub(float2 a, float2 b) { return make_float2(a.x - b.x, a.y - b.y); }

// x times the twiddle W_n^k; 1, -1 and -+i cost nothing.
template <int kN, int kK, bool kInverse>
__device__ __forceinline__ float2 TimesTwiddle(float2 x) {
  if constexpr (kK % kN == 0) {
    return x;
  } else if constexpr (2 * (kK % kN) == kN) {
    return make_float2(-x.x, -x.y);
  } else if constexpr (4 * (kK % kN) == kN) {
    return kInverse ? make_float2(-x.y, x.x) : make_float2(x.y, -x.x);
  } else if constexpr (4 * (kK % kN) == 3 * kN) {
    return kInverse ? make_float2(x.y, -x.x) : make_float2(-x.y, x.x);
  } else {
    using W = Twiddle<kN, kK, kInverse>;
    return make_float2(x.x * W::kRe - x.y * W::kIm, x.x * W::kIm + x.y * W::kRe);
  }
}

template <int kLog2N>
__host__ __device__ constexpr int BitReverse(int x) {
  int r = 0;
  for (int b = 0; b < kLog2N; ++b) r |= ((x >> b) & 1) << (kLog2N - 1 - b);
  return r;
}

constexpr int Log2(int n) { return n <= 1 ? 0 : 1 + Log2(n / 2); }

// In-place N-point FFT of v, natural order in and out, unnormalised: radix-2 decimation in
// time whose bit reversal and twiddles all fold to constants, so v stays in registers.
template <int kN, bool kInverse>
__device__ __forceinline__ void FftInRegisters(float2 (&v)[kN]) {
  constexpr int kLog2N = Log2(kN);
  float2 a[kN];
  StaticFor<0, kN>([&](auto i) { a[decltype(i)::value] = v[BitReverse<kLog2N>(decltype(i)::value)]; });
  StaticFor<1, kLog2N + 1>([&](auto stage) {
    constexpr int kSpan = 1 << decltype(stage)::value;
    constexpr int kHalfSpan = kSpan / 2;
    StaticFor<0, kN / 2>([&](auto b) {
      constexpr int kGroup = decltype(b)::value / kHalfSpan;
      constexpr int kK = decltype(b)::value % kHalfSpan;
      constexpr int kTop = kGroup * kSpan + kK;
      const float2 t = TimesTwiddle<kSpan, kK, kInverse>(a[kTop + kHalfSpan]);
      a[kTop + kHalfSpan] = Sub(a[kTop], t);
      a[kTop] = Add(a[kTop], t);
    });
  });
  StaticFor<0, kN>([&](auto i) { v[decltype(i)::value] = a[decltype(i)::value]; });
}

// ---- Mixed radix, for the 7-smooth sides that are not powers of two ---------------------

constexpr bool IsPowerOfTwo(int n) { return n > 0 && (n & (n - 1)) == 0; }

// The factor a mixed-radix step splits off first: 4 where it divides (fewer multiplies
// than two radix-2 steps), else the smallest of 2, 3, 5, 7, 11, 13; 0 for any other prime
// factor. The primes above 7 are single DFTs (SmallDft), for odd sides such as 13.
constexpr int FirstRadix(int n) {
  return n % 4 == 0           ? 4
         : n % 2 == 0         ? 2
         : n % 3 == 0         ? 3
         : n % 5 == 0         ? 5
         : n % 7 == 0         ? 7
         : n % 11 == 0        ? 11
         : n % 13 == 0        ? 13
                              : 0;
}

constexpr bool HasRegisterRadices(int n) {
  return n == 1 || (n > 1 && FirstRadix(n) != 0 && HasRegisterRadices(n / FirstRadix(n)));
}

// In-place DFT of kR points (2, 4 or an odd prime). Odd primes pair x_r with x_{R-r}, whose
// twiddles are conjugates: y_q = x_0 + sum_r (s_r cos(2 pi r q / R) -+ i d_r sin(...))
// with s_r = x_r + x_{R-r}, d_r = x_r - x_{R-r}, and y_{R-q} the same with the sign flipped.
template <int kR, bool kInverse>
__device__ __forceinline__ void SmallDft(float2 (&x)[kR]) {
  if constexpr (kR == 2) {
    const float2 t = x[0];
    x[0] = Add(t, x[1]);
    x[1] = Sub(t, x[1]);
  } else if constexpr (kR == 4) {
    const float2 a = Add(x[0], x[2]), b = Sub(x[0], x[2]);
    const float2 c = Add(x[1], x[3]), d = TimesTwiddle<4, 1, kInverse>(Sub(x[1], x[3]));
    x[0] = Add(a, c);
    x[2] = Sub(a, c);
    x[1] = Add(b, d);
    x[3] = Sub(b, d);
  } else {
    constexpr int kPairs = (kR - 1) / 2;
    float2 s[kPairs], d[kPairs];
    float2 y0 = x[0];
    StaticFor<0, kPairs>([&](auto p) {
      constexpr int r = decltype(p)::value + 1;
      s[r - 1] = Add(x[r], x[kR - r]);
      d[r - 1] = Sub(x[r], x[kR - r]);
      y0 = Add(y0, s[r - 1]);
    });
    StaticFor<1, kPairs + 1>([&](auto qc) {
      constexpr int q = decltype(qc)::value;
      float2 a = x[0], b = make_float2(0.0f, 0.0f);
      StaticFor<1, kPairs + 1>([&](auto rc) {
        constexpr int r = decltype(rc)::value;
        // Twiddle<R, rq, false> is cos(2 pi rq / R) - i sin(2 pi rq / R).
        using W = Twiddle<kR, r * q, false>;
        a = make_float2(a.x + s[r - 1].x * W::kRe, a.y + s[r - 1].y * W::kRe);
        b = make_float2(b.x - d[r - 1].x * W::kIm, b.y - d[r - 1].y * W::kIm);
      });
      // Forward: y_q = a - i b, y_{R-q} = a + i b; the inverse swaps them.
      const float2 minus_ib = make_float2(a.x + b.y, a.y - b.x);
      const float2 plus_ib = make_float2(a.x - b.y, a.y + b.x);
      x[q] = kInverse ? plus_ib : minus_ib;
      x[kR - q] = kInverse ? minus_ib : plus_ib;
    });
    x[0] = y0;
  }
}

// out[kOut + k], k < kN, = the DFT of in[kIn + m * kStride], m < kN: decimation in time,
// kN = R * M. The R interleaved subsequences x[r + R m] go through M-point DFTs into
// out[kOut + r M + k]; then X[k + M q] = sum_r (W_N^{rk} Y_r[k]) W_R^{rq}, an R-point DFT
// per k that reads and writes the same R slots. Every index is a compile-time constant.
template <int kN, int kIn, int kStride, int kOut, bool kInverse, int kSize>
__device__ __forceinline__ void DecimationInTime(const float2 (&in)[kSize], float2 (&out)[kSize]) {
  if constexpr (kN == 1) {
    out[kOut] = in[kIn];
  } else {
    constexpr int kR = FirstRadix(kN);
    constexpr int kM = kN / kR;
    StaticFor<0, kR>([&](auto rc) {
      constexpr int r = decltype(rc)::value;
      DecimationInTime<kM, kIn + r * kStride, kStride * kR, kOut + r * kM, kInverse>(in, out);
    });
    StaticFor<0, kM>([&](auto kc) {
      constexpr int k = decltype(kc)::value;
      float2 t[kR];
      StaticFor<0, kR>([&](auto rc) {
        constexpr int r = decltype(rc)::value;
        t[r] = TimesTwiddle<kN, r * k, kInverse>(out[kOut + r * kM + k]);
      });
      SmallDft<kR, kInverse>(t);
      StaticFor<0, kR>([&](auto qc) { out[kOut + k + decltype(qc)::value * kM] = t[decltype(qc)::value]; });
    });
  }
}

// In-place N-point FFT of v for any N of FirstRadix's factors: radix 2 where N is a power
// of two (the kernels' original, measured path), mixed radix otherwise.
template <int kN, bool kInverse>
__device__ __forceinline__ void SmoothFftInRegisters(float2 (&v)[kN]) {
  static_assert(HasRegisterRadices(kN), "register FFTs take sizes of FirstRadix's factors");
  if constexpr (IsPowerOfTwo(kN)) {
    FftInRegisters<kN, kInverse>(v);
  } else {
    float2 out[kN];
    DecimationInTime<kN, 0, 1, 0, kInverse>(v, out);
    StaticFor<0, kN>([&](auto i) { v[decltype(i)::value] = out[decltype(i)::value]; });
  }
}

// z = FFT(x + i y) for real x, y: X[k] = (Z[k] + conj Z[n-k]) / 2,
// Y[k] = (Z[k] - conj Z[n-k]) / 2i.
__device__ __forceinline__ void SeparateRealPair(float2 zk, float2 zn, float2* xk, float2* yk) {
  *xk = make_float2(0.5f * (zk.x + zn.x), 0.5f * (zk.y - zn.y));
  *yk = make_float2(0.5f * (zk.y + zn.y), -0.5f * (zk.x - zn.x));
}

// x / d and x % d for a divisor fixed at launch, by a multiply and a shift (Granlund and
// Montgomery): a hardware division costs about twenty instructions per element.
struct FastDivisor {
  uint32_t multiplier, shift;

  static FastDivisor For(uint32_t d) {
    uint32_t shift = 0;
    while ((uint64_t{1} << shift) < d) ++shift;
    const uint64_t multiplier = ((uint64_t{1} << 32) * ((uint64_t{1} << shift) - d)) / d + 1;
    return {static_cast<uint32_t>(multiplier), shift};
  }
  // Exact for x < 2^31.
  __device__ __forceinline__ int Divide(int x) const {
    return static_cast<int>((__umulhi(static_cast<uint32_t>(x), multiplier) + x) >> shift);
  }
};

// ---- Staging between global memory and the block's map regions ---------------------------
// Map j of a block owns shared[j * kRegion, (j + 1) * kRegion): complex words holding its
// half spectrum ([row][bin], kBins of them) or, viewed as floats, its real tile (rows
// kRealStride floats apart).
//
// Copies in go global -> shared asynchronously (cp.async, no registers held), all of a
// block's at once, then wait. The copy is latency-bound otherwise: with eight loads in
// flight per thread, a 128x128 block (256 threads, one block an SM) paid a DRAM round
// trip for every 8 KB of its 130 KB of maps.

// Places the block's `count` input maps (one contiguous run of rows x cols floats each) at
// (top, left) of their real tiles, which the caller has zeroed. Flat and coalesced; on
// return this thread's copies have landed (the caller syncs the block).
template <int kRegion, int kRealStride>
__device__ __forceinline__ void LoadRealMaps(const float* __restrict__ in, int64_t first,
                                             int count, int rows, int cols, int top, int left,
                                             FastDivisor map_size, FastDivisor row_size,
                                             float2* shared) {
  const int per_map = rows * cols;
  const int total = count * per_map;
  const float* block_in = in + first * per_map;
  for (int e = threadIdx.x; e < total; e += blockDim.x) {
    const int j = map_size.Divide(e);
    const int rest = e - j * per_map;
    const int r = row_size.Divide(rest);
    const int c = rest - r * cols;
    float* tile = reinterpret_cast<float*>(shared + j * kRegion);
    __pipeline_memcpy_async(tile + (top + r) * kRealStride + left + c, block_in + e,
                            sizeof(float));
  }
  __pipeline_commit();
  __pipeline_wait_prior(0);
}

// The window (rows x cols at top, left) of each real tile, times scale plus the map's
// bias, to the block's contiguous run of output maps. Each map's bias is looked up once
// (a 64-bit modulo per element cost about a tenth of the 32x32 inverse).
template <int kRegion, int kRealStride, int kMaps>
__device__ __forceinline__ void StoreRealMaps(const float2* shared, int64_t first, int count,
                                              int rows, int cols, int top, int left,
                                              float scale, const float* __restrict__ bias,
                                              int64_t bias_period, int64_t bias_phase,
                                              FastDivisor map_size, FastDivisor row_size,
                                              float* __restrict__ out) {
  __shared__ float map_bias[kMaps];
  if (threadIdx.x < kMaps) {
    map_bias[threadIdx.x] = bias != nullptr && static_cast<int>(threadIdx.x) < count
                                ? bias[(bias_phase + first + threadIdx.x) % bias_period]
                                : 0.0f;
  }
  __syncthreads();
  const int per_map = rows * cols;
  for (int e = threadIdx.x; e < count * per_map; e += blockDim.x) {
    const int j = map_size.Divide(e);
    const int rest = e - j * per_map;
    const int r = row_size.Divide(rest);
    const int c = rest - r * cols;
    const float* tile = reinterpret_cast<const float*>(shared + j * kRegion);
    out[first * per_map + e] = tile[(top + r) * kRealStride + left + c] * scale + map_bias[j];
  }
}

// Spectra to and from the regions. Bin-major ([bin][map]): consecutive threads take
// consecutive maps of a bin (runs of kMaps complex words in global memory; regions an odd
// number of words apart keep the shared accesses on distinct banks). Map-major
// ([map][bin]): the block's maps are one contiguous run, copied flat.
template <bool kMapMajor, int kMaps, int kBins>
struct SpectrumItem {
  int bin, j;
  __device__ __forceinline__ explicit SpectrumItem(int i)
      : bin(kMapMajor ? i % kBins : i / kMaps), j(kMapMajor ? i / kBins : i % kMaps) {}
  __device__ __forceinline__ int64_t Global(int64_t maps, int64_t first) const {
    return kMapMajor ? (first + j) * kBins + bin : bin * maps + first + j;
  }
};

template <bool kMapMajor, int kRegion, int kMaps, int kBins>
__device__ __forceinline__ void LoadSpectra(const float2* __restrict__ in, int64_t maps,
                                            int64_t first, int count, float2* shared) {
  for (int i = threadIdx.x; i < kMaps * kBins; i += blockDim.x) {
    const SpectrumItem<kMapMajor, kMaps, kBins> item(i);
    float2* slot = shared + item.j * kRegion + item.bin;
    if (item.j < count) {
      __pipeline_memcpy_async(slot, in + item.Global(maps, first), sizeof(float2));
    } else {
      *slot = make_float2(0.0f, 0.0f);
    }
  }
  __pipeline_commit();
  __pipeline_wait_prior(0);
}

template <bool kMapMajor, int kRegion, int kMaps, int kBins>
__device__ __forceinline__ void StoreSpectra(const float2* shared, int64_t maps, int64_t first,
                                             int count, float2* __restrict__ out) {
  for (int i = threadIdx.x; i < kMaps * kBins; i += blockDim.x) {
    const SpectrumItem<kMapMajor, kMaps, kBins> item(i);
    if (item.j < count) out[item.Global(maps, first)] = shared[item.j * kRegion + item.bin];
  }
}

__device__ __forceinline__ void ZeroShared(float2* shared, int words) {
  for (int i = threadIdx.x; i < words; i += blockDim.x) shared[i] = make_float2(0.0f, 0.0f);
}

// Host side: the blocks that cover `maps` maps at maps_per_block each (ThisBlocksMaps'
// numbering); false where that exceeds a grid's x dimension.
inline bool BlocksForMaps(int64_t maps, int maps_per_block, unsigned* blocks) {
  const int64_t needed = (maps + maps_per_block - 1) / maps_per_block;
  if (needed > 0x7fffffff) return false;
  *blocks = static_cast<unsigned>(needed);
  return true;
}

// Host side: launches `kernel` over `maps` maps with layout L's kMaps a block, kThreads
// threads and kSharedBytes of dynamic shared memory; cudaErrorInvalidValue where the grid
// would be too large.
template <typename L, typename Kernel, typename... Args>
cudaError_t LaunchOverMaps(Kernel kernel, int64_t maps, cudaStream_t stream, Args... args) {
  unsigned blocks;
  if (!BlocksForMaps(maps, L::kMaps, &blocks)) return cudaErrorInvalidValue;
  kernel<<<blocks, L::kThreads, L::kSharedBytes, stream>>>(args...);
  return cudaGetLastError();
}

// Host side: raises each kernel's dynamic shared-memory limit to `bytes`, stopping at the
// first error.
template <typename... Kernels>
cudaError_t RaiseSharedLimit(size_t bytes, Kernels... kernels) {
  cudaError_t error = cudaSuccess;
  ((error = error != cudaSuccess
                ? error
                : cudaFuncSetAttribute(kernels, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(bytes))),
   ...);
  return error;
}

// Host side: f(std::true_type) for map-major spectra, f(std::false_type) for bin-major, so
// that kernels take the order as a template argument.
template <typename F>
cudaError_t WithOrder(SpectrumOrder order, F&& f) {
  return order == SpectrumOrder::kMapMajor ? f(std::true_type{}) : f(std::false_type{});
}

// A window as the kernels take it: int, which the launchers have checked it fits (it lies
// inside a map of at most 128 x 128).
struct IntWindow {
  int rows, cols, top, left;
};

inline IntWindow IntWindowOf(const MapWindow& w) {
  return {static_cast<int>(w.rows), static_cast<int>(w.cols), static_cast<int>(w.top),
          static_cast<int>(w.left)};
}

// The maps of the batch that this block holds: [first, first + count), count <= kMaps.
struct BlockMaps {
  int64_t first;
  int count;
};

template <int kMaps>
__device__ __forceinline__ BlockMaps ThisBlocksMaps(int64_t maps) {
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kMaps;
  return {first, static_cast<int>(maps - first < kMaps ? maps - first : kMaps)};
}

// The forward kernels' first step: the block's input maps zero-padded into their real
// tiles, visible to the whole block on return.
template <int kRegion, int kRealStride, int kMaps>
__device__ __forceinline__ BlockMaps StageRealMapsIn(const float* __restrict__ in, int64_t maps,
                                                     int rows, int cols, int top, int left,
                                                     FastDivisor map_size, FastDivisor row_size,
                                                     float2* shared) {
  const BlockMaps b = ThisBlocksMaps<kMaps>(maps);
  ZeroShared(shared, kMaps * kRegion);
  __syncthreads();
  LoadRealMaps<kRegion, kRealStride>(in, b.first, b.count, rows, cols, top, left, map_size,
                                     row_size, shared);
  __syncthreads();
  return b;
}

}  // namespace fftrain::fftconv::register_fft

#endif  // FFTRAIN_FFTCONV_CUDA_KERNELS_REGISTER_FFT_DEVICE_CUH_
