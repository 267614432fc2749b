#include "comm/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/cuda/cuda_status.h"
#include "base/cuda/nccl_status.h"
#include "base/process_identity.h"
#include "base/status_macros.h"

namespace fftrain::comm {
namespace {

using ::fftrain::base::CudaEvent;
using ::fftrain::base::CudaStream;
using ::fftrain::base::ProcessIdentitySuffix;

// How long to sleep between polls of a nonblocking NCCL operation: short, since these
// are set-up and connection steps of milliseconds, on a thread with nothing else to do.
constexpr absl::Duration kPollInterval = absl::Microseconds(20);

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

// The state of a nonblocking communicator's last operation: ncclInProgress while it
// runs, then its result. A failure of the query itself counts as the result.
ncclResult_t AsyncState(ncclComm_t comm) {
  ncclResult_t state = ncclInProgress;
  const ncclResult_t queried = ncclCommGetAsyncError(comm, &state);
  return queried != ncclSuccess ? queried : state;
}

// Polls `comm` (not shared with another thread yet, or no longer) until its operation
// ends or `deadline` passes; the operation's result, or ncclInProgress after the deadline.
ncclResult_t AwaitAsync(ncclComm_t comm, absl::Time deadline) {
  ncclResult_t state = AsyncState(comm);
  while (state == ncclInProgress && absl::Now() < deadline) {
    absl::SleepFor(kPollInterval);
    state = AsyncState(comm);
  }
  return state;
}

// " at step 12" for fault messages; nothing while no step is set (step() < 0).
std::string AtStep(int64_t step) {
  return step < 0 ? std::string() : absl::StrCat(" at step ", step);
}

// What a rank sets up on its own before anything is collective.
struct LocalSetUp {
  std::string bus_id;  // "0000:1B:00.0"
  CudaStream stream;
  CudaEvent compute_ready;
  CudaEvent comm_done;
  std::vector<CudaEvent> reserved_events;
};

absl::StatusOr<LocalSetUp> SetUpLocally(int device, int reserved_events) {
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  char bus_id[64] = {};
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaDeviceGetPCIBusId(bus_id, sizeof(bus_id), device));
  // Non-blocking: the communication stream must not wait for the legacy default stream
  // (where a compute stream of nullptr puts its work) except through our events.
  FFTRAIN_ASSIGN_OR_RETURN(CudaStream stream, CudaStream::Create());
  FFTRAIN_ASSIGN_OR_RETURN(CudaEvent compute_ready, CudaEvent::CreateWithoutTiming());
  FFTRAIN_ASSIGN_OR_RETURN(CudaEvent comm_done, CudaEvent::CreateWithoutTiming());
  std::vector<CudaEvent> reserved;
  for (int i = 0; i < reserved_events; ++i) {
    FFTRAIN_ASSIGN_OR_RETURN(CudaEvent event, CudaEvent::CreateWithoutTiming());
    reserved.push_back(std::move(event));
  }
  return LocalSetUp{bus_id, std::move(stream), std::move(compute_ready), std::move(comm_done),
                    std::move(reserved)};
}

// NCCL's unique id from rank 0's entry of the gathered ids: hex text, or "!reason"
// where rank 0 could not make it.
absl::StatusOr<ncclUniqueId> DecodeUniqueId(const std::vector<std::string>& gathered) {
  if (gathered.empty()) {
    return absl::InternalError("NCCL set-up: the control plane gathered no unique id");
  }
  const std::string& text = gathered[0];
  if (!text.empty() && text[0] == '!') {
    return absl::FailedPreconditionError(absl::StrCat(
        "rank 0 could not make NCCL's unique id: ", text.substr(1), ProcessIdentitySuffix()));
  }
  bool hex = text.size() == 2 * NCCL_UNIQUE_ID_BYTES;
  for (char c : text) hex = hex && absl::ascii_isxdigit(static_cast<unsigned char>(c));
  if (!hex) {
    return absl::InternalError(absl::StrCat(
        "NCCL set-up: rank 0 sent a malformed unique id (", text.size(), " characters, expected ",
        2 * NCCL_UNIQUE_ID_BYTES, " hex digits)", ProcessIdentitySuffix()));
  }
  const std::string bytes = absl::HexStringToBytes(text);
  ncclUniqueId id;
  std::memcpy(id.internal, bytes.data(), NCCL_UNIQUE_ID_BYTES);
  return id;
}

}  // namespace

