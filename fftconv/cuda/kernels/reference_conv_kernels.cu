#include "fftconv/cuda/kernels/reference_conv_kernels.h"

#include <algorithm>

namespace fftrain::fftconv {
namespace {

constexpr int kThreads = 256;

unsigned BlocksFor(int64_t elements) {
  const int64_t blocks = (elements + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, 1 << 20)));
}

__global__ void ForwardKernel(ConvDims d, const float* __restrict__ x,
                              const float* __restrict__ w, const float* __restrict__ bias,
                              float* __restrict__ y) {
  const int64_t total = d.n * d.k * d.out_h * d.out_w;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t j = idx % d.out_w;
    const int64_t i = (idx / d.out_w) % d.out_h;
    const int64_t k = (idx / (d.out_w * d.out_h)) % d.k;
    const int64_t n = idx / (d.out_w * d.out_h * d.k);
    double sum = bias != nullptr ? bias[k] : 0.0;
    for (int64_t c = 0; c < d.c; ++c) {
      const float* xnc = x + (n * d.c + c) * d.h * d.w;
      const float* wkc = w + (k * d.c + c) * d.kh * d.kw;
      for (int64_t u = 0; u < d.kh; ++u) {
        const int64_t r = i + u - d.pad_h;
        if (r < 0 || r >= d.h) continue;
        for (int64_t v = 0; v < d.kw; ++v) {
          const int64_t q = j + v - d.pad_w;
          if (q < 0 || q >= d.w) continue;
          sum += static_cast<double>(xnc[r * d.w + q]) * wkc[u * d.kw + v];
        }
      }
    }
    y[idx] = static_cast<float>(sum);
  }
}

__global__ void BackwardDataKernel(ConvDims d, const float* __restrict__ gy,
                                   const float* __restrict__ w, float* __restrict__ gx) {
  const int64_t total = d.n * d.c * d.h * d.w;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t b = idx % d.w;
    const int64_t a = (idx / d.w) % d.h;
    const int64_t c = (idx / (d.w * d.h)) % d.c;
    const int64_t n = idx / (d.w * d.h * d.c);
    double sum = 0.0;
    for (int64_t k = 0; k < d.k; ++k) {
      const float* gynk = gy + (n * d.k + k) * d.out_h * d.out_w;
      const float* wkc = w + (k * d.c + c) * d.kh * d.kw;
      for (int64_t u = 0; u < d.kh; ++u) {
        const int64_t i = a + d.pad_h - u;
        if (i < 0 || i >= d.out_h) continue;
        for (int64_t v = 0; v < d.kw; ++v) {
          const int64_t j = b + d.pad_w - v;
          if (j < 0 || j >= d.out_w) continue;
          sum += static_cast<double>(gynk[i * d.out_w + j]) * wkc[u * d.kw + v];
        }
      }
    }
    gx[idx] = static_cast<float>(sum);
  }
}

__global__ void BackwardFilterPartialKernel(ConvDims d, const float* __restrict__ x,
                                            const float* __restrict__ gy, int splits,
                                            double* __restrict__ partial) {
  const int64_t weights = d.k * d.c * d.kh * d.kw;
  const int64_t total = weights * splits;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < total;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t wi = idx % weights;
    const int split = static_cast<int>(idx / weights);
    const int64_t v = wi % d.kw;
    const int64_t u = (wi / d.kw) % d.kh;
    const int64_t c = (wi / (d.kw * d.kh)) % d.c;
    const int64_t k = wi / (d.kw * d.kh * d.c);
    double sum = 0.0;
    for (int64_t n = split; n < d.n; n += splits) {
      const float* gynk = gy + (n * d.k + k) * d.out_h * d.out_w;
      const float* xnc = x + (n * d.c + c) * d.h * d.w;
      for (int64_t i = 0; i < d.out_h; ++i) {
        const int64_t r = i + u - d.pad_h;
        if (r < 0 || r >= d.h) continue;
        for (int64_t j = 0; j < d.out_w; ++j) {
          const int64_t q = j + v - d.pad_w;
          if (q < 0 || q >= d.w) continue;
          sum += static_cast<double>(gynk[i * d.out_w + j]) * xnc[r * d.w + q];
        }
      }
    }
    partial[idx] = sum;
  }
}

__global__ void SumPartialsKernel(int64_t weights, int splits, const double* __restrict__ partial,
                                  float* __restrict__ gw) {
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < weights;
       idx += int64_t{gridDim.x} * blockDim.x) {
    double sum = 0.0;
    for (int s = 0; s < splits; ++s) sum += partial[s * weights + idx];
    gw[idx] = static_cast<float>(sum);
  }
}

}  // namespace

cudaError_t LaunchReferenceForward(const ConvDims& d, const float* x, const float* w,
                                   const float* bias, float* y, cudaStream_t stream) {
  ForwardKernel<<<BlocksFor(d.n * d.k * d.out_h * d.out_w), kThreads, 0, stream>>>(d, x, w,
                                                                                  bias, y);
  return cudaGetLastError();
}

cudaError_t LaunchReferenceBackwardData(const ConvDims& d, const float* gy, const float* w,
                                        float* gx, cudaStream_t stream) {
  BackwardDataKernel<<<BlocksFor(d.n * d.c * d.h * d.w), kThreads, 0, stream>>>(d, gy, w, gx);
  return cudaGetLastError();
}

cudaError_t LaunchReferenceBackwardFilter(const ConvDims& d, const float* x, const float* gy,
                                          int splits, double* partial, float* gw,
                                          cudaStream_t stream) {
  const int64_t weights = d.k * d.c * d.kh * d.kw;
  BackwardFilterPartialKernel<<<BlocksFor(weights * splits), kThreads, 0, stream>>>(
      d, x, gy, splits, partial);
  cudaError_t error = cudaGetLastError();
  if (error != cudaSuccess) return error;
  SumPartialsKernel<<<BlocksFor(weights), kThreads, 0, stream>>>(weights, splits, partial, gw);
  return cudaGetLastError();
}

}  // namespace fftrain::fftconv
