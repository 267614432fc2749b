#include "fftconv/cuda/kernels/thin_product_kernels.h"

#include <type_traits>

#include "fftconv/spectrum_order.h"

namespace fftrain::fftconv {
namespace {

constexpr int kThreads = 128;  // bins per block
constexpr int kThinRows = 4;   // rows of the large operand a thread carries

__device__ __forceinline__ float2 MulAdd(float2 acc, float2 a, float2 b) {
  return make_float2(acc.x + a.x * b.x - a.y * b.y, acc.y + a.x * b.y + a.y * b.x);
}
__device__ __forceinline__ float2 Conj(float2 a) { return make_float2(a.x, -a.y); }

// Forward: the thread holds conj(W[k][c]) for its kThinRows k's and walks the images,
// writing kThinRows outputs for every C-wide row of X it reads.
template <int kC>
__global__ void __launch_bounds__(kThreads)
    ThinForwardKernel(ThinProductDims d, const float2* __restrict__ x_hat,
                      const float2* __restrict__ w_hat, float2* __restrict__ y_hat) {
  const int64_t bin = int64_t{blockIdx.x} * kThreads + threadIdx.x;
  const int64_t k0 = int64_t{blockIdx.y} * kThinRows;
  if (bin >= d.bins) return;
  float2 w[kThinRows][kC];
#pragma unroll
  for (int g = 0; g < kThinRows; ++g) {
    const int64_t k = k0 + g < d.k ? k0 + g : d.k - 1;
#pragma unroll
    for (int c = 0; c < kC; ++c) w[g][c] = Conj(w_hat[(k * kC + c) * d.bins + bin]);
  }
  for (int64_t n = 0; n < d.n; ++n) {
    float2 x[kC];
#pragma unroll
    for (int c = 0; c < kC; ++c) x[c] = x_hat[(n * kC + c) * d.bins + bin];
#pragma unroll
    for (int g = 0; g < kThinRows; ++g) {
      if (k0 + g >= d.k) break;
      float2 sum = make_float2(0.0f, 0.0f);
#pragma unroll
      for (int c = 0; c < kC; ++c) sum = MulAdd(sum, x[c], w[g][c]);
      y_hat[(n * d.k + k0 + g) * d.bins + bin] = sum;
    }
  }
}

// Both backward passes: out[row][c] = sum_j op(big[row * row_stride + j * j_stride])
// small[j][c] over j < reduce, op conjugating for the filter gradient. Backward data:
// rows = images, j = output channels; backward filter: rows = output channels, j = images.
template <int kC, bool kConjugateBig>
__global__ void __launch_bounds__(kThreads)
    ThinReduceKernel(int64_t bins, int64_t rows, int64_t reduce, int64_t row_stride,
                     int64_t j_stride, const float2* __restrict__ big,
                     const float2* __restrict__ small, float2* __restrict__ out) {
  const int64_t bin = int64_t{blockIdx.x} * kThreads + threadIdx.x;
  const int64_t row0 = int64_t{blockIdx.y} * kThinRows;
  if (bin >= bins) return;
  float2 acc[kThinRows][kC];
#pragma unroll
  for (int g = 0; g < kThinRows; ++g) {
#pragma unroll
    for (int c = 0; c < kC; ++c) acc[g][c] = make_float2(0.0f, 0.0f);
  }
  int64_t row_offset[kThinRows];
#pragma unroll
  for (int g = 0; g < kThinRows; ++g) {
    row_offset[g] = (row0 + g < rows ? row0 + g : rows - 1) * row_stride;
  }
#pragma unroll 2
  for (int64_t j = 0; j < reduce; ++j) {
    float2 s[kC], b[kThinRows];
#pragma unroll
    for (int c = 0; c < kC; ++c) s[c] = small[(j * kC + c) * bins + bin];
#pragma unroll
    for (int g = 0; g < kThinRows; ++g) {
      const float2 value = big[(row_offset[g] + j * j_stride) * bins + bin];
      b[g] = kConjugateBig ? Conj(value) : value;
    }
#pragma unroll
    for (int g = 0; g < kThinRows; ++g) {
#pragma unroll
      for (int c = 0; c < kC; ++c) acc[g][c] = MulAdd(acc[g][c], b[g], s[c]);
    }
  }
#pragma unroll
  for (int g = 0; g < kThinRows; ++g) {
    if (row0 + g >= rows) break;
#pragma unroll
    for (int c = 0; c < kC; ++c) out[((row0 + g) * kC + c) * bins + bin] = acc[g][c];
  }
}

bool GridFor(int64_t bins, int64_t rows, dim3* grid) {
  const int64_t x = (bins + kThreads - 1) / kThreads;
  const int64_t y = (rows + kThinRows - 1) / kThinRows;
  if (bins <= 0 || rows <= 0 || x > 0x7fffffff || y > 65535) return false;
  *grid = dim3(static_cast<unsigned>(x), static_cast<unsigned>(y));
  return true;
}

bool Valid(const ThinProductDims& d) {
  return d.c >= 1 && d.c <= kMaxThinChannels && d.n >= 1 && d.k >= 1 && d.bins >= 1;
}

// Calls f with std::integral_constant<int, c> for c in 1..kMaxThinChannels.
template <int kC = 1, typename F>
cudaError_t WithChannels(int64_t c, F&& f) {
  if constexpr (kC > kMaxThinChannels) {
    return cudaErrorInvalidValue;
  } else {
    if (c == kC) return f(std::integral_constant<int, kC>{});
    return WithChannels<kC + 1>(c, f);
  }
}

template <bool kConjugateBig>
cudaError_t LaunchReduce(const ThinProductDims& d, int64_t rows, int64_t reduce,
                         int64_t row_stride, int64_t j_stride, const float2* big,
                         const float2* small, float2* out, cudaStream_t stream) {
  dim3 grid;
  if (!Valid(d) || !GridFor(d.bins, rows, &grid)) return cudaErrorInvalidValue;
  return WithChannels(d.c, [&](auto c) {
    ThinReduceKernel<decltype(c)::value, kConjugateBig><<<grid, kThreads, 0, stream>>>(
        d.bins, rows, reduce, row_stride, j_stride, big, small, out);
    return cudaGetLastError();
  });
}

}  // namespace

cudaError_t LaunchThinForwardProduct(const ThinProductDims& d, const float2* x_hat,
                                     const float2* w_hat, float2* y_hat, cudaStream_t stream) {
  dim3 grid;
  if (!Valid(d) || !GridFor(d.bins, d.k, &grid)) return cudaErrorInvalidValue;
  return WithChannels(d.c, [&](auto c) {
    ThinForwardKernel<decltype(c)::value><<<grid, kThreads, 0, stream>>>(d, x_hat, w_hat, y_hat);
    return cudaGetLastError();
  });
}

cudaError_t LaunchThinBackwardDataProduct(const ThinProductDims& d, const float2* gy_hat,
                                          const float2* w_hat, float2* gx_hat,
                                          cudaStream_t stream) {
  // Rows are images (GY row n starts at map n*K), j runs over output channels.
  return LaunchReduce<false>(d, d.n, d.k, d.k, 1, gy_hat, w_hat, gx_hat, stream);
}

cudaError_t LaunchThinBackwardFilterProduct(const ThinProductDims& d, const float2* gy_hat,
                                            const float2* x_hat, float2* gw_hat,
                                            cudaStream_t stream) {
  // Rows are output channels (map k of image 0), j runs over images (K maps apart).
  return LaunchReduce<true>(d, d.k, d.n, 1, d.k, gy_hat, x_hat, gw_hat, stream);
}

}  // namespace fftrain::fftconv
