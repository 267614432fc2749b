#include "comm/communicator.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fftrain::comm {

const char* ReduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return "sum";
    case ReduceOp::kAverage:
      return "average";
  }
  return "unknown";
}

absl::Status Communicator::AllReduce(float* data, int64_t count, ReduceOp op) {
  FFTRAIN_RETURN_IF_ERROR(StartAllReduce(data, count, op));
  return WaitAllReduces();
}

absl::Status CheckBuffer(const char* collective, const void* data, int64_t count) {
  if (count < 0 || (count > 0 && data == nullptr)) {
    return absl::InvalidArgumentError(absl::StrCat(
        collective, ": bad buffer (", count, " elements at ", data == nullptr ? "null" : "ptr",
        ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckRoot(const char* collective, int root, int size) {
  if (root < 0 || root >= size) {
    return absl::InvalidArgumentError(absl::StrCat(collective, ": root ", root,
                                                   " is not a rank of a ", size,
                                                   "-rank communicator"));
  }
  return absl::OkStatus();
}

absl::Status SingleProcessCommunicator::StartAllReduce(float* data, int64_t count, ReduceOp) {
  return CheckBuffer("AllReduce", data, count);
}

absl::Status SingleProcessCommunicator::Broadcast(float* data, int64_t count, int root) {
  FFTRAIN_RETURN_IF_ERROR(CheckRoot("Broadcast", root, 1));
  return CheckBuffer("Broadcast", data, count);
}

absl::Status SingleProcessCommunicator::AllReduceHost(double* data, int64_t count) {
  return CheckBuffer("AllReduceHost", data, count);
}

absl::StatusOr<std::vector<std::string>> SingleProcessCommunicator::AllGather(
    const std::string& mine) {
  return std::vector<std::string>{mine};
}

}  // namespace fftrain::comm
