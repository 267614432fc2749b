// NcclCommunicator: the data plane on device memory through NCCL, one GPU per rank; the
// control plane through another communicator (MpiCommunicator in a job,
// SingleProcessCommunicator for one rank), which also carries NCCL's bootstrap, so that
// NCCL does not depend on MPI.
//
// Streams. Collectives run on a communication stream of the communicator's own, ordered
// after the caller's compute stream by events, so that backward computation goes on
// while earlier buckets are reduced:
//   StartAllReduce  compute --event--> comm stream: ncclAllReduce, completion event
//   WaitAllReduces  comm stream --event--> compute stream (the host does not wait)
//   Broadcast       both: ordered after compute, and compute waits for it
//
// Faults. A peer that dies or breaks the ordering rule leaves NCCL's kernels waiting
// forever, and since the host never waits on them, no call would ever see it. So a
// watchdog thread keeps the collectives in flight; when the oldest has not completed
// within the timeout, or NCCL reports an asynchronous error, it prints one line to
// stderr naming the rank, host, collective and step, aborts the NCCL communicator and
// ends the process (std::_Exit(1)), so that mpirun ends the job: what PyTorch's NCCL
// watchdog does. Afterwards every call returns the fault.
//
// Plain C++: NCCL's and CUDA's types are only forward-declared.
#ifndef FFTRAIN_COMM_NCCL_COMMUNICATOR_H_
#define FFTRAIN_COMM_NCCL_COMMUNICATOR_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/cuda/cuda_resources.h"
#include "comm/communicator.h"

struct ncclComm;

