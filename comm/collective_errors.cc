#include "comm/collective_errors.h"

#include "absl/strings/str_cat.h"

namespace fftrain::comm {

absl::Status CollectiveDeadlineExceeded(absl::string_view who, absl::string_view collective,
                                        int64_t step, absl::Duration timeout) {
  const std::string at_step = step >= 0 ? absl::StrCat(" at step ", step) : std::string();
  return absl::DeadlineExceededError(absl::StrCat(
      who, ": ", collective, at_step, " did not complete within ", absl::FormatDuration(timeout),
      ": a rank is gone or out of step; ending the job"));
}

absl::Status CommunicatorBroken(absl::string_view who, absl::string_view collective,
                                const absl::Status& first_failure) {
  return absl::FailedPreconditionError(
      absl::StrCat(who, ": ", collective,
                   " refused: an earlier collective failed, so the ranks may be out of step (",
                   first_failure.message(), ")"));
}

}  // namespace fftrain::comm
