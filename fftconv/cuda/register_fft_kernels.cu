#include "fftconv/cuda/register_fft_kernels.h"

#include <cstdint>
#include <type_traits>

namespace fftrain::fftconv {
namespace {

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

// x times the twiddle W_n^k; 1 and -+i cost nothing.
template <int kN, int kK, bool kInverse>
__device__ __forceinline__ float2 TimesTwiddle(float2 x) {
  if constexpr (kK % kN == 0) {
    return x;
  } else if constexpr (4 * (kK % kN) == kN) {
    return kInverse ? make_float2(-x.y, x.x) : make_float2(x.y, -x.x);
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

// z = FFT(x + i y) for real x, y: X[k] = (Z[k] + conj Z[n-k]) / 2,
// Y[k] = (Z[k] - conj Z[n-k]) / 2i.
__device__ __forceinline__ void SeparateRealPair(float2 zk, float2 zn, float2* xk, float2* yk) {
  *xk = make_float2(0.5f * (zk.x + zn.x), 0.5f * (zk.y - zn.y));
  *yk = make_float2(0.5f * (zk.y + zn.y), -0.5f * (zk.x - zn.x));
}

// x / d and x % d for a divisor fixed at launch, by a multiply and a shift (Granlund and
// Montgomery): a hardware division costs about twenty instructions per element.
struct FastDivisor {
  uint32_t divisor, multiplier, shift;

  static FastDivisor For(uint32_t d) {
    uint32_t shift = 0;
    while ((uint64_t{1} << shift) < d) ++shift;
    const uint64_t multiplier = ((uint64_t{1} << 32) * ((uint64_t{1} << shift) - d)) / d + 1;
    return {d, static_cast<uint32_t>(multiplier), shift};
  }
  // Exact for x < 2^31.
  __device__ __forceinline__ int Divide(int x) const {
    return static_cast<int>((__umulhi(static_cast<uint32_t>(x), multiplier) + x) >> shift);
  }
};

// Loads in flight per thread when staging global memory through shared memory: the
// copies are latency-bound unless each thread has several outstanding.
constexpr int kLoadsInFlight = 8;

// ---- Block layout -----------------------------------------------------------------------

// One block holds kMaps maps; map j's region in shared memory holds its half spectrum
// (kN rows of kHalf bins) or, before and after, its real kN x kN tile (rows kN + 1 floats
// apart). Regions are an odd number of complex words apart so that the spectrum copies,
// where consecutive threads take consecutive maps, hit distinct banks.
template <int kN>
struct Layout {
  static constexpr int kHalf = kN / 2 + 1;
  static constexpr int kBins = kN * kHalf;
  static constexpr int kRegion = kBins + 1;  // complex words per map
  static constexpr int kRealStride = kN + 1;
  static constexpr int kLines = kN / 2;      // threads per map
  // 64-point lines need twice the registers; fewer threads keep two blocks per SM.
  static constexpr int kThreads = kN >= 64 ? 128 : 256;
  static constexpr int kMaps = kThreads / kLines;
  static constexpr size_t kSharedBytes = sizeof(float2) * kMaps * kRegion;
};

// Forward, rows then columns. Thread `line` of map j transforms rows (line, line + N/2),
// then column `line` (line 0: columns 0 and N/2, both real-valued, as one complex column).
template <int kN>
__global__ void __launch_bounds__(Layout<kN>::kThreads)
    RegisterRealToHalfSpectrumKernel(const float* __restrict__ in, int64_t maps, int rows,
                                     int cols, int top, int left, FastDivisor map_size,
                                     FastDivisor row_size, float2* __restrict__ out) {
  using L = Layout<kN>;
  extern __shared__ float2 shared[];
  const int64_t first = static_cast<int64_t>(blockIdx.x) * L::kMaps;
  const int count = static_cast<int>(maps - first < L::kMaps ? maps - first : L::kMaps);

  for (int i = threadIdx.x; i < L::kMaps * L::kRegion; i += blockDim.x) shared[i] = make_float2(0.0f, 0.0f);
  __syncthreads();
  // The block's maps are one contiguous run of the input: read it flat, coalesced, with
  // kLoadsInFlight loads per thread issued before any is placed.
  const int per_map = rows * cols;
  const int total = count * per_map;
  const float* block_in = in + first * per_map;
  for (int base = threadIdx.x; base < total; base += kLoadsInFlight * blockDim.x) {
    float values[kLoadsInFlight];
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u) {
      const int e = base + u * blockDim.x;
      values[u] = e < total ? block_in[e] : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u) {
      const int e = base + u * blockDim.x;
      if (e >= total) break;
      const int j = map_size.Divide(e);
      const int rest = e - j * per_map;
      const int r = row_size.Divide(rest);
      const int c = rest - r * cols;
      reinterpret_cast<float*>(shared + j * L::kRegion)[(top + r) * L::kRealStride + left + c] =
          values[u];
    }
  }
  __syncthreads();

  const int line = threadIdx.x % L::kLines;
  const int j = threadIdx.x / L::kLines;
  float2* region = shared + j * L::kRegion;
  const float* real = reinterpret_cast<const float*>(region);
  float2 v[kN];
  // Rows wholly outside the window are zero and so are their spectra.
  const bool rows_hold_data = (line >= top && line < top + rows) ||
                              (line + kN / 2 >= top && line + kN / 2 < top + rows);
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    v[n] = make_float2(real[line * L::kRealStride + n], real[(line + kN / 2) * L::kRealStride + n]);
  }
  __syncthreads();  // the real tiles are read; their regions now take spectra
  if (rows_hold_data) FftInRegisters<kN, false>(v);
#pragma unroll
  for (int k = 0; k <= kN / 2; ++k) {
    float2 a, b;
    SeparateRealPair(v[k], v[(kN - k) % kN], &a, &b);
    region[line * L::kHalf + k] = a;
    region[(line + kN / 2) * L::kHalf + k] = b;
  }
  __syncthreads();

  if (line == 0) {
#pragma unroll
    for (int r = 0; r < kN; ++r) v[r] = make_float2(region[r * L::kHalf].x, region[r * L::kHalf + kN / 2].x);
  } else {
#pragma unroll
    for (int r = 0; r < kN; ++r) v[r] = region[r * L::kHalf + line];
  }
  FftInRegisters<kN, false>(v);
  if (line == 0) {
#pragma unroll
    for (int k = 0; k < kN; ++k) {
      float2 a, b;
      SeparateRealPair(v[k], v[(kN - k) % kN], &a, &b);
      region[k * L::kHalf] = a;
      region[k * L::kHalf + kN / 2] = b;
    }
  } else {
#pragma unroll
    for (int k = 0; k < kN; ++k) region[k * L::kHalf + line] = v[k];
  }
  __syncthreads();

  // Consecutive threads take consecutive maps of a bin: runs of kMaps complex words.
  for (int i = threadIdx.x; i < L::kMaps * L::kBins; i += blockDim.x) {
    const int bin = i / L::kMaps;
    const int jj = i % L::kMaps;
    if (jj < count) out[bin * maps + first + jj] = shared[jj * L::kRegion + bin];
  }
}

// Inverse, columns then rows, the forward's steps in reverse: column `line` (line 0:
// columns 0 and N/2 as c0 + i cN/2, whose inverses are real), then rows (line, line + N/2)
// as one complex row A + iB extended by Hermitian symmetry.
template <int kN>
__global__ void __launch_bounds__(Layout<kN>::kThreads)
    RegisterHalfSpectrumToRealKernel(const float2* __restrict__ in, int64_t maps, int rows,
                                     int cols, int top, int left, float scale,
                                     const float* __restrict__ bias, int64_t bias_period,
                                     int64_t bias_phase, FastDivisor map_size,
                                     FastDivisor row_size, float* __restrict__ out) {
  using L = Layout<kN>;
  extern __shared__ float2 shared[];
  const int64_t first = static_cast<int64_t>(blockIdx.x) * L::kMaps;
  const int count = static_cast<int>(maps - first < L::kMaps ? maps - first : L::kMaps);

  // Consecutive threads take consecutive maps of a bin, kLoadsInFlight loads at a time.
  constexpr int kItems = L::kMaps * L::kBins;
  for (int base = threadIdx.x; base < kItems; base += kLoadsInFlight * blockDim.x) {
    float2 values[kLoadsInFlight];
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u) {
      const int i = base + u * blockDim.x;
      const int jj = i % L::kMaps;
      values[u] = i < kItems && jj < count ? in[(i / L::kMaps) * maps + first + jj]
                                           : make_float2(0.0f, 0.0f);
    }
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u) {
      const int i = base + u * blockDim.x;
      if (i < kItems) shared[(i % L::kMaps) * L::kRegion + i / L::kMaps] = values[u];
    }
  }
  __syncthreads();

