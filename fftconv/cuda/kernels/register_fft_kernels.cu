#include "fftconv/cuda/kernels/register_fft_kernels.h"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <type_traits>
#include <utility>

#include "fftconv/cuda/kernels/register_fft128_kernels.h"
#include "fftconv/cuda/kernels/register_fft_device.cuh"

namespace fftrain::fftconv {
namespace {

using register_fft::FastDivisor;
using register_fft::IntWindow;
using register_fft::IntWindowOf;
using register_fft::LaunchOverMaps;
using register_fft::RaiseSharedLimit;
using register_fft::SmoothFftInRegisters;
using register_fft::LoadSpectra;
using register_fft::SeparateRealPair;
using register_fft::StoreRealMaps;
using register_fft::StageRealMapsIn;
using register_fft::StoreSpectra;
using register_fft::ThisBlocksMaps;
using register_fft::WithOrder;

// ---- Block layout -----------------------------------------------------------------------

// One block holds kMaps maps; map j's region in shared memory holds its half spectrum
// (kN rows of kHalf bins) or, before and after, its real kN x kN tile (rows kN + 1 floats
// apart). Regions are an odd number of complex words apart so that the spectrum copies,
// where consecutive threads take consecutive maps, hit distinct banks.
//
// Even sides pair rows (line, line + N/2) and columns 0 and N/2, both real-valued, so N/2
// threads cover a map. An odd side (13: L5's 13x13 input, 91 bins where 14x14 has 112)
// has no bin N/2: its (N + 1) / 2 threads pair rows (line, line + (N + 1) / 2), the last
// thread's second row being outside the map, and take one column each.
template <int kN>
struct Layout {
  static constexpr bool kEven = kN % 2 == 0;
  static constexpr int kHalf = kN / 2 + 1;
  static constexpr int kBins = kN * kHalf;
  static constexpr int kRegion = kBins | 1;  // complex words per map; the real tile fits
  static_assert(2 * kRegion >= kN * (kN + 1), "a region holds the real tile");
  static constexpr int kRealStride = kN + 1;
  static constexpr int kLines = (kN + 1) / 2;  // threads per map
  // Lines of 40 points and more need twice the registers; fewer threads keep several
  // blocks per SM. Sides that are not powers of two take the whole maps that fit.
  static constexpr int kMaps = (kN >= 40 ? 128 : 256) / kLines;
  static constexpr int kThreads = kMaps * kLines;
  // Three blocks per SM (as shared memory allows at 32 and 64) let one block's copies
  // overlap another's transforms. It caps 64 at 168 registers and 32 at 85, without
  // spills; the cp.async copies otherwise let ptxas spend more (32: 114, two blocks).
  // Mixed-radix lines hold more temporaries: at three blocks 28, 40 and 56 spilled.
  static constexpr int kMinBlocksPerSm = register_fft::IsPowerOfTwo(kN) ? 3 : 2;
  static constexpr size_t kSharedBytes = sizeof(float2) * kMaps * kRegion;
  // Row `line + kLines` exists for every line of an even side, for all but the last of
  // an odd one.
  __device__ static bool HasSecondRow(int line) { return kEven || line + kLines < kN; }
};

// Forward, rows then columns. Thread `line` of map j transforms rows (line, line + kLines),
// then column `line` (even sides, line 0: columns 0 and N/2, both real-valued, as one
// complex column).
template <int kN, bool kMapMajor>
__global__ void __launch_bounds__(Layout<kN>::kThreads, Layout<kN>::kMinBlocksPerSm)
    RegisterRealToHalfSpectrumKernel(const float* __restrict__ in, int64_t maps, int rows,
                                     int cols, int top, int left, FastDivisor map_size,
                                     FastDivisor row_size, float2* __restrict__ out) {
  using L = Layout<kN>;
  extern __shared__ float2 shared[];
  const auto [first, count] = StageRealMapsIn<L::kRegion, L::kRealStride, L::kMaps>(
      in, maps, rows, cols, top, left, map_size, row_size, shared);

  const int line = threadIdx.x % L::kLines;
  const int j = threadIdx.x / L::kLines;
  const int line_b = line + L::kLines;
  const bool has_b = L::HasSecondRow(line);
  float2* region = shared + j * L::kRegion;
  const float* real = reinterpret_cast<const float*>(region);
  float2 v[kN];
  // Rows wholly outside the window are zero and so are their spectra.
  const bool rows_hold_data = (line >= top && line < top + rows) ||
                              (has_b && line_b >= top && line_b < top + rows);
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    v[n] = make_float2(real[line * L::kRealStride + n],
                       has_b ? real[line_b * L::kRealStride + n] : 0.0f);
  }
  __syncthreads();  // the real tiles are read; their regions now take spectra
  if (rows_hold_data) SmoothFftInRegisters<kN, false>(v);
#pragma unroll
  for (int k = 0; k < L::kHalf; ++k) {
    float2 a, b;
    SeparateRealPair(v[k], v[(kN - k) % kN], &a, &b);
    region[line * L::kHalf + k] = a;
    if (has_b) region[line_b * L::kHalf + k] = b;
  }
  __syncthreads();

