#include "base/cuda/cuda_status.h"

#include "absl/strings/str_cat.h"
#include "base/process_identity.h"

namespace fftrain::base {
namespace {

absl::StatusCode CodeForCuda(cudaError_t error) {
  switch (error) {
    case cudaErrorMemoryAllocation:
      return absl::StatusCode::kResourceExhausted;
    case cudaErrorInvalidValue:
    case cudaErrorInvalidDevicePointer:
    case cudaErrorInvalidConfiguration:
      return absl::StatusCode::kInvalidArgument;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
      return absl::StatusCode::kFailedPrecondition;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status FromCudaError(cudaError_t error, const char* expression, const char* file,
                           int line) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::Status(CodeForCuda(error),
                      absl::StrCat(expression, " failed: ", cudaGetErrorName(error), " (",
                                   cudaGetErrorString(error), ") at ", file, ":", line,
                                   ProcessIdentitySuffix()));
}

}  // namespace fftrain::base
