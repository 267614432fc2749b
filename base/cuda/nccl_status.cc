#include "base/cuda/nccl_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "base/process_identity.h"

namespace fftrain::base {
namespace {

absl::StatusCode CodeForNccl(ncclResult_t result) {
  switch (result) {
    case ncclSystemError:
    case ncclRemoteError:
    case ncclInProgress:
      return absl::StatusCode::kUnavailable;
    case ncclInvalidArgument:
    case ncclInvalidUsage:
      return absl::StatusCode::kInvalidArgument;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

const char* NcclResultName(ncclResult_t result) {
  switch (result) {
    case ncclSuccess: return "ncclSuccess";
    case ncclUnhandledCudaError: return "ncclUnhandledCudaError";
    case ncclSystemError: return "ncclSystemError";
    case ncclInternalError: return "ncclInternalError";
    case ncclInvalidArgument: return "ncclInvalidArgument";
    case ncclInvalidUsage: return "ncclInvalidUsage";
    case ncclRemoteError: return "ncclRemoteError";
    case ncclInProgress: return "ncclInProgress";
    default: return "unknown ncclResult_t";
  }
}

absl::Status FromNcclResult(ncclResult_t result, const char* expression, const char* file,
                            int line) {
  if (result == ncclSuccess) return absl::OkStatus();
  std::string message = absl::StrCat(expression, " failed: ", NcclResultName(result), " (",
                                     ncclGetErrorString(result), ")");
  // nullptr: the last error of any communicator, since the failing call may have had none
  // (ncclCommInitRank) or been given one that is now broken.
  const char* last = ncclGetLastError(nullptr);
  if (last != nullptr && last[0] != '\0') {
    absl::StrAppend(&message, "; NCCL's last error: ", last);
  }
  absl::StrAppend(&message, " at ", file, ":", line, ProcessIdentitySuffix());
  return absl::Status(CodeForNccl(result), message);
}

}  // namespace fftrain::base
