#include "comm/mpi_communicator.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/mpi_status.h"
#include "base/status_macros.h"
#include "comm/collective_errors.h"

namespace fftrain::comm {
namespace {

// The Status of one MPI call, naming the call and where it was made.
#define FFTRAIN_MPI_STATUS(expr) ::fftrain::base::FromMpiError((expr), #expr, __FILE__, __LINE__)

// MPI counts are ints: longer buffers go in pieces of this many elements.
constexpr int64_t kMaxElementsPerCall = INT_MAX;

bool MpiActive() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

// Between polls of a collective: the first few polls spin, since a collective of a step
// usually completes within microseconds of the last rank joining; then sleeps that
// double from 1 us up to 1 ms, so that a rank waiting for a slow peer leaves the core to
// it (ranks may outnumber cores) at the cost of at most a millisecond of latency.
class PollBackoff {
 public:
  void Pause() {
    if (polls_++ < kSpinPolls) return;
    absl::SleepFor(sleep_);
    sleep_ = std::min(sleep_ * 2, absl::Milliseconds(1));
  }

 private:
  static constexpr int kSpinPolls = 16;
  int polls_ = 0;
  absl::Duration sleep_ = absl::Microseconds(1);
};

std::string Floats(int64_t count) { return absl::StrCat(count, count == 1 ? " float" : " floats"); }

// Prefixes an MPI failure with the collective it broke.
absl::Status InCollective(const std::string& who, const std::string& collective,
                          const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(who, ": ", collective, ": ", status.message()));
}

}  // namespace

// --- OwnedMpiComm ---

absl::StatusOr<OwnedMpiComm> OwnedMpiComm::Duplicate(MPI_Comm comm) {
  MPI_Comm duplicate = MPI_COMM_NULL;
  FFTRAIN_MPI_RETURN_IF_ERROR(MPI_Comm_dup(comm, &duplicate));
  OwnedMpiComm owned(duplicate);
  // The duplicate inherits the handler, but say it: an error must come back as a code
  // here, whatever the parent was set to.
  FFTRAIN_MPI_RETURN_IF_ERROR(MPI_Comm_set_errhandler(duplicate, MPI_ERRORS_RETURN));
  return owned;
}

OwnedMpiComm::OwnedMpiComm(OwnedMpiComm&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)) {}

OwnedMpiComm& OwnedMpiComm::operator=(OwnedMpiComm&& other) noexcept {
  if (this != &other) {
    Reset();
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
  }
  return *this;
}

OwnedMpiComm::~OwnedMpiComm() { Reset(); }

void OwnedMpiComm::Reset() {
  if (comm_ != MPI_COMM_NULL && MpiActive()) MPI_Comm_free(&comm_);
  comm_ = MPI_COMM_NULL;
}

MPI_Comm OwnedMpiComm::Release() { return std::exchange(comm_, MPI_COMM_NULL); }

// --- MpiCommunicator ---

absl::StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create(MpiSession& session,
                                                                         absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("MpiCommunicator: the collective timeout must be positive, not ",
                     absl::FormatDuration(timeout)));
  }
  // Any MPI call outside MPI's lifetime aborts the process in Open MPI.
  if (!MpiActive()) {
    return absl::FailedPreconditionError(
        "MpiCommunicator: MPI is not running (the session was moved from, finalized or "
        "never initialised)");
  }
  FFTRAIN_ASSIGN_OR_RETURN(OwnedMpiComm comm, OwnedMpiComm::Duplicate(MPI_COMM_WORLD));
  return std::unique_ptr<MpiCommunicator>(new MpiCommunicator(
      std::move(comm), session.rank(), session.size(), session.host(), timeout));
}

MpiCommunicator::MpiCommunicator(OwnedMpiComm comm, int rank, int size, std::string host,
                                 absl::Duration timeout)
    : comm_(std::move(comm)), rank_(rank), size_(size), host_(std::move(host)), timeout_(timeout) {}

MpiCommunicator::~MpiCommunicator() {
  if (!MpiActive()) {
    // Nothing can be freed after MPI_Finalize; the handle is gone with MPI.
    comm_.Release();
    return;
  }
  std::vector<MPI_Request> posted = std::move(abandoned_);
  for (PendingAllReduce& p : pending_) {
    posted.insert(posted.end(), p.requests.begin(), p.requests.end());
  }
  posted.erase(std::remove(posted.begin(), posted.end(), MPI_REQUEST_NULL), posted.end());
  if (posted.empty()) return;
  // A failure left collectives posted: give the peers a moment to join them, so that
  // MPI neither writes into buffers the caller is about to free nor keeps a request on
  // a freed communicator.
  const absl::Time deadline = absl::Now() + std::min(timeout_, absl::Seconds(1));
  PollBackoff backoff;
  while (true) {
    int done = 0;
    if (MPI_Testall(static_cast<int>(posted.size()), posted.data(), &done, MPI_STATUSES_IGNORE) !=
        MPI_SUCCESS) {
      break;
    }
    if (done) return;
    if (absl::Now() >= deadline) break;
    backoff.Pause();
  }
  // Still posted (or failed): the job is ending; leaking the handle is safer than
  // freeing a communicator with collectives in flight.
  comm_.Release();
}

