// MPI's lifetime in one move-only owner: MpiSession::Init starts MPI, learns this
// process's place in the job (rank, size, rank and size on its host, host name) and
// records it for error messages (base/process_identity.h); the destructor finalizes MPI.
// One per process, made in main before any other thread uses MPI.
//
//   FFTRAIN_ASSIGN_OR_RETURN(comm::MpiSession session, comm::MpiSession::Init(&argc, &argv));
//   FFTRAIN_ASSIGN_OR_RETURN(auto communicator,
//                            comm::MpiCommunicator::Create(session, timeout));
//
// Communicators made from a session must be destroyed before it.
#ifndef FFTRAIN_COMM_MPI_SESSION_H_
#define FFTRAIN_COMM_MPI_SESSION_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fftrain::comm {

class MpiSession {
 public:
  // MPI_Init_thread asking for MPI_THREAD_MULTIPLE; accepts MPI_THREAD_SERIALIZED or
  // better (a communicator is driven by one thread at a time), else FailedPrecondition.
  // Errors on MPI_COMM_WORLD then return to the caller (MPI_ERRORS_RETURN) instead of
  // aborting the job, so that a failure becomes a Status with rank and host. Under
  // mpirun every rank joins the job; run alone, the process is a job of one rank
  // (singleton). FailedPrecondition if MPI was already initialised or finalised.
  static absl::StatusOr<MpiSession> Init(int* argc, char*** argv);

  MpiSession(MpiSession&& other) noexcept;
  MpiSession& operator=(MpiSession&& other) noexcept;
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  // Finalizes MPI unless Finalize or Abort already ended it (or something else did).
  ~MpiSession();

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Rank and number of ranks among the processes sharing this one's memory (its host):
  // the GPU a rank takes is its local rank.
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  const std::string& host() const { return host_; }
  // What MPI_Init_thread provided (MPI_THREAD_SERIALIZED or MPI_THREAD_MULTIPLE).
  int thread_level() const { return thread_level_; }
  // RunningUnderMpirun() as it was before MPI started (see there why it must be asked
  // before): false for a process started alone, a singleton job of one rank.
  bool launched_by_mpirun() const { return launched_by_mpirun_; }

  // MPI_Finalize now, reporting its failure; the destructor then does nothing. Every
  // communicator made from this session must be gone, and every rank must call it.
  absl::Status Finalize();

  // Ends the whole job: MPI_Abort on MPI_COMM_WORLD, which makes mpirun kill every rank.
  // For a fault this rank cannot recover from (a peer is gone). Does not return.
  [[noreturn]] void Abort(int code);

 private:
  MpiSession() = default;

  bool owns_ = false;  // false once moved from, finalized or aborted
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  int thread_level_ = 0;
  bool launched_by_mpirun_ = false;
  std::string host_;
};

// True when a launcher (mpirun, srun or another PMI/PMIx one) started this process, so
// that a caller can tell a plain single-process run (which needs no MPI at all) from a
// rank of an MPI job. Reads OMPI_COMM_WORLD_SIZE, PMI_SIZE and PMIX_RANK: the one place
// the launcher's environment variables are read. Ask before MpiSession::Init (or ask
// the session): Open MPI's singleton start sets PMIX_RANK in the process's own
// environment, after which this says true (seen with Open MPI 4.1.4).
bool RunningUnderMpirun();

}  // namespace fftrain::comm

#endif  // FFTRAIN_COMM_MPI_SESSION_H_
