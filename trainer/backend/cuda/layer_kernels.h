// The CUDA kernels of the layer operations (trainer/backend/backend.h has their
// contracts). Each launcher enqueues on `stream` and returns the launch error; sizes are
// assumed checked by the caller (trainer/backend/op_checks.h). Every reduction runs in a
// fixed order, so results are bitwise reproducible on a given GPU.
#ifndef FFTRAIN_TRAINER_BACKEND_CUDA_LAYER_KERNELS_H_
#define FFTRAIN_TRAINER_BACKEND_CUDA_LAYER_KERNELS_H_

#include <cuda_runtime.h>

#include <cstdint>

namespace fftrain::trainer::cuda {

// PoolDims without the backend header (which carries Abseil, unknown to nvcc here).
struct PoolGeometry {
  int64_t n, c, h, w;
  int64_t window, stride;
  int64_t out_h, out_w;
};

// dst[i] = value.
cudaError_t LaunchFill(float* dst, float value, int64_t n, cudaStream_t stream);

// y[i] = scale * y[i]; scale = 0 writes zeros even over NaN (BLAS's beta = 0).
cudaError_t LaunchScale(float* y, float scale, int64_t n, cudaStream_t stream);

// y = max(x, 0); gx = gy where y > 0, else 0. In place allowed.
cudaError_t LaunchReluForward(const float* x, float* y, int64_t n, cudaStream_t stream);
cudaError_t LaunchReluBackward(const float* y, const float* gy, float* gx, int64_t n,
                               cudaStream_t stream);

// One thread per output; argmax is the flattened index into x, first maximum on ties.
cudaError_t LaunchMaxPoolForward(const PoolGeometry& g, const float* x, float* y, int32_t* argmax,
                                 cudaStream_t stream);
// A gather, one thread per gx element: the sum of gy over the outputs whose window holds
// the element and whose argmax is it, in ascending output order. No atomics, so the
// result is deterministic with overlapping windows and equals the CPU's scatter.
cudaError_t LaunchMaxPoolBackward(const PoolGeometry& g, const float* gy, const int32_t* argmax,
                                  float* gx, cudaStream_t stream);

// y[r][c] += bias[c].
cudaError_t LaunchAddBiasToRows(float* y, const float* bias, int64_t rows, int64_t cols,
                                cudaStream_t stream);

// out[c] = sum over r of m[r][c], in double, in a fixed order.
cudaError_t LaunchSumRows(const float* m, int64_t rows, int64_t cols, float* out,
                          cudaStream_t stream);

// One block per example. A label outside [0, classes) gives loss NaN, correct 0 and a
// zero gradient row rather than an out-of-bounds read: labels live in device memory
// here, so the host cannot check them on the way; the trainer checks them when it loads
// the data.
cudaError_t LaunchSoftmaxCrossEntropy(const float* logits, const int32_t* labels, int64_t batch,
                                      int64_t classes, float* grad, float* loss_per_example,
                                      int32_t* correct_per_example, cudaStream_t stream);

// v = momentum * v + (g + weight_decay * p); p -= learning_rate * v, rounded as the CPU
// backend rounds (no fused multiply-add). With learning_rate_source (device memory), the
// rate is read from there when the kernel runs, and learning_rate is ignored.
cudaError_t LaunchSgdMomentumStep(float* params, const float* grads, float* velocity, int64_t n,
                                  float learning_rate, const float* learning_rate_source,
                                  float momentum, float weight_decay, cudaStream_t stream);

}  // namespace fftrain::trainer::cuda

#endif  // FFTRAIN_TRAINER_BACKEND_CUDA_LAYER_KERNELS_H_