std::string MpiCommunicator::Who() const {
  return absl::StrCat("rank ", rank_, " on host ", host_);
}

absl::Status MpiCommunicator::CheckUsable(const std::string& collective) const {
  if (failure_.ok()) return absl::OkStatus();
  return CommunicatorBroken(Who(), collective, failure_);
}

absl::Status MpiCommunicator::Fail(absl::Status status) {
  if (failure_.ok()) failure_ = status;
  return status;
}

absl::Status MpiCommunicator::WaitFor(std::vector<MPI_Request>& requests, absl::Time deadline,
                                      const std::string& collective) {
  for (size_t i = 0; i < requests.size(); ++i) {
    PollBackoff backoff;
    while (requests[i] != MPI_REQUEST_NULL) {
      int done = 0;
      const absl::Status tested =
          FFTRAIN_MPI_STATUS(MPI_Test(&requests[i], &done, MPI_STATUS_IGNORE));
      if (!tested.ok()) {
        abandoned_.insert(abandoned_.end(), requests.begin() + i, requests.end());
        requests.clear();
        return Fail(InCollective(Who(), collective, tested));
      }
      if (done) break;
      if (absl::Now() >= deadline) {
        abandoned_.insert(abandoned_.end(), requests.begin() + i, requests.end());
        requests.clear();
        return Fail(CollectiveDeadlineExceeded(Who(), collective, step(), timeout_));
      }
      backoff.Pause();
    }
  }
  requests.clear();
  return absl::OkStatus();
}

absl::Status MpiCommunicator::StartAllReduce(float* data, int64_t count, ReduceOp op) {
  FFTRAIN_RETURN_IF_ERROR(CheckBuffer("AllReduce", data, count));
  const int64_t sequence = sequence_;
  const std::string collective = absl::StrCat("all-reduce #", sequence, " (", Floats(count), ")");
  FFTRAIN_RETURN_IF_ERROR(CheckUsable(collective));
  ++sequence_;
  PendingAllReduce pending{data, count, op, sequence, {}};
  for (int64_t offset = 0; offset < count; offset += kMaxElementsPerCall) {
    const int n = static_cast<int>(std::min(count - offset, kMaxElementsPerCall));
    MPI_Request request = MPI_REQUEST_NULL;
    const absl::Status posted = FFTRAIN_MPI_STATUS(
        MPI_Iallreduce(MPI_IN_PLACE, data + offset, n, MPI_FLOAT, MPI_SUM, comm_.get(), &request));
    if (!posted.ok()) {
      abandoned_.insert(abandoned_.end(), pending.requests.begin(), pending.requests.end());
      return Fail(InCollective(Who(), collective, posted));
    }
    pending.requests.push_back(request);
  }
  pending_.push_back(std::move(pending));
  return absl::OkStatus();
}

absl::Status MpiCommunicator::WaitAllReduces() {
  FFTRAIN_RETURN_IF_ERROR(CheckUsable("WaitAllReduces"));
  // One deadline for the lot: they were all started before this, and complete in order.
  const absl::Time deadline = absl::Now() + timeout_;
  for (size_t i = 0; i < pending_.size(); ++i) {
    PendingAllReduce& p = pending_[i];
    const std::string collective =
        absl::StrCat("all-reduce #", p.sequence, " (", Floats(p.count), ")");
    const absl::Status waited = WaitFor(p.requests, deadline, collective);
    if (!waited.ok()) {
      // The later ones stay posted: the destructor gives them their last chance.
      for (size_t j = i + 1; j < pending_.size(); ++j) {
        abandoned_.insert(abandoned_.end(), pending_[j].requests.begin(),
                          pending_[j].requests.end());
      }
      pending_.clear();
      return waited;
    }
    if (p.op == ReduceOp::kAverage) {
      // The sum is bitwise the same on every rank, and so is its quotient.
      const float ranks = static_cast<float>(size_);
      for (int64_t j = 0; j < p.count; ++j) p.data[j] /= ranks;
    }
  }
  pending_.clear();
  return absl::OkStatus();
}

absl::Status MpiCommunicator::Broadcast(float* data, int64_t count, int root) {
  FFTRAIN_RETURN_IF_ERROR(CheckRoot("Broadcast", root, size_));
  FFTRAIN_RETURN_IF_ERROR(CheckBuffer("Broadcast", data, count));
  const std::string collective =
      absl::StrCat("broadcast #", sequence_, " (", Floats(count), " from rank ", root, ")");
  FFTRAIN_RETURN_IF_ERROR(CheckUsable(collective));
  ++sequence_;
  const absl::Time deadline = absl::Now() + timeout_;
  std::vector<MPI_Request> requests;
  for (int64_t offset = 0; offset < count; offset += kMaxElementsPerCall) {
    const int n = static_cast<int>(std::min(count - offset, kMaxElementsPerCall));
    MPI_Request request = MPI_REQUEST_NULL;
    const absl::Status posted =
        FFTRAIN_MPI_STATUS(MPI_Ibcast(data + offset, n, MPI_FLOAT, root, comm_.get(), &request));
    if (!posted.ok()) {
      abandoned_.insert(abandoned_.end(), requests.begin(), requests.end());
      return Fail(InCollective(Who(), collective, posted));
    }
    requests.push_back(request);
  }
  return WaitFor(requests, deadline, collective);
}

