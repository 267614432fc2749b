#include "comm/mpi_session.h"

#include <mpi.h>

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/mpi_status.h"
#include "base/process_identity.h"
#include "base/status_macros.h"

namespace fftrain::comm {
namespace {

bool MpiFinalized() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  return finalized != 0;
}

const char* ThreadLevelName(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE: return "MPI_THREAD_MULTIPLE";
    default: return "an unknown thread level";
  }
}

}  // namespace

absl::StatusOr<MpiSession> MpiSession::Init(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized || MpiFinalized()) {
    return absl::FailedPreconditionError(
        "MpiSession::Init: MPI was already started in this process (one MpiSession per "
        "process; MPI cannot be started again, even after MPI_Finalize)");
  }
  MpiSession session;
  // Before MPI_Init_thread, which sets PMIX_RANK itself when it starts a singleton.
  session.launched_by_mpirun_ = RunningUnderMpirun();
  FFTRAIN_MPI_RETURN_IF_ERROR(
      MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &session.thread_level_));
  // From here on `session` finalizes MPI on every return, the failed ones included.
  session.owns_ = true;
  // Before anything else can fail: the default handler would abort the whole job on
  // the first error, without a word about which call or rank.
  FFTRAIN_MPI_RETURN_IF_ERROR(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  FFTRAIN_MPI_RETURN_IF_ERROR(MPI_Comm_rank(MPI_COMM_WORLD, &session.rank_));
  FFTRAIN_MPI_RETURN_IF_ERROR(MPI_Comm_size(MPI_COMM_WORLD, &session.size_));

  char host[MPI_MAX_PROCESSOR_NAME];
  int host_length = 0;
  FFTRAIN_MPI_RETURN_IF_ERROR(MPI_Get_processor_name(host, &host_length));
  session.host_.assign(host, host_length);
  // The process identity makes every later error message name this rank. A job of one
  // rank has nothing to tell apart, and single-process messages carry no identity.
  if (session.size_ > 1) {
    base::SetProcessIdentity(session.rank_, session.size_, session.host_);
  }

  if (session.thread_level_ < MPI_THREAD_SERIALIZED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "MpiSession::Init: MPI provides only ", ThreadLevelName(session.thread_level_),
        "; MPI_THREAD_SERIALIZED or better is needed, since the trainer's communicator "
        "may be driven from more than one thread (one at a time)",
        base::ProcessIdentitySuffix()));
  }

  // The ranks that share memory with this one: those on the same host.
  MPI_Comm local = MPI_COMM_NULL;
  FFTRAIN_MPI_RETURN_IF_ERROR(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED,
                                                  session.rank_, MPI_INFO_NULL, &local));
  const int rank_error = MPI_Comm_rank(local, &session.local_rank_);
  const int size_error = MPI_Comm_size(local, &session.local_size_);
  const int free_error = MPI_Comm_free(&local);
  FFTRAIN_MPI_RETURN_IF_ERROR(rank_error);
  FFTRAIN_MPI_RETURN_IF_ERROR(size_error);
  FFTRAIN_MPI_RETURN_IF_ERROR(free_error);
  return session;
}

MpiSession::MpiSession(MpiSession&& other) noexcept
    : owns_(std::exchange(other.owns_, false)),
      rank_(other.rank_),
      size_(other.size_),
      local_rank_(other.local_rank_),
      local_size_(other.local_size_),
      thread_level_(other.thread_level_),
      launched_by_mpirun_(other.launched_by_mpirun_),
      host_(std::move(other.host_)) {}

MpiSession& MpiSession::operator=(MpiSession&& other) noexcept {
  if (this != &other) {
    // Only one session can exist with owns_ set; a second would be a programmer bug
    // caught by Init, so an owning target here means `other` is a moved-from husk.
    if (owns_) Finalize().IgnoreError();
    owns_ = std::exchange(other.owns_, false);
    rank_ = other.rank_;
    size_ = other.size_;
    local_rank_ = other.local_rank_;
    local_size_ = other.local_size_;
    thread_level_ = other.thread_level_;
    launched_by_mpirun_ = other.launched_by_mpirun_;
    host_ = std::move(other.host_);
  }
  return *this;
}

MpiSession::~MpiSession() {
  if (owns_) Finalize().IgnoreError();
}

absl::Status MpiSession::Finalize() {
  if (!owns_) return absl::OkStatus();
  owns_ = false;
  // Someone else (a library, a test) may have finalized already; a second
  // MPI_Finalize is an error MPI reports by aborting.
  if (MpiFinalized()) return absl::OkStatus();
  FFTRAIN_MPI_RETURN_IF_ERROR(MPI_Finalize());
  return absl::OkStatus();
}

void MpiSession::Abort(int code) {
  owns_ = false;
  MPI_Abort(MPI_COMM_WORLD, code);
  // MPI_Abort does not return in Open MPI; should an implementation return, the job
  // must still end, with a failing status.
  std::_Exit(code != 0 ? code : 1);
}

bool RunningUnderMpirun() {
  // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; MPICH's hydra and Slurm's PMI set
  // PMI_SIZE; PMIx launchers (Open MPI 5, srun --mpi=pmix) set PMIX_RANK.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && value[0] != '\0') return true;
  }
  return false;
}

}  // namespace fftrain::comm