absl::Status CheckOneRankPerGpu(const std::vector<std::string>& host_and_bus_ids) {
  // Entry -> the first rank that sent it.
  absl::flat_hash_map<std::string, size_t> first_rank;
  for (size_t rank = 0; rank < host_and_bus_ids.size(); ++rank) {
    const std::string& entry = host_and_bus_ids[rank];
    if (!entry.empty() && entry[0] == '!') {
      return absl::FailedPreconditionError(
          absl::StrCat("rank ", rank, " could not set up its GPU for NCCL: ", entry.substr(1)));
    }
    const size_t bar = entry.rfind('|');
    if (bar == std::string::npos) {
      return absl::InternalError(absl::StrCat("NCCL set-up: rank ", rank,
                                              " sent a malformed GPU identity '", entry,
                                              "' (expected host|PCI bus id)"));
    }
    const auto [it, inserted] = first_rank.emplace(entry, rank);
    if (!inserted) {
      return absl::FailedPreconditionError(
          absl::StrCat("ranks ", it->second, " and ", rank, " both use GPU ", entry.substr(bar + 1),
                       " on host ", entry.substr(0, bar), ": one rank per GPU"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    Communicator& control, int device, base::CudaStreamHandle compute_stream,
    absl::Duration timeout) {
  NcclCommunicatorOptions options;
  options.timeout = timeout;
  return Create(control, device, compute_stream, std::move(options));
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    Communicator& control, int device, base::CudaStreamHandle compute_stream,
    NcclCommunicatorOptions options) {
  if (options.timeout <= absl::ZeroDuration() || options.watchdog_period <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("NcclCommunicator: the timeout (", absl::FormatDuration(options.timeout),
                     ") and the watchdog period (", absl::FormatDuration(options.watchdog_period),
                     ") must be positive"));
  }
  if (options.reserved_events < 0) {
    return absl::InvalidArgumentError(absl::StrCat("NcclCommunicator: reserved_events is ",
                                                   options.reserved_events, ", must be >= 0"));
  }
  const int rank = control.rank();
  const int size = control.size();
  const std::string host = HostName();

  // (a) Each rank sets up its side first. A failure travels in the gather as "!reason"
  // instead of returning at once: every rank sees the same list and fails alike, where
  // an early return would leave the others waiting in the next collective.
  absl::StatusOr<LocalSetUp> local = SetUpLocally(device, options.reserved_events);
  // The failure is in the Status; the runtime would also keep it as this thread's last
  // error, for the caller's next launch check to take as its own.
  if (!local.ok()) cudaGetLastError();
  const std::string mine = local.ok() ? absl::StrCat(host, "|", local->bus_id)
                                      : absl::StrCat("!", local.status().message());
  FFTRAIN_ASSIGN_OR_RETURN(std::vector<std::string> gpus, control.AllGather(mine));
  if (!local.ok()) return local.status();
  if (static_cast<int>(gpus.size()) != size) {
    return absl::InternalError(absl::StrCat("NCCL set-up: gathered ", gpus.size(),
                                            " GPU identities from ", size, " ranks"));
  }
  // Two ranks on one GPU would share its memory and SMs at best; NCCL refuses them in
  // its set-up anyway ("Duplicate GPU detected"), but only after the timeout on others.
  FFTRAIN_RETURN_IF_ERROR(CheckOneRankPerGpu(gpus));

  // (b) Rank 0 makes the unique id (it also starts NCCL's bootstrap listener there).
  std::string id_text;
  if (rank == 0) {
    ncclUniqueId id;
    const absl::Status made =
        base::FromNcclResult(ncclGetUniqueId(&id), "ncclGetUniqueId(&id)", __FILE__, __LINE__);
    id_text = made.ok()
                  ? absl::BytesToHexString(absl::string_view(id.internal, sizeof(id.internal)))
                  : absl::StrCat("!", made.message());
  }
  FFTRAIN_ASSIGN_OR_RETURN(std::vector<std::string> ids, control.AllGather(id_text));
  FFTRAIN_ASSIGN_OR_RETURN(ncclUniqueId id, DecodeUniqueId(ids));

  // (c) A nonblocking communicator, so that its set-up (and later any hang) is bounded
  // by our timeout rather than waiting forever for a rank that never arrives.
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  const absl::Time deadline = absl::Now() + options.timeout;
  ncclResult_t result = ncclCommInitRankConfig(&comm, size, id, rank, &config);
  if ((result == ncclSuccess || result == ncclInProgress) && comm != nullptr) {
    result = AwaitAsync(comm, deadline);
  }
  if (result == ncclInProgress) {
    ncclCommAbort(comm);
    return absl::DeadlineExceededError(
        absl::StrCat("NCCL set-up of rank ", rank, " of ", size, " (GPU ", device, " on host ",
                     host, ") did not complete within ", absl::FormatDuration(options.timeout),
                     ": a rank is gone or did not reach it", ProcessIdentitySuffix()));
  }
  if (result != ncclSuccess) {
    if (comm != nullptr) ncclCommAbort(comm);
    return base::FromNcclResult(result, "ncclCommInitRankConfig(&comm, size, id, rank, &config)",
                                __FILE__, __LINE__);
  }
  return std::unique_ptr<NcclCommunicator>(new NcclCommunicator(
      control, rank, size, device, host, compute_stream, std::move(local->stream),
      std::move(local->compute_ready), std::move(local->comm_done),
      std::move(local->reserved_events), std::move(options), comm));
}

NcclCommunicator::NcclCommunicator(Communicator& control, int rank, int size, int device,
                                   std::string host, base::CudaStreamHandle compute_stream,
                                   CudaStream comm_stream, CudaEvent compute_ready,
                                   CudaEvent comm_done, std::vector<CudaEvent> reserved_events,
                                   NcclCommunicatorOptions options, ncclComm* comm)
    : control_(control),
      rank_(rank),
      size_(size),
      device_(device),
      host_(std::move(host)),
      compute_stream_(compute_stream),
      comm_stream_(std::move(comm_stream)),
      compute_ready_(std::move(compute_ready)),
      comm_done_(std::move(comm_done)),
      options_(std::move(options)),
      comm_(comm),
      free_events_(std::move(reserved_events)) {
  watchdog_ = std::thread([this] { WatchdogLoop(); });
}

NcclCommunicator::~NcclCommunicator() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (watchdog_.joinable()) watchdog_.join();
  bool faulted;
  {
    absl::MutexLock lock(&mu_);
    faulted = !fault_.ok();
  }
  absl::MutexLock lock(&nccl_mu_);
  if (comm_ == nullptr) return;  // aborted
  cudaSetDevice(device_);
  // A nonblocking communicator is finalized (its outstanding work flushed, which needs
  // the peers) before it is destroyed; a peer that is gone makes that wait, so it is
  // bounded, and then the communicator is aborted instead.
  bool finalized = false;
  if (!faulted) {
    ncclResult_t result = ncclCommFinalize(comm_);
    if (result == ncclSuccess || result == ncclInProgress) {
      result = AwaitAsync(comm_, absl::Now() + options_.timeout);
    }
    finalized = result == ncclSuccess;
  }
  if (finalized) {
    ncclCommDestroy(comm_);
  } else {
    ncclCommAbort(comm_);
  }
  comm_ = nullptr;
}

absl::Status NcclCommunicator::Usable() const {
  absl::MutexLock lock(&mu_);
  return fault_;
}

absl::Status NcclCommunicator::OrderAfterCompute() {
  FFTRAIN_RETURN_IF_ERROR(compute_ready_.Record(compute_stream_));
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(comm_stream_.get(), compute_ready_.get(), 0));
  return absl::OkStatus();
}

absl::Status NcclCommunicator::ComputeWaitsForComm() {
  FFTRAIN_RETURN_IF_ERROR(comm_done_.Record(comm_stream_.get()));
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(compute_stream_, comm_done_.get(), 0));
  return absl::OkStatus();
}

