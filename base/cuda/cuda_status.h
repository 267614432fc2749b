// The one place where CUDA runtime error codes become absl::Status, carrying the
// expression that failed, where, and in a multi-process job which rank on which host
// (base/process_identity.h). cuFFT, cuBLAS and NCCL have their own headers beside this
// one, so that a target needing only the runtime links only libcudart.
// Internal: includes the CUDA headers.
#ifndef FFTRAIN_BASE_CUDA_CUDA_STATUS_H_
#define FFTRAIN_BASE_CUDA_CUDA_STATUS_H_

#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "base/status_macros.h"

namespace fftrain::base {

// OK for cudaSuccess; otherwise "EXPR failed: NAME (DESCRIPTION) at FILE:LINE" and the
// process identity, with a code by kind: kResourceExhausted for allocations,
// kInvalidArgument for bad values, kFailedPrecondition where there is no usable device.
absl::Status FromCudaError(cudaError_t error, const char* expression, const char* file,
                           int line);

}  // namespace fftrain::base

#define FFTRAIN_CUDA_RETURN_IF_ERROR(expr) \
  FFTRAIN_RETURN_IF_ERROR(::fftrain::base::FromCudaError((expr), #expr, __FILE__, __LINE__))

#endif  // FFTRAIN_BASE_CUDA_CUDA_STATUS_H_
