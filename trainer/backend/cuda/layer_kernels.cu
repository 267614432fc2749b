#include <math_constants.h>

#include <algorithm>

#include "trainer/backend/cuda/layer_kernels.h"

namespace fftrain::trainer::cuda {
namespace {

constexpr int kThreads = 256;

// Enough blocks to fill any current GPU several times over; the loops stride the rest.
unsigned BlocksFor(int64_t elements) {
  const int64_t blocks = (elements + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, 65536)));
}

__device__ int64_t FirstIndex() { return blockIdx.x * int64_t{blockDim.x} + threadIdx.x; }
__device__ int64_t GridStride() { return int64_t{gridDim.x} * blockDim.x; }
__device__ int64_t Min64(int64_t a, int64_t b) { return a < b ? a : b; }

__global__ void FillKernel(float* __restrict__ dst, float value, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) dst[i] = value;
}

__global__ void ScaleKernel(float* __restrict__ y, float scale, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) {
    y[i] = scale == 0.0f ? 0.0f : scale * y[i];
  }
}

// No __restrict__: x and y may alias.
__global__ void ReluForwardKernel(const float* x, float* y, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : 0.0f;
  }
}

__global__ void ReluBackwardKernel(const float* y, const float* gy, float* gx, int64_t n) {
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) {
    gx[i] = y[i] > 0.0f ? gy[i] : 0.0f;
  }
}

__global__ void MaxPoolForwardKernel(PoolGeometry g, const float* __restrict__ x,
                                     float* __restrict__ y, int32_t* __restrict__ argmax) {
  const int64_t outputs = g.n * g.c * g.out_h * g.out_w;
  for (int64_t o = FirstIndex(); o < outputs; o += GridStride()) {
    const int64_t j = o % g.out_w;
    const int64_t i = (o / g.out_w) % g.out_h;
    const int64_t plane = o / (g.out_w * g.out_h);
    const int64_t corner = plane * g.h * g.w + i * g.stride * g.w + j * g.stride;
    int64_t best = corner;
    float best_value = x[corner];
    for (int64_t u = 0; u < g.window; ++u) {
      for (int64_t v = 0; v < g.window; ++v) {
        const int64_t at = corner + u * g.w + v;
        const float value = x[at];
        // Strictly greater: ties keep the first in row-major order, as on the CPU.
        if (value > best_value) {
          best_value = value;
          best = at;
        }
      }
    }
    y[o] = best_value;
    argmax[o] = static_cast<int32_t>(best);
  }
}

__global__ void MaxPoolBackwardKernel(PoolGeometry g, const float* __restrict__ gy,
                                      const int32_t* __restrict__ argmax, float* __restrict__ gx) {
  const int64_t elements = g.n * g.c * g.h * g.w;
  for (int64_t e = FirstIndex(); e < elements; e += GridStride()) {
    const int64_t q = e % g.w;
    const int64_t r = (e / g.w) % g.h;
    const int64_t plane = e / (g.w * g.h);
    // Windows i with i*stride <= r < i*stride + window; the numerator is only divided
    // when positive, so the division rounds up as intended.
    const int64_t i_first = r < g.window ? 0 : (r - g.window + g.stride) / g.stride;
    const int64_t i_last = Min64(g.out_h - 1, r / g.stride);
    const int64_t j_first = q < g.window ? 0 : (q - g.window + g.stride) / g.stride;
    const int64_t j_last = Min64(g.out_w - 1, q / g.stride);
    float sum = 0.0f;
    for (int64_t i = i_first; i <= i_last; ++i) {
      for (int64_t j = j_first; j <= j_last; ++j) {
        const int64_t o = (plane * g.out_h + i) * g.out_w + j;
        if (argmax[o] == e) sum += gy[o];
      }
    }
    gx[e] = sum;
  }
}

__global__ void AddBiasToRowsKernel(float* __restrict__ y, const float* __restrict__ bias,
                                    int64_t rows, int64_t cols) {
  const int64_t elements = rows * cols;
  for (int64_t i = FirstIndex(); i < elements; i += GridStride()) y[i] += bias[i % cols];
}

// A block of 32 x 8 threads owns 32 adjacent columns (reads of a row are coalesced);
// thread (x, y) sums rows y, y+8, ... of its column, then thread (x, 0) adds the eight
// partial sums in order.
constexpr int kSumColumns = 32;
constexpr int kSumRowLanes = 8;