absl::Status NcclCommunicator::CallNccl(const char* what, absl::FunctionRef<int(ncclComm*)> call) {
  const auto aborted = [&] {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": the NCCL communicator was aborted", ProcessIdentitySuffix()));
  };
  ncclResult_t result;
  {
    absl::MutexLock lock(&nccl_mu_);
    if (comm_ == nullptr) return aborted();
    result = static_cast<ncclResult_t>(call(comm_));
  }
  // ncclInProgress: NCCL is still connecting the peers for this operation (the first
  // collectives), in the background. The lock is released between polls so that the
  // watchdog can still look at (and abort) the communicator.
  const absl::Time deadline = absl::Now() + options_.timeout;
  while (result == ncclInProgress) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          what, " was still being enqueued after ", absl::FormatDuration(options_.timeout),
          " (NCCL connecting to its peers): a rank is gone or out of step",
          ProcessIdentitySuffix()));
    }
    absl::SleepFor(kPollInterval);
    absl::MutexLock lock(&nccl_mu_);
    if (comm_ == nullptr) return aborted();
    result = AsyncState(comm_);
  }
  return base::FromNcclResult(result, what, __FILE__, __LINE__);
}

absl::Status NcclCommunicator::Track(std::string name, base::CudaStreamHandle stream) {
  std::optional<CudaEvent> done;
  {
    absl::MutexLock lock(&mu_);
    if (!free_events_.empty()) {
      done.emplace(std::move(free_events_.back()));
      free_events_.pop_back();
    }
  }
  if (!done.has_value()) {
    FFTRAIN_ASSIGN_OR_RETURN(CudaEvent created, CudaEvent::CreateWithoutTiming());
    done.emplace(std::move(created));
  }
  FFTRAIN_RETURN_IF_ERROR(done->Record(stream));
  absl::MutexLock lock(&mu_);
  in_flight_.push_back(InFlight{std::move(name), absl::Now(), step(), std::move(*done)});
  return absl::OkStatus();
}

