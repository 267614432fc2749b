#include "fftconv/cuda/kernels/batched_fft_kernels.h"

#include <algorithm>

namespace fftrain::fftconv {
namespace {

constexpr int kMaxThreads = 1024;

// A 128x128 transform fills a block's shared memory with one map: more threads keep the
// SM busy there; 256 is best below (docs/profiling.md, "Design choices and their
// measurements").
int ThreadsFor(int64_t fh, int64_t fw) { return fh * fw >= 128 * 128 ? 1024 : 256; }
// Shared memory a block aims for: about two blocks per SM on Hopper (227 KB each).
constexpr size_t kTargetBlockBytes = 100 * 1024;
constexpr int kMaxMapsPerBlock = 32;

int Log2(int64_t n) {
  int log = 0;
  while ((int64_t{1} << log) < n) ++log;
  return log;
}

// Rows are padded by one element so that column passes (stride fw+1) spread over banks.
size_t MapBytes(int64_t fh, int64_t fw) { return sizeof(float2) * fh * (fw + 1); }
size_t TwiddleBytes(int64_t fh, int64_t fw) {
  return sizeof(float2) * (std::max<int64_t>(fw / 2, 1) + std::max<int64_t>(fh / 2, 1));
}

int MapsPerBlock(int64_t fh, int64_t fw) {
  int maps = 1;
  while (maps < kMaxMapsPerBlock &&
         TwiddleBytes(fh, fw) + 2 * maps * MapBytes(fh, fw) <= kTargetBlockBytes) {
    maps *= 2;
  }
  return maps;
}

size_t SharedBytes(int64_t fh, int64_t fw) {
  return TwiddleBytes(fh, fw) + MapsPerBlock(fh, fw) * MapBytes(fh, fw);
}

__device__ __forceinline__ float2 Mul(float2 a, float2 b) {
  return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}

__device__ __forceinline__ int BitReverse(int x, int log2n) {
  return log2n == 0 ? 0 : static_cast<int>(__brev(static_cast<unsigned>(x)) >> (32 - log2n));
}

// twiddles[k] = exp(-2 pi i k / n) for k < n/2; sincospif is accurate to an ulp or two,
// unlike the fast intrinsics.
__device__ void FillTwiddles(float2* twiddles, int n) {
  for (int k = threadIdx.x; k < n / 2; k += blockDim.x) {
    float s, c;
    sincospif(-2.0f * static_cast<float>(k) / static_cast<float>(n), &s, &c);
    twiddles[k] = make_float2(c, s);
  }
}

// Where the lines of a pass are: line l of map j starts at j*map_stride + l*line_stride,
// and its elements are elem_stride apart.
struct Lines {
  int count;          // lines in all maps
  int per_map;
  int map_stride;
  int line_stride;
  int elem_stride;
};

__device__ __forceinline__ float2 Add(float2 a, float2 b) { return make_float2(a.x + b.x, a.y + b.y); }
__device__ __forceinline__ float2 Sub(float2 a, float2 b) { return make_float2(a.x - b.x, a.y - b.y); }

// Twiddle exp(-+2 pi i k / 2^s) of stage s (span 2^s) from the line's table.
template <bool kInverse>
__device__ __forceinline__ float2 StageTwiddle(const float2* twiddles, int log2n, int s, int k) {
  float2 w = twiddles[k << (log2n - s)];
  if (kInverse) w.y = -w.y;
  return w;
}

// Radix-2 passes over every line, two stages at a time where it can (radix 4: each
// thread keeps the four elements two consecutive stages share in registers, so shared
// memory is read and written half as often). Decimation in time (kInFrequency false)
// takes its input in bit-reversed order and gives natural order; decimation in frequency
// takes natural order and gives bit-reversed. Inverse uses the conjugate twiddles (no
// 1/n: callers scale).
template <bool kInFrequency, bool kInverse>
__device__ __forceinline__ void Radix2Passes(float2* tile, const Lines& lines, int log2n,
                                             const float2* twiddles) {
  if (log2n == 0) return;
  const int es = lines.elem_stride;
  // Stages in the order they run: DIT spans 2, 4, ..., n; DIF n, ..., 4, 2.
  int pass = 1;
  while (pass <= log2n) {
    const int s = kInFrequency ? log2n + 1 - pass : pass;
    const bool pair = pass + 1 <= log2n;
    if (pair) {
      // Stages lo and lo+1 (spans 2^lo and 2^(lo+1)) act on {i0, i0+h, i0+2h, i0+3h},
      // h = 2^(lo-1), with bits lo-1 and lo of i0 clear.
      const int lo = kInFrequency ? s - 1 : s;
      const int h = 1 << (lo - 1);
      const int quarter_n = 1 << (log2n - 2);
      const int total = lines.count * quarter_n;
      for (int t = threadIdx.x; t < total; t += blockDim.x) {
        const int line = t >> (log2n - 2);
        const int g = t & (quarter_n - 1);
        const int k = g & (h - 1);
        const int i0 = ((g >> (lo - 1)) << (lo + 1)) + k;
        const int map = line / lines.per_map;
        float2* base = tile + map * lines.map_stride + (line - map * lines.per_map) * lines.line_stride;
        float2 a0 = base[i0 * es], a1 = base[(i0 + h) * es];
        float2 a2 = base[(i0 + 2 * h) * es], a3 = base[(i0 + 3 * h) * es];
        const float2 w_lo = StageTwiddle<kInverse>(twiddles, log2n, lo, k);
        const float2 w_hi0 = StageTwiddle<kInverse>(twiddles, log2n, lo + 1, k);
        const float2 w_hi1 = StageTwiddle<kInverse>(twiddles, log2n, lo + 1, k + h);
        if (!kInFrequency) {
          // Stage lo: (a0, a1), (a2, a3); then stage lo+1: (a0, a2), (a1, a3).
          float2 c = Mul(w_lo, a1);
          a1 = Sub(a0, c);
          a0 = Add(a0, c);
          c = Mul(w_lo, a3);
          a3 = Sub(a2, c);
          a2 = Add(a2, c);
          c = Mul(w_hi0, a2);
          a2 = Sub(a0, c);
          a0 = Add(a0, c);
          c = Mul(w_hi1, a3);
          a3 = Sub(a1, c);
          a1 = Add(a1, c);
        } else {
          // Stage lo+1: (a0, a2), (a1, a3); then stage lo: (a0, a1), (a2, a3).
          float2 d = Sub(a0, a2);
          a0 = Add(a0, a2);
          a2 = Mul(w_hi0, d);
          d = Sub(a1, a3);
          a1 = Add(a1, a3);
          a3 = Mul(w_hi1, d);
          d = Sub(a0, a1);
          a0 = Add(a0, a1);
          a1 = Mul(w_lo, d);
          d = Sub(a2, a3);
          a2 = Add(a2, a3);
          a3 = Mul(w_lo, d);
        }
        base[i0 * es] = a0;
        base[(i0 + h) * es] = a1;
        base[(i0 + 2 * h) * es] = a2;
        base[(i0 + 3 * h) * es] = a3;
      }
      pass += 2;
    } else {
      const int half = 1 << (s - 1);
      const int half_n = 1 << (log2n - 1);
      const int total = lines.count * half_n;
      for (int t = threadIdx.x; t < total; t += blockDim.x) {
        const int line = t >> (log2n - 1);
        const int b = t & (half_n - 1);
        const int k = b & (half - 1);
        const int i0 = ((b >> (s - 1)) << s) + k;
        const int map = line / lines.per_map;
        float2* base = tile + map * lines.map_stride + (line - map * lines.per_map) * lines.line_stride;
        const float2 w = StageTwiddle<kInverse>(twiddles, log2n, s, k);
        const float2 a = base[i0 * es];
        float2 c = base[(i0 + half) * es];
        if (!kInFrequency) c = Mul(w, c);
        const float2 difference = Sub(a, c);
        base[i0 * es] = Add(a, c);
        base[(i0 + half) * es] = kInFrequency ? Mul(w, difference) : difference;
      }
      pass += 1;
    }
    __syncthreads();
  }
}

// What one block of either kernel works on: its maps in shared memory (rows padded by one
// element so that column passes spread over banks), the two twiddle tables, and which maps
// of the batch are its own.
struct BlockTile {
  int log2_h, log2_w;
  int fh, fw, half_w, bins;
  int row_stride, map_stride;
  float2* twiddles_w;
  float2* twiddles_h;
  float2* tile;
  int64_t first;  // the block's first map
  int count;      // maps the block holds
};

__device__ __forceinline__ BlockTile SetUpBlock(float2* shared, int log2_h, int log2_w,
                                                int64_t maps, int maps_per_block) {
  BlockTile b;
  b.log2_h = log2_h;
  b.log2_w = log2_w;
  b.fh = 1 << log2_h;
  b.fw = 1 << log2_w;
  b.half_w = b.fw / 2 + 1;
  b.bins = b.fh * b.half_w;
  b.row_stride = b.fw + 1;
  b.map_stride = b.fh * b.row_stride;
  b.twiddles_w = shared;
  b.twiddles_h = b.twiddles_w + max(b.fw / 2, 1);
  b.tile = b.twiddles_h + max(b.fh / 2, 1);
  FillTwiddles(b.twiddles_w, b.fw);
  FillTwiddles(b.twiddles_h, b.fh);
  b.first = static_cast<int64_t>(blockIdx.x) * maps_per_block;
  b.count = static_cast<int>(maps - b.first < maps_per_block ? maps - b.first : maps_per_block);
  return b;
}

// Item i of the block's half spectra, numbered so that consecutive threads take consecutive
// maps of a bin: its place in the tile and in the spectra ([bin][map], or [map][bin]).
__device__ __forceinline__ void SpectrumItem(const BlockTile& b, int i, int64_t maps,
                                             bool map_major, int* in_tile, int64_t* in_spectra) {
  const int bin = i / b.count;
  const int j = i - bin * b.count;
  const int kr = bin / b.half_w;
  const int kc = bin - kr * b.half_w;
  *in_tile = j * b.map_stride + kr * b.row_stride + kc;
  *in_spectra = map_major ? (b.first + j) * b.bins + bin
                          : static_cast<int64_t>(bin) * maps + b.first + j;
}

// kLog2 >= 0: a square transform of side 2^kLog2 known at compile time, so the index
// arithmetic and pass loops fold to constants; -1: the sizes come at run time.
template <int kLog2>
__global__ void __launch_bounds__(kMaxThreads)
    RealToHalfSpectrumKernel(const float* __restrict__ in, int64_t maps, int rows, int cols,
                             int top, int left, int log2_h_arg, int log2_w_arg,
                             int maps_per_block, bool map_major, float2* __restrict__ out) {
  extern __shared__ float2 shared[];
  const BlockTile b = SetUpBlock(shared, kLog2 >= 0 ? kLog2 : log2_h_arg,
                                 kLog2 >= 0 ? kLog2 : log2_w_arg, maps, maps_per_block);

  // Bit-reversed placement in both dimensions: the row passes then see their input in
  // DIT order, and their outputs land in bit-reversed row order, which is the column
  // passes' DIT order.
  for (int i = threadIdx.x; i < b.count * b.fh * b.fw; i += blockDim.x) {
    const int q = i & (b.fw - 1);
    const int r = (i >> b.log2_w) & (b.fh - 1);
    const int j = i >> (b.log2_w + b.log2_h);
    const int sr = r - top, sq = q - left;
    const float v = (sr >= 0 && sr < rows && sq >= 0 && sq < cols)
                        ? in[((b.first + j) * rows + sr) * cols + sq]
                        : 0.0f;
    b.tile[j * b.map_stride + BitReverse(r, b.log2_h) * b.row_stride + BitReverse(q, b.log2_w)] =
        make_float2(v, 0.0f);
  }
  __syncthreads();
  Radix2Passes<false, false>(b.tile, Lines{b.count * b.fh, b.fh, b.map_stride, b.row_stride, 1},
                             b.log2_w, b.twiddles_w);
  Radix2Passes<false, false>(b.tile,
                             Lines{b.count * b.half_w, b.half_w, b.map_stride, 1, b.row_stride},
                             b.log2_h, b.twiddles_h);

  for (int i = threadIdx.x; i < b.count * b.bins; i += blockDim.x) {
    int in_tile;
    int64_t in_spectra;
    SpectrumItem(b, i, maps, map_major, &in_tile, &in_spectra);
    out[in_spectra] = b.tile[in_tile];
  }
}

template <int kLog2>
__global__ void __launch_bounds__(kMaxThreads)
    HalfSpectrumToRealKernel(const float2* __restrict__ in, int64_t maps, int log2_h_arg,
                             int log2_w_arg, int rows, int cols, int top, int left, float scale,
                             const float* __restrict__ bias, int64_t bias_period,
                             int64_t bias_phase, int maps_per_block, bool map_major,
                             float* __restrict__ out) {
  extern __shared__ float2 shared[];
  const BlockTile b = SetUpBlock(shared, kLog2 >= 0 ? kLog2 : log2_h_arg,
                                 kLog2 >= 0 ? kLog2 : log2_w_arg, maps, maps_per_block);

  for (int i = threadIdx.x; i < b.count * b.bins; i += blockDim.x) {
    int in_tile;
    int64_t in_spectra;
    SpectrumItem(b, i, maps, map_major, &in_tile, &in_spectra);
    b.tile[in_tile] = in[in_spectra];
  }
  __syncthreads();
  // Columns first (natural order in, bit-reversed rows out), on the stored half.
  Radix2Passes<true, true>(b.tile,
                           Lines{b.count * b.half_w, b.half_w, b.map_stride, 1, b.row_stride},
                           b.log2_h, b.twiddles_h);
  // Each row is now Hermitian: G[r][fw-kc] = conj(G[r][kc]); fill the missing half.
  const int missing = b.fw - b.half_w;
  for (int i = threadIdx.x; i < b.count * b.fh * missing; i += blockDim.x) {
    const int per_map = b.fh * missing;
    const int j = i / per_map;
    const int rest = i - j * per_map;
    const int p = rest / missing;
    const int kc = b.half_w + (rest - p * missing);
    const float2 g = b.tile[j * b.map_stride + p * b.row_stride + (b.fw - kc)];
    b.tile[j * b.map_stride + p * b.row_stride + kc] = make_float2(g.x, -g.y);
  }
  __syncthreads();
  Radix2Passes<true, true>(b.tile, Lines{b.count * b.fh, b.fh, b.map_stride, b.row_stride, 1},
                           b.log2_w, b.twiddles_w);

  // Physical (p, c) holds output (bitrev(p), bitrev(c)); the real part is the inverse of
  // the real signal's spectrum.
  for (int i = threadIdx.x; i < b.count * rows * cols; i += blockDim.x) {
    const int q = i % cols;
    const int r = (i / cols) % rows;
    const int j = i / (cols * rows);
    const float bias_j = bias != nullptr ? bias[(bias_phase + b.first + j) % bias_period] : 0.0f;
    const float2 v = b.tile[j * b.map_stride + BitReverse(top + r, b.log2_h) * b.row_stride +
                            BitReverse(left + q, b.log2_w)];
    out[((b.first + j) * rows + r) * cols + q] = v.x * scale + bias_j;
  }
}

constexpr int kTransposeTile = 32;

// out[c * ld_out + r] = in[r * ld_in + c] for a rows x cols matrix of complex values,
// through a padded shared tile so that both the reads and the writes are coalesced.
__global__ void TransposeKernel(const float2* __restrict__ in, int64_t rows, int64_t cols,
                                int64_t ld_in, int64_t ld_out, float2* __restrict__ out) {
  __shared__ float2 tile[kTransposeTile][kTransposeTile + 1];
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kTransposeTile;
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * kTransposeTile;
  for (int dy = threadIdx.y; dy < kTransposeTile; dy += blockDim.y) {
    const int64_t r = r0 + dy, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[dy][threadIdx.x] = in[r * ld_in + c];
  }
  __syncthreads();
  for (int dy = threadIdx.y; dy < kTransposeTile; dy += blockDim.y) {
    const int64_t c = c0 + dy, r = r0 + threadIdx.x;
    if (r < rows && c < cols) out[c * ld_out + r] = tile[threadIdx.x][dy];
  }
}

using ForwardKernel = decltype(&RealToHalfSpectrumKernel<-1>);
using InverseKernel = decltype(&HalfSpectrumToRealKernel<-1>);

// Compile-time instances for the square sizes 8 to 128, the run-time kernel for the rest.
// fftconv runs the register-resident kernels at square sizes; these instances stay as
// tools/bench/transform_benchmark's baseline at its best.
constexpr ForwardKernel kForwardKernels[] = {
    RealToHalfSpectrumKernel<-1>, RealToHalfSpectrumKernel<3>, RealToHalfSpectrumKernel<4>,
    RealToHalfSpectrumKernel<5>,  RealToHalfSpectrumKernel<6>, RealToHalfSpectrumKernel<7>};
constexpr InverseKernel kInverseKernels[] = {
    HalfSpectrumToRealKernel<-1>, HalfSpectrumToRealKernel<3>, HalfSpectrumToRealKernel<4>,
    HalfSpectrumToRealKernel<5>,  HalfSpectrumToRealKernel<6>, HalfSpectrumToRealKernel<7>};

int KernelIndex(int64_t fh, int64_t fw) {
  const int log2 = Log2(fh);
  return fh == fw && log2 >= 3 && log2 <= 7 ? log2 - 2 : 0;
}

}  // namespace

cudaError_t LaunchTransposeSpectra(const float2* in, int64_t rows, int64_t cols, int64_t ld_in,
                                   int64_t ld_out, float2* out, cudaStream_t stream) {
  const int64_t grid_x = (cols + kTransposeTile - 1) / kTransposeTile;
  const int64_t grid_y = (rows + kTransposeTile - 1) / kTransposeTile;
  if (rows <= 0 || cols <= 0 || grid_x > 0x7fffffff || grid_y > 65535) return cudaErrorInvalidValue;
  TransposeKernel<<<dim3(static_cast<unsigned>(grid_x), static_cast<unsigned>(grid_y)),
                    dim3(kTransposeTile, 8), 0, stream>>>(in, rows, cols, ld_in, ld_out, out);
  return cudaGetLastError();
}

int BatchedFftMapsPerBlock(int64_t fft_h, int64_t fft_w) { return MapsPerBlock(fft_h, fft_w); }

bool BatchedFftSupports(int64_t fft_h, int64_t fft_w) {
  auto power_of_two = [](int64_t n) { return n >= 1 && n <= kBatchedFftMaxSide && (n & (n - 1)) == 0; };
  return power_of_two(fft_h) && power_of_two(fft_w);
}

cudaError_t PrepareBatchedFft(int64_t fft_h, int64_t fft_w) {
  if (!BatchedFftSupports(fft_h, fft_w)) return cudaErrorInvalidValue;
  // The limit belongs to the kernel, not to a size: raise it to what the largest size
  // needs, so that preparing a small size never lowers it under a large plan's launches.
  const int bytes = static_cast<int>(SharedBytes(kBatchedFftMaxSide, kBatchedFftMaxSide));
  for (ForwardKernel kernel : kForwardKernels) {
    const cudaError_t error =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (error != cudaSuccess) return error;
  }
  for (InverseKernel kernel : kInverseKernels) {
    const cudaError_t error =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (error != cudaSuccess) return error;
  }
  return cudaSuccess;
}

namespace {

// The grid of a launch over the batch: false where the kernels do not take it.
bool GridFor(const MapBatch& b, int* per_block, unsigned* blocks) {
  if (!BatchedFftSupports(b.fft_h, b.fft_w) || b.maps <= 0) return false;
  *per_block = MapsPerBlock(b.fft_h, b.fft_w);
  const int64_t count = (b.maps + *per_block - 1) / *per_block;
  if (count > 0x7fffffff) return false;
  *blocks = static_cast<unsigned>(count);
  return true;
}

}  // namespace

cudaError_t LaunchBatchedRealToHalfSpectrum(const RealToHalfSpectrumParams& p,
                                            cudaStream_t stream) {
  const MapBatch& b = p.batch;
  int per_block = 0;
  unsigned blocks = 0;
  if (!GridFor(b, &per_block, &blocks)) return cudaErrorInvalidValue;
  kForwardKernels[KernelIndex(b.fft_h, b.fft_w)]<<<blocks, ThreadsFor(b.fft_h, b.fft_w),
                                                   SharedBytes(b.fft_h, b.fft_w), stream>>>(
      p.maps_in, b.maps, static_cast<int>(b.window.rows), static_cast<int>(b.window.cols),
      static_cast<int>(b.window.top), static_cast<int>(b.window.left), Log2(b.fft_h),
      Log2(b.fft_w), per_block, p.order == SpectrumOrder::kMapMajor, p.spectrum);
  return cudaGetLastError();
}

cudaError_t LaunchBatchedHalfSpectrumToReal(const HalfSpectrumToRealParams& p,
                                            cudaStream_t stream) {
  const MapBatch& b = p.batch;
  int per_block = 0;
  unsigned blocks = 0;
  if (!GridFor(b, &per_block, &blocks)) return cudaErrorInvalidValue;
  kInverseKernels[KernelIndex(b.fft_h, b.fft_w)]<<<blocks, ThreadsFor(b.fft_h, b.fft_w),
                                                   SharedBytes(b.fft_h, b.fft_w), stream>>>(
      p.spectrum, b.maps, Log2(b.fft_h), Log2(b.fft_w), static_cast<int>(b.window.rows),
      static_cast<int>(b.window.cols), static_cast<int>(b.window.top),
      static_cast<int>(b.window.left), p.scale, p.bias.values, p.bias.period, p.bias.phase,
      per_block, p.order == SpectrumOrder::kMapMajor, p.maps_out);
  return cudaGetLastError();
}

}  // namespace fftrain::fftconv