  const int line = threadIdx.x % L::kLines;
  const int j = threadIdx.x / L::kLines;
  float2* region = shared + j * L::kRegion;
  float2 v[kN];
  if (line == 0) {
#pragma unroll
    for (int r = 0; r < kN; ++r) {
      const float2 c0 = region[r * L::kHalf], cn = region[r * L::kHalf + kN / 2];
      v[r] = make_float2(c0.x - cn.y, c0.y + cn.x);
    }
  } else {
#pragma unroll
    for (int r = 0; r < kN; ++r) v[r] = region[r * L::kHalf + line];
  }
  FftInRegisters<kN, true>(v);
  if (line == 0) {
#pragma unroll
    for (int r = 0; r < kN; ++r) {
      region[r * L::kHalf] = make_float2(v[r].x, 0.0f);
      region[r * L::kHalf + kN / 2] = make_float2(v[r].y, 0.0f);
    }
  } else {
#pragma unroll
    for (int r = 0; r < kN; ++r) region[r * L::kHalf + line] = v[r];
  }
  __syncthreads();

  // Rows outside the output window are not needed.
  const bool rows_needed = (line >= top && line < top + rows) ||
                           (line + kN / 2 >= top && line + kN / 2 < top + rows);
  const float2* row_a = region + line * L::kHalf;
  const float2* row_b = region + (line + kN / 2) * L::kHalf;
#pragma unroll
  for (int k = 0; k <= kN / 2; ++k) {
    const float2 a = row_a[k], b = row_b[k];
    v[k] = make_float2(a.x - b.y, a.y + b.x);
    if (k > 0 && k < kN / 2) v[kN - k] = make_float2(a.x + b.y, b.x - a.y);
  }
  __syncthreads();  // the spectra are read; the regions now take real tiles
  if (rows_needed) {
    FftInRegisters<kN, true>(v);
    float* real = reinterpret_cast<float*>(region);
#pragma unroll
    for (int n = 0; n < kN; ++n) {
      real[line * L::kRealStride + n] = v[n].x;
      real[(line + kN / 2) * L::kRealStride + n] = v[n].y;
    }
  }
  __syncthreads();

