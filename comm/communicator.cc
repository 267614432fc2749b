#include "comm/communicator.h"

#include "absl/strings/str_cat.h"

namespace fftrain::comm {

absl::Status SingleProcessCommunicator::AllReduceSum(float* data, int64_t count) {
  if (count < 0 || (count > 0 && data == nullptr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllReduceSum: bad buffer (", count, " elements)"));
  }
  return absl::OkStatus();
}

absl::Status SingleProcessCommunicator::Broadcast(float* data, int64_t count, int root) {
  if (root != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Broadcast: root ", root, " is not a rank of a 1-rank communicator"));
  }
  if (count < 0 || (count > 0 && data == nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat("Broadcast: bad buffer (", count, " elements)"));
  }
  return absl::OkStatus();
}

}  // namespace fftrain::comm
