// Start-up agreement between ranks: a step that fails on one rank fails on all of them
// with that rank's message (instead of the others waiting for it in the next collective
// until the deadline), and the settings every rank must share are compared before any
// training starts.
#ifndef FFTRAIN_COMM_RANK_AGREEMENT_H_
#define FFTRAIN_COMM_RANK_AGREEMENT_H_

#include <string>

#include "absl/status/status.h"
#include "comm/communicator.h"

namespace fftrain::comm {

// A collective (every rank calls it at the same point): OK when `local` is OK on every
// rank. Otherwise each failing rank gets its own status back and every other rank an
// error naming the first failing rank and its message. The statuses returned are marked
// (IsAgreedFailure) so that callers can end every rank normally, without aborting the
// job: every rank already knows.
absl::Status AgreeOnStatus(Communicator& communicator, const absl::Status& local);

bool IsAgreedFailure(const absl::Status& status);

// A collective: `settings` holds "key=value" lines that must be identical on every rank.
// FailedPrecondition (agreed) naming the first rank and key that differ from rank 0's,
// with both values, e.g. "rank 2 has batch_size=64 where rank 0 has batch_size=128".
absl::Status CheckSameOnEveryRank(Communicator& communicator, const std::string& settings);

// A collective: rank 0's `text` on every rank (control plane).
absl::StatusOr<std::string> BroadcastText(Communicator& communicator, const std::string& text);

}  // namespace fftrain::comm

#endif  // FFTRAIN_COMM_RANK_AGREEMENT_H_