absl::Status MpiCommunicator::Barrier() {
  const std::string collective = absl::StrCat("barrier #", sequence_);
  FFTRAIN_RETURN_IF_ERROR(CheckUsable(collective));
  ++sequence_;
  const absl::Time deadline = absl::Now() + timeout_;
  std::vector<MPI_Request> requests(1, MPI_REQUEST_NULL);
  const absl::Status posted = FFTRAIN_MPI_STATUS(MPI_Ibarrier(comm_.get(), &requests[0]));
  if (!posted.ok()) return Fail(InCollective(Who(), collective, posted));
  return WaitFor(requests, deadline, collective);
}

absl::Status MpiCommunicator::AllReduceHost(double* data, int64_t count) {
  FFTRAIN_RETURN_IF_ERROR(CheckBuffer("AllReduceHost", data, count));
  if (count > kMaxElementsPerCall) {
    return absl::InvalidArgumentError(
        absl::StrCat("AllReduceHost: ", count, " doubles is more than one MPI call takes"));
  }
  const std::string collective =
      absl::StrCat("host all-reduce #", sequence_, " (", count, " doubles)");
  FFTRAIN_RETURN_IF_ERROR(CheckUsable(collective));
  ++sequence_;
  const absl::Time deadline = absl::Now() + timeout_;
  std::vector<MPI_Request> requests(1, MPI_REQUEST_NULL);
  const absl::Status posted = FFTRAIN_MPI_STATUS(MPI_Iallreduce(
      MPI_IN_PLACE, data, static_cast<int>(count), MPI_DOUBLE, MPI_SUM, comm_.get(), &requests[0]));
  if (!posted.ok()) return Fail(InCollective(Who(), collective, posted));
  return WaitFor(requests, deadline, collective);
}

absl::StatusOr<std::vector<std::string>> MpiCommunicator::AllGather(const std::string& mine) {
  if (mine.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(absl::StrCat("AllGather: a string of ", mine.size(),
                                                   " bytes is more than one MPI call takes"));
  }
  const std::string collective =
      absl::StrCat("all-gather #", sequence_, " (", mine.size(), " bytes here)");
  FFTRAIN_RETURN_IF_ERROR(CheckUsable(collective));
  ++sequence_;
  const absl::Time deadline = absl::Now() + timeout_;

  // First every rank's length, then the characters into one buffer at those offsets.
  int length = static_cast<int>(mine.size());
  std::vector<int> lengths(size_, 0);
  std::vector<MPI_Request> requests(1, MPI_REQUEST_NULL);
  absl::Status posted = FFTRAIN_MPI_STATUS(
      MPI_Iallgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, comm_.get(), &requests[0]));
  if (!posted.ok()) return Fail(InCollective(Who(), collective, posted));
  FFTRAIN_RETURN_IF_ERROR(WaitFor(requests, deadline, collective));

  std::vector<int> offsets(size_, 0);
  int64_t total = 0;
  for (int r = 0; r < size_; ++r) {
    if (total > INT_MAX) break;
    offsets[r] = static_cast<int>(total);
    total += lengths[r];
  }
  if (total > INT_MAX) {
    // Every rank sees the same lengths, so every rank refuses here alike.
    return Fail(absl::InvalidArgumentError(
        absl::StrCat(Who(), ": ", collective, ": the ranks' strings together exceed ", INT_MAX,
                     " bytes, more than one MPI call takes")));
  }
  std::string gathered(static_cast<size_t>(total), '\0');
  requests.assign(1, MPI_REQUEST_NULL);
  posted = FFTRAIN_MPI_STATUS(MPI_Iallgatherv(mine.data(), length, MPI_CHAR, gathered.data(),
                                              lengths.data(), offsets.data(), MPI_CHAR, comm_.get(),
                                              &requests[0]));
  if (!posted.ok()) return Fail(InCollective(Who(), collective, posted));
  FFTRAIN_RETURN_IF_ERROR(WaitFor(requests, deadline, collective));

  std::vector<std::string> all(size_);
  for (int r = 0; r < size_; ++r) all[r] = gathered.substr(offsets[r], lengths[r]);
  return all;
}

void MpiCommunicator::Abort() {
  MPI_Abort(MPI_COMM_WORLD, 1);
  // MPI_Abort does not return in Open MPI; the job must end even if it did.
  std::_Exit(1);
}

}  // namespace fftrain::comm
