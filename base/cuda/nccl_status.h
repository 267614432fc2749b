// NCCL's result codes as absl::Status, in the form of base/cuda/cuda_status.h: the failed
// expression, file:line, NCCL's own description and its last error text, and which rank
// on which host (base/process_identity.h), since an NCCL failure is always one rank's view
// of a collective that many ranks share.
// Internal: includes nccl.h.
#ifndef FFTRAIN_BASE_CUDA_NCCL_STATUS_H_
#define FFTRAIN_BASE_CUDA_NCCL_STATUS_H_

#include <nccl.h>

#include "absl/status/status.h"
#include "base/status_macros.h"

namespace fftrain::base {

// OK for ncclSuccess. Otherwise "EXPR failed: NAME (ncclGetErrorString); NCCL's last
// error: ncclGetLastError at FILE:LINE" and the process identity, with the code:
//   ncclSystemError, ncclRemoteError        kUnavailable: the network or a peer failed;
//                                           the job may succeed when restarted
//   ncclInvalidArgument, ncclInvalidUsage   kInvalidArgument: our call was wrong
//   ncclInProgress                          kUnavailable (see below)
//   ncclUnhandledCudaError, ncclInternalError and anything else  kInternal
//
// ncclInProgress is not a failure for a caller that polls a nonblocking communicator
// (ncclCommGetAsyncError): such a caller compares the result with ncclInProgress and
// keeps polling, and converts only what it gets after that. Reaching this function with
// ncclInProgress means an operation was abandoned unfinished, hence kUnavailable.
//
// ncclGetLastError is process-wide and not cleared on success, so its text may describe
// an earlier failure; it is kept because it usually names the socket, peer or CUDA call
// that ncclGetErrorString's generic text does not.
absl::Status FromNcclResult(ncclResult_t result, const char* expression, const char* file,
                            int line);

// "ncclSystemError": the enumerator's name, which ncclGetErrorString does not give.
const char* NcclResultName(ncclResult_t result);

}  // namespace fftrain::base

#define FFTRAIN_NCCL_RETURN_IF_ERROR(expr) \
  FFTRAIN_RETURN_IF_ERROR(::fftrain::base::FromNcclResult((expr), #expr, __FILE__, __LINE__))

#endif  // FFTRAIN_BASE_CUDA_NCCL_STATUS_H_
