// cuBLAS's status codes as absl::Status, in the form of base/cuda/cuda_status.h.
// Internal: includes the cuBLAS headers.
#ifndef FFTRAIN_BASE_CUDA_CUBLAS_STATUS_H_
#define FFTRAIN_BASE_CUDA_CUBLAS_STATUS_H_

#include <cublas_v2.h>

#include "absl/status/status.h"
#include "base/status_macros.h"

namespace fftrain::base {

// OK for CUBLAS_STATUS_SUCCESS; otherwise "EXPR failed: NAME (DESCRIPTION) at FILE:LINE"
// and the process identity. kResourceExhausted for allocations, kInvalidArgument for values.
absl::Status FromCublasStatus(cublasStatus_t status, const char* expression,
                              const char* file, int line);

}  // namespace fftrain::base

#define FFTRAIN_CUBLAS_RETURN_IF_ERROR(expr) \
  FFTRAIN_RETURN_IF_ERROR(::fftrain::base::FromCublasStatus((expr), #expr, __FILE__, __LINE__))

#endif  // FFTRAIN_BASE_CUDA_CUBLAS_STATUS_H_