absl::Status NcclCommunicator::StartAllReduce(float* data, int64_t count, ReduceOp op) {
  FFTRAIN_RETURN_IF_ERROR(CheckBuffer("AllReduce", data, count));
  FFTRAIN_RETURN_IF_ERROR(Usable());
  if (count == 0) return absl::OkStatus();
  // The caller's thread may have another device current (the backend sets its own on
  // every call, but other code may not); the streams and NCCL's kernels are device_'s.
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  FFTRAIN_RETURN_IF_ERROR(OrderAfterCompute());
  const ncclRedOp_t nccl_op = op == ReduceOp::kAverage ? ncclAvg : ncclSum;
  cudaStream_t stream = comm_stream_.get();
  FFTRAIN_RETURN_IF_ERROR(CallNccl(
      "ncclAllReduce(data, data, count, ncclFloat, op, comm, stream)", [&](ncclComm* comm) {
        return static_cast<int>(ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat,
                                              nccl_op, comm, stream));
      }));
  all_reduces_pending_ = true;
  // Captured, it runs at each replay, which WatchReplay watches: an event recorded now
  // would be part of the graph, not something the watchdog can query.
  if (base::StreamIsCapturing(compute_stream_)) {
    ++sequence_;
    return absl::OkStatus();
  }
  return Track(absl::StrCat("all-reduce #", sequence_++, " (", count, " floats)"),
               comm_stream_.get());
}

absl::Status NcclCommunicator::WatchReplay(std::string what) {
  FFTRAIN_RETURN_IF_ERROR(Usable());
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  return Track(std::move(what), compute_stream_);
}

absl::Status NcclCommunicator::WaitAllReduces() {
  FFTRAIN_RETURN_IF_ERROR(Usable());
  if (!all_reduces_pending_) return absl::OkStatus();
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  // One event after the last of them: the stream runs them in order.
  FFTRAIN_RETURN_IF_ERROR(ComputeWaitsForComm());
  all_reduces_pending_ = false;
  return absl::OkStatus();
}

absl::Status NcclCommunicator::Broadcast(float* data, int64_t count, int root) {
  FFTRAIN_RETURN_IF_ERROR(CheckRoot("Broadcast", root, size_));
  FFTRAIN_RETURN_IF_ERROR(CheckBuffer("Broadcast", data, count));
  FFTRAIN_RETURN_IF_ERROR(Usable());
  if (count == 0) return absl::OkStatus();
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  FFTRAIN_RETURN_IF_ERROR(OrderAfterCompute());
  cudaStream_t stream = comm_stream_.get();
  FFTRAIN_RETURN_IF_ERROR(CallNccl(
      "ncclBroadcast(data, data, count, ncclFloat, root, comm, stream)", [&](ncclComm* comm) {
        return static_cast<int>(
            ncclBroadcast(data, data, static_cast<size_t>(count), ncclFloat, root, comm, stream));
      }));
  FFTRAIN_RETURN_IF_ERROR(Track(
      absl::StrCat("broadcast #", sequence_++, " (", count, " floats from rank ", root, ")"),
      comm_stream_.get()));
  return ComputeWaitsForComm();
}