  // The block's output maps are one contiguous run: written flat, coalesced.
  const int per_map = rows * cols;
  for (int e = threadIdx.x; e < count * per_map; e += blockDim.x) {
    const int jj = map_size.Divide(e);
    const int rest = e - jj * per_map;
    const int r = row_size.Divide(rest);
    const int c = rest - r * cols;
    const float bias_j = bias != nullptr ? bias[(bias_phase + first + jj) % bias_period] : 0.0f;
    const float* tile = reinterpret_cast<const float*>(shared + jj * L::kRegion);
    out[first * per_map + e] = tile[(top + r) * L::kRealStride + left + c] * scale + bias_j;
  }
}

template <int kN>
cudaError_t RaiseSharedLimit() {
  cudaError_t error = cudaFuncSetAttribute(RegisterRealToHalfSpectrumKernel<kN>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(Layout<kN>::kSharedBytes));
  if (error != cudaSuccess) return error;
  return cudaFuncSetAttribute(RegisterHalfSpectrumToRealKernel<kN>,
                              cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(Layout<kN>::kSharedBytes));
}

template <int kN>
cudaError_t LaunchForward(const float* in, int64_t maps, int rows, int cols, int top, int left,
                          float2* out, cudaStream_t stream) {
  using L = Layout<kN>;
  const int64_t blocks = (maps + L::kMaps - 1) / L::kMaps;
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  RegisterRealToHalfSpectrumKernel<kN><<<static_cast<unsigned>(blocks), L::kThreads,
                                         L::kSharedBytes, stream>>>(
      in, maps, rows, cols, top, left, FastDivisor::For(rows * cols), FastDivisor::For(cols), out);
  return cudaGetLastError();
}

