#include "base/cuda/cublas_status.h"

#include "absl/strings/str_cat.h"
#include "base/process_identity.h"

namespace fftrain::base {

absl::Status FromCublasStatus(cublasStatus_t status, const char* expression,
                              const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const absl::StatusCode code = status == CUBLAS_STATUS_ALLOC_FAILED
                                    ? absl::StatusCode::kResourceExhausted
                                : status == CUBLAS_STATUS_INVALID_VALUE
                                    ? absl::StatusCode::kInvalidArgument
                                    : absl::StatusCode::kInternal;
  return absl::Status(code, absl::StrCat(expression, " failed: ", cublasGetStatusName(status),
                                         " (", cublasGetStatusString(status), ") at ", file,
                                         ":", line, ProcessIdentitySuffix()));
}

}  // namespace fftrain::base
