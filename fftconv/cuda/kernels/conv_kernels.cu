#include "fftconv/cuda/kernels/conv_kernels.h"

#include <algorithm>

namespace fftrain::fftconv {
namespace {

constexpr int kThreads = 256;

// Enough blocks to fill any current GPU several times over; the loops stride the rest.
unsigned BlocksFor(int64_t elements) {
  const int64_t blocks = (elements + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, 65536)));
}

__global__ void PadMapsKernel(const float* __restrict__ in, int64_t maps, int64_t rows,
                              int64_t cols, int64_t top, int64_t left, int64_t fft_h,
                              int64_t fft_w, float* __restrict__ out) {
  const int64_t total = maps * fft_h * fft_w;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t q = i % fft_w;
    const int64_t r = (i / fft_w) % fft_h;
    const int64_t m = i / (fft_w * fft_h);
    const int64_t sr = r - top, sq = q - left;
    out[i] = (sr >= 0 && sr < rows && sq >= 0 && sq < cols) ? in[(m * rows + sr) * cols + sq]
                                                            : 0.0f;
  }
}

__global__ void CropMapsKernel(const float* __restrict__ staging, int64_t maps, int64_t fft_h,
                               int64_t fft_w, int64_t top, int64_t left, int64_t rows,
                               int64_t cols, float scale, const float* __restrict__ bias,
                               int64_t bias_period, float* __restrict__ out) {
  const int64_t total = maps * rows * cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t q = i % cols;
    const int64_t r = (i / cols) % rows;
    const int64_t m = i / (cols * rows);
    const float b = bias != nullptr ? bias[m % bias_period] : 0.0f;
    out[i] = staging[(m * fft_h + top + r) * fft_w + left + q] * scale + b;
  }
}

// One block per channel sums its n planes. The loop is latency-bound unless each thread
// keeps several loads in flight, hence eight (docs/profiling.md, "Design choices and their
// measurements"). The plans now read the
// bias gradient off dL/dy's DC bins (LaunchBiasGradientFromDcBins); the GPU reference
// (gpu_reference_conv.cc) is the caller left, and it keeps the speed. The flat index walks the
// planes with an incremental (image, offset), so no division per element; the per-thread
// order is fixed, so the sum is deterministic.
constexpr int kBiasThreads = 512;
constexpr int kBiasLoadsInFlight = 8;

__global__ void __launch_bounds__(kBiasThreads)
    BiasGradientKernel(const float* __restrict__ gy, int64_t n, int64_t k, int64_t plane,
                       float* __restrict__ gb) {
  __shared__ double partial[kBiasThreads];
  const int64_t channel = blockIdx.x;
  const int64_t total = n * plane;
  int64_t image = threadIdx.x / plane, offset = threadIdx.x % plane;
  double sum = 0.0;
  for (int64_t e = threadIdx.x; e < total; e += kBiasLoadsInFlight * kBiasThreads) {
    float values[kBiasLoadsInFlight];
#pragma unroll
    for (int u = 0; u < kBiasLoadsInFlight; ++u) {
      values[u] = e + u * kBiasThreads < total ? gy[(image * k + channel) * plane + offset] : 0.0f;
      offset += kBiasThreads;
      while (offset >= plane) {
        offset -= plane;
        ++image;
      }
    }
#pragma unroll
    for (int u = 0; u < kBiasLoadsInFlight; ++u) sum += values[u];
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int stride = kBiasThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) gb[channel] = static_cast<float>(partial[0]);
}

// A block takes 32 channels (coalesced reads across a warp) and splits the images over
// kDcImageGroups warps, each with several reads in flight, then adds the groups in order.
constexpr int kDcChannels = 32;
constexpr int kDcImageGroups = 8;

__global__ void __launch_bounds__(kDcChannels* kDcImageGroups)
    BiasGradientFromDcBinsKernel(const float2* __restrict__ spectrum, int64_t map_stride,
                                 int64_t n, int64_t k, float* __restrict__ gb) {
  __shared__ double partial[kDcImageGroups][kDcChannels];
  const int64_t channel = int64_t{blockIdx.x} * kDcChannels + threadIdx.x;
  double sum = 0.0;
  if (channel < k) {
#pragma unroll 8
    for (int64_t image = threadIdx.y; image < n; image += kDcImageGroups) {
      sum += spectrum[(image * k + channel) * map_stride].x;
    }
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && channel < k) {
    for (int g = 1; g < kDcImageGroups; ++g) sum += partial[g][threadIdx.x];
    gb[channel] = static_cast<float>(sum);
  }
}

}  // namespace

cudaError_t LaunchPadMaps(const float* in, const MapBatch& b, float* out,
                          cudaStream_t stream) {
  PadMapsKernel<<<BlocksFor(b.maps * b.fft_h * b.fft_w), kThreads, 0, stream>>>(
      in, b.maps, b.window.rows, b.window.cols, b.window.top, b.window.left, b.fft_h, b.fft_w,
      out);
  return cudaGetLastError();
}

cudaError_t LaunchCropMaps(const float* staging, const MapBatch& b, float scale,
                           const float* bias, int64_t bias_period, float* out,
                           cudaStream_t stream) {
  CropMapsKernel<<<BlocksFor(b.maps * b.window.rows * b.window.cols), kThreads, 0, stream>>>(
      staging, b.maps, b.fft_h, b.fft_w, b.window.top, b.window.left, b.window.rows,
      b.window.cols, scale, bias, bias_period, out);
  return cudaGetLastError();
}

cudaError_t LaunchBiasGradient(const float* gy, int64_t n, int64_t k, int64_t plane, float* gb,
                               cudaStream_t stream) {
  if (k > 0x7fffffff) return cudaErrorInvalidValue;
  if (plane <= 0) return cudaErrorInvalidValue;
  BiasGradientKernel<<<static_cast<unsigned>(k), kBiasThreads, 0, stream>>>(gy, n, k, plane, gb);
  return cudaGetLastError();
}

cudaError_t LaunchBiasGradientFromDcBins(const float2* spectrum, int64_t map_stride, int64_t n,
                                         int64_t k, float* gb, cudaStream_t stream) {
  if (n <= 0 || k <= 0 || k > 0x7fffffff || map_stride <= 0) return cudaErrorInvalidValue;
  const unsigned blocks = static_cast<unsigned>((k + kDcChannels - 1) / kDcChannels);
  BiasGradientFromDcBinsKernel<<<blocks, dim3(kDcChannels, kDcImageGroups), 0, stream>>>(
      spectrum, map_stride, n, k, gb);
  return cudaGetLastError();
}

}  // namespace fftrain::fftconv