template <int kN>
cudaError_t LaunchInverse(const float2* in, int64_t maps, int rows, int cols, int top, int left,
                          float scale, const float* bias, int64_t bias_period,
                          int64_t bias_phase, float* out, cudaStream_t stream) {
  using L = Layout<kN>;
  const int64_t blocks = (maps + L::kMaps - 1) / L::kMaps;
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  RegisterHalfSpectrumToRealKernel<kN><<<static_cast<unsigned>(blocks), L::kThreads,
                                         L::kSharedBytes, stream>>>(
      in, maps, rows, cols, top, left, scale, bias, bias_period, bias_phase,
      FastDivisor::For(rows * cols), FastDivisor::For(cols), out);
  return cudaGetLastError();
}

// The window must lie inside the transform for the inverse (it reads the tile there);
// the forward clips, as zero padding would.
bool WindowFits(int64_t n, int64_t rows, int64_t cols, int64_t top, int64_t left) {
  return rows > 0 && cols > 0 && top >= 0 && left >= 0 && top + rows <= n && left + cols <= n;
}

}  // namespace

bool RegisterFftSupports(int64_t fft_h, int64_t fft_w) {
  return fft_h == fft_w && (fft_h == 8 || fft_h == 16 || fft_h == 32 || fft_h == 64);
}

cudaError_t PrepareRegisterFft() {
  for (cudaError_t error : {RaiseSharedLimit<8>(), RaiseSharedLimit<16>(),
                            RaiseSharedLimit<32>(), RaiseSharedLimit<64>()}) {
    if (error != cudaSuccess) return error;
  }
  return cudaSuccess;
}

cudaError_t LaunchRegisterRealToHalfSpectrum(const float* maps_in, int64_t maps, int64_t rows,
                                             int64_t cols, int64_t top, int64_t left,
                                             int64_t n, float2* spectrum, cudaStream_t stream) {
  if (!RegisterFftSupports(n, n) || maps <= 0 || !WindowFits(n, rows, cols, top, left)) {
    return cudaErrorInvalidValue;
  }
  const int r = static_cast<int>(rows), c = static_cast<int>(cols);
  const int t = static_cast<int>(top), l = static_cast<int>(left);
  switch (n) {
    case 8: return LaunchForward<8>(maps_in, maps, r, c, t, l, spectrum, stream);
    case 16: return LaunchForward<16>(maps_in, maps, r, c, t, l, spectrum, stream);
    case 32: return LaunchForward<32>(maps_in, maps, r, c, t, l, spectrum, stream);
    default: return LaunchForward<64>(maps_in, maps, r, c, t, l, spectrum, stream);
  }
}

cudaError_t LaunchRegisterHalfSpectrumToReal(const float2* spectrum, int64_t maps, int64_t n,
                                             int64_t rows, int64_t cols, int64_t top,
                                             int64_t left, float scale, const float* bias,
                                             int64_t bias_period, int64_t bias_phase,
                                             float* maps_out, cudaStream_t stream) {
  if (!RegisterFftSupports(n, n) || maps <= 0 || !WindowFits(n, rows, cols, top, left) ||
      (bias != nullptr && bias_period <= 0)) {
    return cudaErrorInvalidValue;
  }
  const int r = static_cast<int>(rows), c = static_cast<int>(cols);
  const int t = static_cast<int>(top), l = static_cast<int>(left);
  switch (n) {
    case 8: return LaunchInverse<8>(spectrum, maps, r, c, t, l, scale, bias, bias_period, bias_phase, maps_out, stream);
    case 16: return LaunchInverse<16>(spectrum, maps, r, c, t, l, scale, bias, bias_period, bias_phase, maps_out, stream);
    case 32: return LaunchInverse<32>(spectrum, maps, r, c, t, l, scale, bias, bias_period, bias_phase, maps_out, stream);
    default: return LaunchInverse<64>(spectrum, maps, r, c, t, l, scale, bias, bias_period, bias_phase, maps_out, stream);
  }
}

}  // namespace fftrain::fftconv
