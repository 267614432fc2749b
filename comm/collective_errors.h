// The messages a communicator gives when a collective cannot complete, shared by the MPI
// and loopback implementations so that a fault reads the same whichever one saw it.
#ifndef FFTRAIN_COMM_COLLECTIVE_ERRORS_H_
#define FFTRAIN_COMM_COLLECTIVE_ERRORS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace fftrain::comm {

// DeadlineExceeded: "<who>: <collective> at step <step> did not complete within
// <timeout>: a rank is gone or out of step; ending the job", without "at step" while no
// step is set (step < 0). `who` names this rank ("rank 1 on host h"); `collective` is
// e.g. "all-reduce #17 (1234 floats)".
absl::Status CollectiveDeadlineExceeded(absl::string_view who, absl::string_view collective,
                                        int64_t step, absl::Duration timeout);

// FailedPrecondition for a call after a collective of this communicator failed: the
// ranks may no longer agree on the sequence of collectives, so nothing later can be
// trusted to match. Carries the first failure's message.
absl::Status CommunicatorBroken(absl::string_view who, absl::string_view collective,
                                const absl::Status& first_failure);

}  // namespace fftrain::comm

#endif  // FFTRAIN_COMM_COLLECTIVE_ERRORS_H_
