// cuFFT's result codes as absl::Status, in the form of base/cuda/cuda_status.h.
// Internal: includes the cuFFT headers.
#ifndef FFTRAIN_BASE_CUDA_CUFFT_STATUS_H_
#define FFTRAIN_BASE_CUDA_CUFFT_STATUS_H_

#include <cufft.h>

#include "absl/status/status.h"
#include "base/status_macros.h"

namespace fftrain::base {

// OK for CUFFT_SUCCESS; otherwise "EXPR failed: NAME (CODE) at FILE:LINE" and the process
// identity. kResourceExhausted for allocations, kInvalidArgument for sizes and values.
absl::Status FromCufftResult(cufftResult result, const char* expression, const char* file,
                             int line);

// "CUFFT_INVALID_PLAN": cuFFT has no cufftGetErrorString of its own.
const char* CufftResultName(cufftResult result);

}  // namespace fftrain::base

#define FFTRAIN_CUFFT_RETURN_IF_ERROR(expr) \
  FFTRAIN_RETURN_IF_ERROR(::fftrain::base::FromCufftResult((expr), #expr, __FILE__, __LINE__))

#endif  // FFTRAIN_BASE_CUDA_CUFFT_STATUS_H_
