#include "fftconv/cuda/gpu_reference_conv.h"

#include <algorithm>

#include "base/cuda/cuda_status.h"
#include "base/status_macros.h"
#include "fftconv/cuda/kernels/conv_kernels.h"
#include "fftconv/cuda/kernels/reference_conv_kernels.h"

namespace fftrain::fftconv {

using ::fftrain::base::CudaStreamHandle;
using ::fftrain::base::MemorySpan;

namespace {

ConvDims DimsOf(const ConvShape& s) {
  return {s.n, s.c, s.h, s.w, s.k, s.kh, s.kw, s.pad_h, s.pad_w, s.out_h(), s.out_w()};
}

// Splits of the image sum so that about 256K threads are busy even when K*C*kh*kw is
// small (the first layer's gradient has only tens of thousands of weights).
int SplitsFor(const ConvShape& s) {
  const int64_t weights = s.weight_elements();
  const int64_t wanted = (int64_t{1} << 18) / std::max<int64_t>(weights, 1) + 1;
  return static_cast<int>(std::clamp<int64_t>(wanted, 1, std::min<int64_t>(s.n, 64)));
}

absl::Status CheckNotNull(std::initializer_list<const void*> pointers) {
  for (const void* p : pointers) {
    if (p == nullptr) return absl::InvalidArgumentError("GPU reference: null tensor");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status GpuReferenceForward(const ConvShape& shape, const float* x, const float* w,
                                 const float* bias, float* y, CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(shape.Validate());
  FFTRAIN_RETURN_IF_ERROR(CheckNotNull({x, w, y}));
  FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchReferenceForward(DimsOf(shape), x, w, bias, y, stream));
  return absl::OkStatus();
}

absl::Status GpuReferenceBackwardData(const ConvShape& shape, const float* gy, const float* w,
                                      float* gx, CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(shape.Validate());
  FFTRAIN_RETURN_IF_ERROR(CheckNotNull({gy, w, gx}));
  FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchReferenceBackwardData(DimsOf(shape), gy, w, gx, stream));
  return absl::OkStatus();
}

size_t GpuReferenceBackwardFilterWorkspaceBytes(const ConvShape& shape) {
  return static_cast<size_t>(SplitsFor(shape)) * shape.weight_elements() * sizeof(double);
}

absl::Status GpuReferenceBackwardFilter(const ConvShape& shape, const float* x,
                                        const float* gy, float* gw, float* gb,
                                        MemorySpan workspace, CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(shape.Validate());
  FFTRAIN_RETURN_IF_ERROR(CheckNotNull({x, gy, gw}));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(workspace, GpuReferenceBackwardFilterWorkspaceBytes(shape),
                                    "GPU reference workspace"));
  FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchReferenceBackwardFilter(
      DimsOf(shape), x, gy, SplitsFor(shape), static_cast<double*>(workspace.data), gw, stream));
  if (gb != nullptr) {
    FFTRAIN_CUDA_RETURN_IF_ERROR(
        LaunchBiasGradient(gy, shape.n, shape.k, shape.out_h() * shape.out_w(), gb, stream));
  }
  return absl::OkStatus();
}

}  // namespace fftrain::fftconv
