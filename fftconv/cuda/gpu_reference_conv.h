// The direct convolution on the GPU, accumulated in double: the reference for the GPU
// tests at sizes where the CPU reference would take minutes. Simple, not fast.
#ifndef FFTRAIN_FFTCONV_CUDA_GPU_REFERENCE_CONV_H_
#define FFTRAIN_FFTCONV_CUDA_GPU_REFERENCE_CONV_H_

#include <cstddef>

#include "absl/status/status.h"
#include "base/cuda/cuda_resources.h"
#include "base/memory_span.h"
#include "fftconv/conv_shape.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

absl::Status GpuReferenceForward(const ConvShape& shape, const float* x, const float* w,
                                 const float* bias, float* y, base::CudaStreamHandle stream);

absl::Status GpuReferenceBackwardData(const ConvShape& shape, const float* gy, const float* w,
                                      float* gx, base::CudaStreamHandle stream);

// Device memory GpuReferenceBackwardFilter needs for its per-split partial sums.
size_t GpuReferenceBackwardFilterWorkspaceBytes(const ConvShape& shape);

// gw and, when gb is not null, the bias gradient.
absl::Status GpuReferenceBackwardFilter(const ConvShape& shape, const float* x,
                                        const float* gy, float* gw, float* gb,
                                        base::MemorySpan workspace, base::CudaStreamHandle stream);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_GPU_REFERENCE_CONV_H_