absl::Status NcclCommunicator::Barrier() { return control_.Barrier(); }

absl::Status NcclCommunicator::AllReduceHost(double* data, int64_t count) {
  return control_.AllReduceHost(data, count);
}

absl::StatusOr<std::vector<std::string>> NcclCommunicator::AllGather(const std::string& mine) {
  return control_.AllGather(mine);
}

void NcclCommunicator::Abort() {
  {
    absl::MutexLock lock(&nccl_mu_);
    if (comm_ == nullptr) return;
    // Its result is of no use here: the communicator is gone either way.
    ncclCommAbort(comm_);
    comm_ = nullptr;
  }
  absl::MutexLock lock(&mu_);
  if (fault_.ok()) {
    fault_ = absl::FailedPreconditionError(
        absl::StrCat("the NCCL communicator was aborted", ProcessIdentitySuffix()));
  }
}

std::string NcclCommunicator::MessagePrefix() const {
  return absl::StrCat("fftrain: rank ", rank_, " on host ", host_, ": ");
}

void NcclCommunicator::WatchdogLoop() {
  // A new thread's current device is 0; cudaEventQuery needs the events' device.
  const cudaError_t selected = cudaSetDevice(device_);
  if (selected != cudaSuccess) {
    HandleFault(absl::StrCat(MessagePrefix(), "the NCCL watchdog cannot select GPU ", device_, ": ",
                             cudaGetErrorString(selected), "; aborting"));
    return;
  }
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.watchdog_period);
      if (stop_) return;
    }
    const std::string fault = CheckInFlight();
    if (!fault.empty()) {
      HandleFault(fault);
      return;
    }
  }
}

std::string NcclCommunicator::CheckInFlight() {
  {
    // Aborted by the caller, who reports the reason itself: nothing left to watch.
    absl::MutexLock lock(&nccl_mu_);
    if (comm_ == nullptr) return "";
  }
  std::string oldest;  // "all-reduce #17 (1234 floats) at step 5", still running
  {
    absl::MutexLock lock(&mu_);
    while (!in_flight_.empty()) {
      InFlight& f = in_flight_.front();
      const absl::StatusOr<bool> complete = f.done.IsComplete();
      if (!complete.ok()) {
        return absl::StrCat(MessagePrefix(), f.name, AtStep(f.step),
                            " failed: ", complete.status().message(), "; aborting");
      }
      if (*complete) {
        free_events_.push_back(std::move(f.done));
        in_flight_.pop_front();
        continue;
      }
      if (absl::Now() - f.start > options_.timeout) {
        return absl::StrCat(MessagePrefix(), f.name, AtStep(f.step), " did not complete within ",
                            absl::FormatDuration(options_.timeout),
                            ": a rank is gone or out of step; aborting");
      }
      oldest = absl::StrCat(f.name, AtStep(f.step));
      break;
    }
  }
  ncclResult_t state;
  {
    absl::MutexLock lock(&nccl_mu_);
    if (comm_ == nullptr) return "";
    state = AsyncState(comm_);
  }
  // ncclInProgress: an enqueue still connecting (CallNccl polls it), not a fault.
  if (state == ncclSuccess || state == ncclInProgress) return "";
  return absl::StrCat(MessagePrefix(), "NCCL error ", base::NcclResultName(state), " (",
                      ncclGetErrorString(state), ")",
                      oldest.empty() ? AtStep(step()) : absl::StrCat(" during ", oldest),
                      ": a rank is gone or out of step; aborting");
}

void NcclCommunicator::HandleFault(const std::string& message) {
  {
    absl::MutexLock lock(&mu_);
    fault_ = absl::UnavailableError(message);
  }
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  // Abort first: NCCL's kernels stop waiting for the peer, and the other ranks' NCCL
  // sees this one go, rather than hanging until their own watchdogs fire.
  Abort();
  if (options_.on_fault) {
    options_.on_fault(message);
  } else {
    std::_Exit(1);
  }
}

}  // namespace fftrain::comm