__global__ void SumRowsKernel(const float* __restrict__ m, int64_t rows, int64_t cols,
                              float* __restrict__ out) {
  __shared__ double partial[kSumRowLanes][kSumColumns];
  const int64_t col = blockIdx.x * int64_t{kSumColumns} + threadIdx.x;
  double sum = 0.0;
  if (col < cols) {
    for (int64_t r = threadIdx.y; r < rows; r += kSumRowLanes) sum += m[r * cols + col];
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && col < cols) {
    double total = 0.0;
    for (int lane = 0; lane < kSumRowLanes; ++lane) total += partial[lane][threadIdx.x];
    out[col] = static_cast<float>(total);
  }
}

constexpr int kMaxSoftmaxThreads = 256;

// Blocks have a power-of-two size (the tree reductions halve it) of at most
// kMaxSoftmaxThreads; one block per example, striding over the batch.
__global__ void SoftmaxCrossEntropyKernel(const float* logits, const int32_t* labels, int64_t batch,
                                          int64_t classes, float* grad, float* loss_per_example,
                                          int32_t* correct_per_example) {
  __shared__ float best_value[kMaxSoftmaxThreads];
  __shared__ int64_t best_index[kMaxSoftmaxThreads];
  __shared__ double partial[kMaxSoftmaxThreads];
  const int tid = threadIdx.x;
  for (int64_t row = blockIdx.x; row < batch; row += gridDim.x) {
    const float* x = logits + row * classes;
    float* g = grad + row * classes;
    const int64_t label = labels[row];
    const bool valid = label >= 0 && label < classes;
    // Read before any thread writes its gradient, so logits and grad may alias.
    const float x_label = valid ? x[label] : 0.0f;

    // Arg-max: the largest value, and among equal values the smallest index (the CPU's
    // first maximum). The identity (-inf, classes) loses to every real element.
    float value = -CUDART_INF_F;
    int64_t index = classes;
    for (int64_t j = tid; j < classes; j += blockDim.x) {
      const float v = x[j];
      if (v > value || (v == value && j < index)) {
        value = v;
        index = j;
      }
    }
    best_value[tid] = value;
    best_index[tid] = index;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
      if (tid < stride) {
        const float other = best_value[tid + stride];
        const int64_t other_index = best_index[tid + stride];
        if (other > best_value[tid] ||
            (other == best_value[tid] && other_index < best_index[tid])) {
          best_value[tid] = other;
          best_index[tid] = other_index;
        }
      }
      __syncthreads();
    }
    const float max = best_value[0];
    const int64_t arg = best_index[0];

    // Shifted by the maximum, every exponent is <= 0 and the largest term is 1: no
    // overflow, and log(sum) is finite.
    double sum = 0.0;
    for (int64_t j = tid; j < classes; j += blockDim.x) {
      sum += exp(static_cast<double>(x[j] - max));
    }
    partial[tid] = sum;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
      if (tid < stride) partial[tid] += partial[tid + stride];
      __syncthreads();
    }
    const double total = partial[0];

    if (tid == 0) {
      loss_per_example[row] =
          valid ? static_cast<float>(log(total) - static_cast<double>(x_label - max))
                : CUDART_NAN_F;
      correct_per_example[row] = valid && arg == label ? 1 : 0;
    }
    for (int64_t j = tid; j < classes; j += blockDim.x) {
      const double p = exp(static_cast<double>(x[j] - max)) / total;
      g[j] = valid ? static_cast<float>((p - (j == label ? 1.0 : 0.0)) / static_cast<double>(batch))
                   : 0.0f;
    }
    // The shared arrays are rewritten for the next example.
    __syncthreads();
  }
}

__global__ void SgdMomentumKernel(float* __restrict__ params, const float* __restrict__ grads,
                                  float* __restrict__ velocity, int64_t n, float learning_rate,
                                  const float* __restrict__ learning_rate_source,
                                  float momentum, float weight_decay) {
  if (learning_rate_source != nullptr) learning_rate = *learning_rate_source;
  // The _rn intrinsics stop nvcc from fusing into FMAs, so each operation rounds as the
  // CPU backend's does.
  for (int64_t i = FirstIndex(); i < n; i += GridStride()) {
    const float p = params[i];
    const float g = __fadd_rn(grads[i], __fmul_rn(weight_decay, p));
    const float v = __fadd_rn(__fmul_rn(momentum, velocity[i]), g);
    velocity[i] = v;
    params[i] = __fsub_rn(p, __fmul_rn(learning_rate, v));
  }
}

}  // namespace

