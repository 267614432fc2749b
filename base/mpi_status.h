// MPI's error codes as absl::Status, in the form of base/cuda/nccl_status.h: the failed
// expression, MPI's own description (MPI_Error_string), file:line, and which rank on which
// host (base/process_identity.h), since an MPI failure is one rank's view of a job of many.
// This is the one place MPI error codes are converted; comm/ calls MPI only through
// FFTRAIN_MPI_RETURN_IF_ERROR or FromMpiError.
// Internal: includes mpi.h.
#ifndef FFTRAIN_BASE_MPI_STATUS_H_
#define FFTRAIN_BASE_MPI_STATUS_H_

#include <mpi.h>

#include "absl/status/status.h"
#include "base/status_macros.h"

namespace fftrain::base {

// OK for MPI_SUCCESS. Otherwise "EXPR failed: NAME (MPI_Error_string) at FILE:LINE" and
// the process identity, with the code chosen by the error's class:
//   a wrong argument (MPI_ERR_ARG, _COUNT, _TYPE, _OP, _ROOT, _COMM, _RANK, _BUFFER,
//     _TAG, _REQUEST, _GROUP, _TRUNCATE, ...)     kInvalidArgument: our call was wrong
//   MPI_ERR_NO_MEM                                kResourceExhausted
//   MPI_ERR_UNSUPPORTED_OPERATION                 kUnimplemented
//   MPI_ERR_INTERN                                kInternal
//   anything else (MPI_ERR_OTHER, _UNKNOWN, _PENDING, _IN_STATUS, ...)
//                                                 kUnavailable: a peer or the network
//                                                 failed, which is how Open MPI (without
//                                                 ULFM) reports a dead rank to a caller
//                                                 that asked for MPI_ERRORS_RETURN
//
// MPI_Error_string and MPI_Error_class may only be called between MPI_Init and
// MPI_Finalize (Open MPI aborts the process otherwise), so outside that window the
// message carries the class's name only, and a code above MPI_ERR_LASTCODE is treated
// as of class MPI_ERR_UNKNOWN.
absl::Status FromMpiError(int code, const char* expression, const char* file, int line);

// "MPI_ERR_TRUNCATE": the name of a predefined error class, which MPI_Error_string does
// not give; "MPI error class N" for others.
const char* MpiErrorClassName(int error_class);

}  // namespace fftrain::base

#define FFTRAIN_MPI_RETURN_IF_ERROR(expr) \
  FFTRAIN_RETURN_IF_ERROR(::fftrain::base::FromMpiError((expr), #expr, __FILE__, __LINE__))

#endif  // FFTRAIN_BASE_MPI_STATUS_H_