namespace fftrain::comm {

struct NcclCommunicatorOptions {
  // Bounds NCCL's set-up, every enqueue that NCCL reports in progress, and each
  // collective from its start on the host to its completion on the device (which
  // includes the compute work it is ordered after: keep it far above a step's time).
  absl::Duration timeout = kDefaultCollectiveTimeout;
  // Completion events made at set-up: each collective takes one, and the watchdog gives
  // it back once the collective is complete, so no event is made while training as long
  // as no more than this many collectives are in flight (a step's buckets).
  int reserved_events = 32;
  // How often the watchdog looks at the collectives in flight.
  absl::Duration watchdog_period = absl::Milliseconds(5);
  // Called by the watchdog after a fault, once the message is printed and NCCL's
  // communicator is aborted. Empty: std::_Exit(1), so that the launcher ends the job
  // (a dead peer cannot be recovered from in place). Tests observe faults with it; when
  // it returns, the watchdog stops and the communicator stays faulted.
  std::function<void(const std::string& message)> on_fault;
};

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `control`'s ranks, which must all call it (each with its own GPU):
  // every rank gathers "host|PCI bus id" of every rank's device and refuses two ranks on
  // one GPU (FailedPrecondition, on every rank alike); rank 0 makes NCCL's unique id and
  // sends it through `control`; then a nonblocking NCCL communicator is set up on
  // `device` (made current on this thread), bounded by the timeout (DeadlineExceeded).
  // `control` must outlive the result and serves its control plane. `compute_stream`
  // (a cudaStream_t of `device`; nullptr is the legacy default stream) is the stream the
  // data plane orders itself against.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(
      Communicator& control, int device, base::CudaStreamHandle compute_stream,
      absl::Duration timeout);
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create(
      Communicator& control, int device, base::CudaStreamHandle compute_stream,
      NcclCommunicatorOptions options);

  // Stops the watchdog, then finalizes and destroys NCCL's communicator (aborts it when
  // faulted, or when finalizing does not end within the timeout). Never throws.
  ~NcclCommunicator() override;

  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "nccl"; }
  int device() const { return device_; }
  base::CudaStreamHandle communication_stream() const { return comm_stream_.get(); }

  // Data plane: `data` is device memory of this communicator's GPU.
  absl::Status StartAllReduce(float* data, int64_t count, ReduceOp op) override;
  absl::Status WaitAllReduces() override;
  absl::Status Broadcast(float* data, int64_t count, int root) override;
  // NCCL's collectives can be captured into CUDA graphs. While the compute stream is
  // being captured, StartAllReduce enqueues into the capture and leaves the watch to
  // WatchReplay, which watches each replay's end on the compute stream.
  bool CanBeCaptured() const override { return true; }
  absl::Status WatchReplay(std::string what) override;

  // Control plane: `control`'s.
  absl::Status Barrier() override;
  absl::Status AllReduceHost(double* data, int64_t count) override;
  absl::StatusOr<std::vector<std::string>> AllGather(const std::string& mine) override;

  // Aborts NCCL's communicator (its kernels stop waiting for peers); later calls fail.
  // Thread-safe; the first call does the work.
  void Abort() override;

 private:
  // One collective enqueued and not yet seen complete by the watchdog.
  struct InFlight {
    std::string name;  // "all-reduce #17 (1234 floats)"
    absl::Time start;  // when it was enqueued on the host
    int64_t step;
    base::CudaEvent done;  // recorded on the communication stream after it
  };

  NcclCommunicator(Communicator& control, int rank, int size, int device, std::string host,
                   base::CudaStreamHandle compute_stream, base::CudaStream comm_stream,
                   base::CudaEvent compute_ready, base::CudaEvent comm_done,
                   std::vector<base::CudaEvent> reserved_events, NcclCommunicatorOptions options,
                   ncclComm* comm);

  // OK, or the fault (or abort) that ended the data plane.
  absl::Status Usable() const;
  // Makes the communication stream wait for the work enqueued on the compute stream.
  absl::Status OrderAfterCompute();
  // Makes the compute stream wait for the work enqueued on the communication stream.
  absl::Status ComputeWaitsForComm();
  // Calls `call` on the NCCL communicator; where NCCL answers ncclInProgress (a
  // nonblocking communicator still connecting), polls until it is done, within the
  // timeout. `what` names the call in errors. `call` returns an ncclResult_t.
  absl::Status CallNccl(const char* what, absl::FunctionRef<int(ncclComm*)> call);
  // Records a completion event after the work just enqueued on `stream` (the
  // communication stream's collective, or a replay on the compute stream) and hands it to
  // the watchdog.
  absl::Status Track(std::string name, base::CudaStreamHandle stream);

  void WatchdogLoop();
  // The fault message when the oldest collective is late or failed, or NCCL reports an
  // error; "" when all is well.
  std::string CheckInFlight();
  void HandleFault(const std::string& message);
  // "fftrain: rank R on host H: ".
  std::string MessagePrefix() const;

  Communicator& control_;
  const int rank_;
  const int size_;
  const int device_;
  const std::string host_;
  const base::CudaStreamHandle compute_stream_;
  base::CudaStream comm_stream_;
  // Used by the calling thread only: each is waited on (cudaStreamWaitEvent) right after
  // it is recorded, which captures that recording, so they can be reused at once.
  base::CudaEvent compute_ready_;
  base::CudaEvent comm_done_;
  const NcclCommunicatorOptions options_;
  // Collectives started, numbered from 0 in names ("#17"), as MpiCommunicator does: the
  // same number on every rank while they keep the ordering rule.
  int64_t sequence_ = 0;
  bool all_reduces_pending_ = false;  // started since the last WaitAllReduces

  // NCCL's calls on one communicator are not thread-safe, and the watchdog queries it
  // (ncclCommGetAsyncError) while the caller enqueues: every call holds this. Never held
  // while waiting, so that the watchdog can abort during a poll.
  mutable absl::Mutex nccl_mu_;
  ncclComm* comm_ ABSL_GUARDED_BY(nccl_mu_);  // null once aborted or destroyed

  mutable absl::Mutex mu_;
  std::deque<InFlight> in_flight_ ABSL_GUARDED_BY(mu_);  // oldest first
  // Completion events free for the next collective (options_.reserved_events at first,
  // and those the watchdog has seen complete).
  std::vector<base::CudaEvent> free_events_ ABSL_GUARDED_BY(mu_);
  absl::Status fault_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;

  std::thread watchdog_;  // started last, in the constructor; joined in the destructor
};

// The start-up check over every rank's "host|PCI bus id" (index = rank): OK when no two
// ranks share a GPU; FailedPrecondition naming both ranks and the GPU otherwise ("ranks 0
// and 1 both use GPU 0000:1B:00.0 on host h: one rank per GPU"), or naming a rank whose
// entry is "!reason" (it could not set up its GPU). For NcclCommunicator::Create, and its
// tests.
absl::Status CheckOneRankPerGpu(const std::vector<std::string>& host_and_bus_ids);

}  // namespace fftrain::comm

#endif  // FFTRAIN_COMM_NCCL_COMMUNICATOR_H_
