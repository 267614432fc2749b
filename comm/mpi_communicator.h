// The Communicator over MPI, for the CPU backend: host buffers, nonblocking collectives
// (MPI_Iallreduce, MPI_Ibcast, MPI_Ibarrier, MPI_Iallgather[v]) on a duplicate of
// MPI_COMM_WORLD, every wait bounded by the timeout. MPI's blocking calls would wait
// forever for a rank that is gone; polling a nonblocking one lets a rank give up with a
// message that names it, the collective and the step.
//
// After a collective fails (a timeout, an MPI error) the ranks may be out of step, so
// every later call is refused with FailedPrecondition: the caller is expected to end the
// job with Abort().
//
// Not thread-safe: one thread at a time drives it (MPI_THREAD_SERIALIZED suffices).
// Internal: includes mpi.h.
#ifndef FFTRAIN_COMM_MPI_COMMUNICATOR_H_
#define FFTRAIN_COMM_MPI_COMMUNICATOR_H_

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "comm/communicator.h"
#include "comm/mpi_session.h"

namespace fftrain::comm {

// An MPI communicator handle that frees itself (MPI_Comm_free), unless MPI has already
// been finalized (then there is nothing left to free).
class OwnedMpiComm {
 public:
  // Duplicates `comm` (collective over its ranks), errors returned, not fatal.
  static absl::StatusOr<OwnedMpiComm> Duplicate(MPI_Comm comm);

  OwnedMpiComm() = default;
  OwnedMpiComm(OwnedMpiComm&& other) noexcept;
  OwnedMpiComm& operator=(OwnedMpiComm&& other) noexcept;
  OwnedMpiComm(const OwnedMpiComm&) = delete;
  OwnedMpiComm& operator=(const OwnedMpiComm&) = delete;
  ~OwnedMpiComm();

  MPI_Comm get() const { return comm_; }
  // Gives up ownership without freeing: for a handle that must outlive this owner
  // (collectives still in flight on it) or that MPI_Finalize already took.
  MPI_Comm Release();

 private:
  explicit OwnedMpiComm(MPI_Comm comm) : comm_(comm) {}
  void Reset();

  MPI_Comm comm_ = MPI_COMM_NULL;
};

class MpiCommunicator : public Communicator {
 public:
  // Duplicates MPI_COMM_WORLD, so that this communicator's collectives never match
  // anyone else's; collective: every rank must call it. `timeout` bounds every wait.
  static absl::StatusOr<std::unique_ptr<MpiCommunicator>> Create(MpiSession& session,
                                                                 absl::Duration timeout);

  // Waits briefly (at most a second, or the timeout if shorter) for collectives that a
  // failure left posted, so that their buffers are not written after this returns;
  // leaks what is still posted after that (the job is ending).
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }
  absl::Duration timeout() const { return timeout_; }

  absl::Status StartAllReduce(float* data, int64_t count, ReduceOp op) override;
  absl::Status WaitAllReduces() override;
  absl::Status Broadcast(float* data, int64_t count, int root) override;
  absl::Status Barrier() override;
  absl::Status AllReduceHost(double* data, int64_t count) override;
  absl::StatusOr<std::vector<std::string>> AllGather(const std::string& mine) override;
  // MPI_Abort on MPI_COMM_WORLD: mpirun ends every rank. Does not return.
  void Abort() override;

 private:
  // One started all-reduce; a count above MPI's int takes several requests.
  struct PendingAllReduce {
    float* data;
    int64_t count;
    ReduceOp op;
    int64_t sequence;
    std::vector<MPI_Request> requests;
  };

  MpiCommunicator(OwnedMpiComm comm, int rank, int size, std::string host, absl::Duration timeout);

  // "rank 1 on host h".
  std::string Who() const;
  // OK, or the refusal after an earlier failure.
  absl::Status CheckUsable(const std::string& collective) const;
  // Polls `requests` in order until each completes or `deadline` passes; marks this
  // communicator broken on failure. `collective` names it in messages.
  absl::Status WaitFor(std::vector<MPI_Request>& requests, absl::Time deadline,
                       const std::string& collective);
  // Posts one nonblocking collective and waits for it: the control plane and Broadcast.
  absl::Status PostAndWait(int mpi_error, MPI_Request& request, const char* expression,
                           const std::string& collective);
  absl::Status Fail(absl::Status status);

  OwnedMpiComm comm_;
  int rank_;
  int size_;
  std::string host_;
  absl::Duration timeout_;
  // Collectives of this communicator so far, numbered from 0 for messages: the same
  // number on every rank while they keep the ordering rule.
  int64_t sequence_ = 0;
  std::vector<PendingAllReduce> pending_;
  // Requests a failed wait left posted; the destructor gives them a last chance.
  std::vector<MPI_Request> abandoned_;
  absl::Status failure_;
};

}  // namespace fftrain::comm

#endif  // FFTRAIN_COMM_MPI_COMMUNICATOR_H_