cudaError_t LaunchFill(float* dst, float value, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  FillKernel<<<BlocksFor(n), kThreads, 0, stream>>>(dst, value, n);
  return cudaGetLastError();
}

cudaError_t LaunchScale(float* y, float scale, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  ScaleKernel<<<BlocksFor(n), kThreads, 0, stream>>>(y, scale, n);
  return cudaGetLastError();
}

cudaError_t LaunchReluForward(const float* x, float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  ReluForwardKernel<<<BlocksFor(n), kThreads, 0, stream>>>(x, y, n);
  return cudaGetLastError();
}

cudaError_t LaunchReluBackward(const float* y, const float* gy, float* gx, int64_t n,
                               cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  ReluBackwardKernel<<<BlocksFor(n), kThreads, 0, stream>>>(y, gy, gx, n);
  return cudaGetLastError();
}

cudaError_t LaunchMaxPoolForward(const PoolGeometry& g, const float* x, float* y, int32_t* argmax,
                                 cudaStream_t stream) {
  const int64_t outputs = g.n * g.c * g.out_h * g.out_w;
  if (outputs == 0) return cudaSuccess;
  MaxPoolForwardKernel<<<BlocksFor(outputs), kThreads, 0, stream>>>(g, x, y, argmax);
  return cudaGetLastError();
}

cudaError_t LaunchMaxPoolBackward(const PoolGeometry& g, const float* gy, const int32_t* argmax,
                                  float* gx, cudaStream_t stream) {
  const int64_t elements = g.n * g.c * g.h * g.w;
  if (elements == 0) return cudaSuccess;
  MaxPoolBackwardKernel<<<BlocksFor(elements), kThreads, 0, stream>>>(g, gy, argmax, gx);
  return cudaGetLastError();
}

cudaError_t LaunchAddBiasToRows(float* y, const float* bias, int64_t rows, int64_t cols,
                                cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  AddBiasToRowsKernel<<<BlocksFor(rows * cols), kThreads, 0, stream>>>(y, bias, rows, cols);
  return cudaGetLastError();
}

cudaError_t LaunchSumRows(const float* m, int64_t rows, int64_t cols, float* out,
                          cudaStream_t stream) {
  if (cols == 0) return cudaSuccess;
  const int64_t blocks = (cols + kSumColumns - 1) / kSumColumns;
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  SumRowsKernel<<<static_cast<unsigned>(blocks), dim3(kSumColumns, kSumRowLanes), 0, stream>>>(
      m, rows, cols, out);
  return cudaGetLastError();
}

cudaError_t LaunchSoftmaxCrossEntropy(const float* logits, const int32_t* labels, int64_t batch,
                                      int64_t classes, float* grad, float* loss_per_example,
                                      int32_t* correct_per_example, cudaStream_t stream) {
  if (batch == 0) return cudaSuccess;
  // The smallest power of two >= classes, between a warp and kMaxSoftmaxThreads: small
  // class counts leave few threads idle. A function of `classes` only, so the reduction
  // order (and the bits of the result) is fixed for a given problem.
  int threads = 32;
  while (threads < kMaxSoftmaxThreads && threads < classes) threads *= 2;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(batch, 65536));
  SoftmaxCrossEntropyKernel<<<blocks, threads, 0, stream>>>(logits, labels, batch, classes, grad,
                                                            loss_per_example, correct_per_example);
  return cudaGetLastError();
}

cudaError_t LaunchSgdMomentumStep(float* params, const float* grads, float* velocity, int64_t n,
                                  float learning_rate, const float* learning_rate_source,
                                  float momentum, float weight_decay, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  SgdMomentumKernel<<<BlocksFor(n), kThreads, 0, stream>>>(
      params, grads, velocity, n, learning_rate, learning_rate_source, momentum, weight_decay);
  return cudaGetLastError();
}

}  // namespace fftrain::trainer::cuda
