#include "base/mpi_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "base/process_identity.h"

namespace fftrain::base {
namespace {

// MPI_Error_string and MPI_Error_class are legal only while MPI is initialised.
bool MpiIsActive() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

absl::StatusCode CodeForMpiClass(int error_class) {
  switch (error_class) {
    case MPI_ERR_BUFFER:
    case MPI_ERR_COUNT:
    case MPI_ERR_TYPE:
    case MPI_ERR_TAG:
    case MPI_ERR_COMM:
    case MPI_ERR_RANK:
    case MPI_ERR_REQUEST:
    case MPI_ERR_ROOT:
    case MPI_ERR_GROUP:
    case MPI_ERR_OP:
    case MPI_ERR_TOPOLOGY:
    case MPI_ERR_DIMS:
    case MPI_ERR_ARG:
    case MPI_ERR_TRUNCATE:
    case MPI_ERR_INFO:
    case MPI_ERR_INFO_KEY:
    case MPI_ERR_INFO_NOKEY:
    case MPI_ERR_INFO_VALUE:
    case MPI_ERR_KEYVAL:
    case MPI_ERR_NOT_SAME:
    case MPI_ERR_SIZE: return absl::StatusCode::kInvalidArgument;
    case MPI_ERR_NO_MEM: return absl::StatusCode::kResourceExhausted;
    case MPI_ERR_UNSUPPORTED_OPERATION: return absl::StatusCode::kUnimplemented;
    case MPI_ERR_INTERN: return absl::StatusCode::kInternal;
    default: return absl::StatusCode::kUnavailable;
  }
}

}  // namespace

const char* MpiErrorClassName(int error_class) {
  switch (error_class) {
    case MPI_SUCCESS: return "MPI_SUCCESS";
    case MPI_ERR_BUFFER: return "MPI_ERR_BUFFER";
    case MPI_ERR_COUNT: return "MPI_ERR_COUNT";
    case MPI_ERR_TYPE: return "MPI_ERR_TYPE";
    case MPI_ERR_TAG: return "MPI_ERR_TAG";
    case MPI_ERR_COMM: return "MPI_ERR_COMM";
    case MPI_ERR_RANK: return "MPI_ERR_RANK";
    case MPI_ERR_REQUEST: return "MPI_ERR_REQUEST";
    case MPI_ERR_ROOT: return "MPI_ERR_ROOT";
    case MPI_ERR_GROUP: return "MPI_ERR_GROUP";
    case MPI_ERR_OP: return "MPI_ERR_OP";
    case MPI_ERR_TOPOLOGY: return "MPI_ERR_TOPOLOGY";
    case MPI_ERR_DIMS: return "MPI_ERR_DIMS";
    case MPI_ERR_ARG: return "MPI_ERR_ARG";
    case MPI_ERR_UNKNOWN: return "MPI_ERR_UNKNOWN";
    case MPI_ERR_TRUNCATE: return "MPI_ERR_TRUNCATE";
    case MPI_ERR_OTHER: return "MPI_ERR_OTHER";
    case MPI_ERR_INTERN: return "MPI_ERR_INTERN";
    case MPI_ERR_IN_STATUS: return "MPI_ERR_IN_STATUS";
    case MPI_ERR_PENDING: return "MPI_ERR_PENDING";
    case MPI_ERR_INFO: return "MPI_ERR_INFO";
    case MPI_ERR_INFO_KEY: return "MPI_ERR_INFO_KEY";
    case MPI_ERR_INFO_NOKEY: return "MPI_ERR_INFO_NOKEY";
    case MPI_ERR_INFO_VALUE: return "MPI_ERR_INFO_VALUE";
    case MPI_ERR_KEYVAL: return "MPI_ERR_KEYVAL";
    case MPI_ERR_NO_MEM: return "MPI_ERR_NO_MEM";
    case MPI_ERR_NOT_SAME: return "MPI_ERR_NOT_SAME";
    case MPI_ERR_SIZE: return "MPI_ERR_SIZE";
    case MPI_ERR_SPAWN: return "MPI_ERR_SPAWN";
    case MPI_ERR_UNSUPPORTED_OPERATION: return "MPI_ERR_UNSUPPORTED_OPERATION";
    default: return "MPI error class (unnamed)";
  }
}

absl::Status FromMpiError(int code, const char* expression, const char* file, int line) {
  if (code == MPI_SUCCESS) return absl::OkStatus();
  const bool active = MpiIsActive();
  // Predefined codes are their own class; codes above MPI_ERR_LASTCODE are
  // implementation- or user-defined and only MPI can say which class they belong to.
  int error_class = code;
  if (code < 0 || code > MPI_ERR_LASTCODE) {
    error_class = MPI_ERR_UNKNOWN;
    if (active && MPI_Error_class(code, &error_class) != MPI_SUCCESS) {
      error_class = MPI_ERR_UNKNOWN;
    }
  }
  std::string message = absl::StrCat(expression, " failed: ", MpiErrorClassName(error_class));
  if (error_class != code) absl::StrAppend(&message, " (code ", code, ")");
  if (active) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, text, &length) == MPI_SUCCESS && length > 0) {
      absl::StrAppend(&message, " (", absl::string_view(text, length), ")");
    }
  }
  absl::StrAppend(&message, " at ", file, ":", line, ProcessIdentitySuffix());
  return absl::Status(CodeForMpiClass(error_class), message);
}

}  // namespace fftrain::base