  const bool paired_columns = L::kEven && line == 0;
  if (paired_columns) {
#pragma unroll
    for (int r = 0; r < kN; ++r) v[r] = make_float2(region[r * L::kHalf].x, region[r * L::kHalf + kN / 2].x);
  } else {
#pragma unroll
    for (int r = 0; r < kN; ++r) v[r] = region[r * L::kHalf + line];
  }
  SmoothFftInRegisters<kN, false>(v);
  if (paired_columns) {
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

  StoreSpectra<kMapMajor, L::kRegion, L::kMaps, L::kBins>(shared, maps, first, count, out);
}

// Inverse, columns then rows, the forward's steps in reverse: column `line` (even sides,
// line 0: columns 0 and N/2 as c0 + i cN/2, whose inverses are real), then rows (line,
// line + kLines) as one complex row A + iB extended by Hermitian symmetry. Column 0's
// inverse is real for a Hermitian spectrum; its imaginary part, rounding or the products'
// asymmetry, is dropped as C2R transforms drop it.
template <int kN, bool kMapMajor>
__global__ void __launch_bounds__(Layout<kN>::kThreads, Layout<kN>::kMinBlocksPerSm)
    RegisterHalfSpectrumToRealKernel(const float2* __restrict__ in, int64_t maps, int rows,
                                     int cols, int top, int left, float scale,
                                     const float* __restrict__ bias, int64_t bias_period,
                                     int64_t bias_phase, FastDivisor map_size,
                                     FastDivisor row_size, float* __restrict__ out) {
  using L = Layout<kN>;
  extern __shared__ float2 shared[];
  const auto [first, count] = ThisBlocksMaps<L::kMaps>(maps);

  LoadSpectra<kMapMajor, L::kRegion, L::kMaps, L::kBins>(in, maps, first, count, shared);
  __syncthreads();

  const int line = threadIdx.x % L::kLines;
  const int j = threadIdx.x / L::kLines;
  const int line_b = line + L::kLines;
  const bool has_b = L::HasSecondRow(line);
  const bool paired_columns = L::kEven && line == 0;
  float2* region = shared + j * L::kRegion;
  float2 v[kN];
  if (paired_columns) {
#pragma unroll
    for (int r = 0; r < kN; ++r) {
      const float2 c0 = region[r * L::kHalf], cn = region[r * L::kHalf + kN / 2];
      v[r] = make_float2(c0.x - cn.y, c0.y + cn.x);
    }
  } else {
#pragma unroll
    for (int r = 0; r < kN; ++r) v[r] = region[r * L::kHalf + line];
  }
  SmoothFftInRegisters<kN, true>(v);
  if (paired_columns) {
#pragma unroll
    for (int r = 0; r < kN; ++r) {
      region[r * L::kHalf] = make_float2(v[r].x, 0.0f);
      region[r * L::kHalf + kN / 2] = make_float2(v[r].y, 0.0f);
    }
  } else if (line == 0) {
#pragma unroll
    for (int r = 0; r < kN; ++r) region[r * L::kHalf] = make_float2(v[r].x, 0.0f);
  } else {
#pragma unroll
    for (int r = 0; r < kN; ++r) region[r * L::kHalf + line] = v[r];
  }
  __syncthreads();

  // Rows outside the output window are not needed.
  const bool rows_needed = (line >= top && line < top + rows) ||
                           (has_b && line_b >= top && line_b < top + rows);
  const float2* row_a = region + line * L::kHalf;
  const float2* row_b = region + line_b * L::kHalf;
#pragma unroll
  for (int k = 0; k < L::kHalf; ++k) {
    const float2 a = row_a[k], b = has_b ? row_b[k] : make_float2(0.0f, 0.0f);
    v[k] = make_float2(a.x - b.y, a.y + b.x);
    if (k > 0 && 2 * k != kN) v[kN - k] = make_float2(a.x + b.y, b.x - a.y);
  }
  __syncthreads();  // the spectra are read; the regions now take real tiles
  if (rows_needed) {
    SmoothFftInRegisters<kN, true>(v);
    float* real = reinterpret_cast<float*>(region);
#pragma unroll
    for (int n = 0; n < kN; ++n) {
      real[line * L::kRealStride + n] = v[n].x;
      if (has_b) real[line_b * L::kRealStride + n] = v[n].y;
    }
  }
  __syncthreads();

  StoreRealMaps<L::kRegion, L::kRealStride, L::kMaps>(shared, first, count, rows, cols, top,
                                                      left, scale, bias, bias_period,
                                                      bias_phase, map_size, row_size, out);
}

template <int kN>
cudaError_t RaiseSharedLimits() {
  return RaiseSharedLimit(Layout<kN>::kSharedBytes, RegisterRealToHalfSpectrumKernel<kN, false>,
                          RegisterHalfSpectrumToRealKernel<kN, false>,
                          RegisterRealToHalfSpectrumKernel<kN, true>,
                          RegisterHalfSpectrumToRealKernel<kN, true>);
}

// The window must lie inside the transform for the inverse (it reads the tile there);
// the forward clips, as zero padding would.
bool WindowFits(int64_t n, const MapWindow& w) {
  return w.rows > 0 && w.cols > 0 && w.top >= 0 && w.left >= 0 && w.top + w.rows <= n &&
         w.left + w.cols <= n;
}

// Calls f with kRegisterFftSides[I] as a compile-time constant if it is n; 128 has kernels
// of its own (register_fft128_kernels.h) and is never instantiated here.
template <size_t I, typename F>
bool CallIfSide(int64_t n, F& f, cudaError_t* result) {
  constexpr int kSide = static_cast<int>(kRegisterFftSides[I]);
  if constexpr (kSide == 128) {
    return false;
  } else {
    if (n != kSide) return false;
    *result = f(std::integral_constant<int, kSide>{});
    return true;
  }
}

template <typename F, size_t... I>
cudaError_t WithSide(int64_t n, F&& f, std::index_sequence<I...>) {
  cudaError_t result = cudaErrorInvalidValue;
  (CallIfSide<I>(n, f, &result) || ...);
  return result;
}

// Calls f with side n as a compile-time constant, for every side of kRegisterFftSides but
// 128; cudaErrorInvalidValue for any other.
template <typename F>
cudaError_t WithSide(int64_t n, F&& f) {
  return WithSide(n, f, std::make_index_sequence<std::size(kRegisterFftSides)>{});
}

}  // namespace

bool RegisterFftSupports(int64_t fft_h, int64_t fft_w) {
  return fft_h == fft_w && RegisterFftSideAtLeast(fft_h) == fft_h;
}

namespace {

// What both launchers require: a square size of kRegisterFftSides, maps, and a window
// inside the map.
bool Launchable(const MapBatch& b) {
  return RegisterFftSupports(b.fft_h, b.fft_w) && b.maps > 0 && WindowFits(b.fft_h, b.window);
}

}  // namespace

cudaError_t PrepareRegisterFft() {
  for (int64_t side : kRegisterFftSides) {
    const cudaError_t error =
        side == 128 ? PrepareRegisterFft128()
                    : WithSide(side, [](auto n) { return RaiseSharedLimits<decltype(n)::value>(); });
    if (error != cudaSuccess) return error;
  }
  return cudaSuccess;
}

cudaError_t LaunchRegisterRealToHalfSpectrum(const RealToHalfSpectrumParams& p,
                                             cudaStream_t stream) {
  if (!Launchable(p.batch)) return cudaErrorInvalidValue;
  if (p.batch.fft_h == 128) return LaunchRegisterFft128Forward(p, stream);
  const IntWindow w = IntWindowOf(p.batch.window);
  return WithSide(p.batch.fft_h, [&](auto side) {
    return WithOrder(p.order, [&](auto map_major) {
      constexpr int kN = decltype(side)::value;
      return LaunchOverMaps<Layout<kN>>(
          RegisterRealToHalfSpectrumKernel<kN, decltype(map_major)::value>, p.batch.maps,
          stream, p.maps_in, p.batch.maps, w.rows, w.cols, w.top, w.left,
          FastDivisor::For(w.rows * w.cols), FastDivisor::For(w.cols), p.spectrum);
    });
  });
}

cudaError_t LaunchRegisterHalfSpectrumToReal(const HalfSpectrumToRealParams& p,
                                             cudaStream_t stream) {
  if (!Launchable(p.batch) || (p.bias.values != nullptr && p.bias.period <= 0)) {
    return cudaErrorInvalidValue;
  }
  if (p.batch.fft_h == 128) return LaunchRegisterFft128Inverse(p, stream);
  const IntWindow w = IntWindowOf(p.batch.window);
  return WithSide(p.batch.fft_h, [&](auto side) {
    return WithOrder(p.order, [&](auto map_major) {
      constexpr int kN = decltype(side)::value;
      return LaunchOverMaps<Layout<kN>>(
          RegisterHalfSpectrumToRealKernel<kN, decltype(map_major)::value>, p.batch.maps,
          stream, p.spectrum, p.batch.maps, w.rows, w.cols, w.top, w.left, p.scale,
          p.bias.values, p.bias.period, p.bias.phase, FastDivisor::For(w.rows * w.cols),
          FastDivisor::For(w.cols), p.maps_out);
    });
  });
}

}  // namespace fftrain::fftconv
