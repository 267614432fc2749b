// Collective operations the data-parallel trainer needs, behind one interface: the
// trainer sees only this. Implementations: SingleProcessCommunicator (here), the
// LoopbackCommunicator test double (N ranks as threads of one process),
// MpiCommunicator (host memory, the CPU backend) and NcclCommunicator (device memory).
//
// The ordering rule, which every rank must follow: the collectives of one communicator
// are called in the same order on every rank, with the same counts, ops and roots. A
// rank that breaks it (or dies) makes the others wait; every wait is bounded by the
// communicator's timeout, after which the call fails with DeadlineExceeded naming the
// rank, host, collective and its sequence number, and the job must end (Abort()).
//
// Two planes:
// - The data plane (StartAllReduce, WaitAllReduces, Broadcast) works on buffers in the
//   memory the implementation names: device memory of its GPU for NCCL, host memory for
//   the others. It is ordered after the work the caller already issued: for NCCL, after
//   everything enqueued on the compute stream it was made with (an event, never a
//   device synchronisation); for host implementations, after the caller's writes.
// - The control plane (Barrier, AllReduceHost, AllGather) works on host memory and
//   blocks: start-up checks, metrics.
#ifndef FFTRAIN_COMM_COMMUNICATOR_H_
#define FFTRAIN_COMM_COMMUNICATOR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fftrain::comm {

enum class ReduceOp { kSum, kAverage };

const char* ReduceOpName(ReduceOp op);  // "sum", "average"

// A wait longer than this means a peer is gone; steps take milliseconds. Flags override.
inline constexpr absl::Duration kDefaultCollectiveTimeout = absl::Minutes(5);

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "single", "loopback", "mpi" or "nccl", for logs.
  virtual std::string name() const = 0;

  // --- Data plane ---
  // Starts an in-place all-reduce of data[0, count). `data` must not be read or written
  // until WaitAllReduces returns. Returns once the collective is started (NCCL: enqueued
  // on the communication stream; MPI: a nonblocking collective is posted).
  virtual absl::Status StartAllReduce(float* data, int64_t count, ReduceOp op) = 0;
  // Makes the results of every started all-reduce visible to what the caller issues
  // next: NCCL makes the compute stream wait for them (the host does not wait); host
  // implementations return once they are complete. DeadlineExceeded after the timeout.
  virtual absl::Status WaitAllReduces() = 0;
  // StartAllReduce then WaitAllReduces.
  absl::Status AllReduce(float* data, int64_t count, ReduceOp op);
  // data[0, count) = root's data on every rank; visible to what the caller issues next.
  virtual absl::Status Broadcast(float* data, int64_t count, int root) = 0;

  // Whether the data plane's collectives can be captured into a graph with the compute
  // work (Backend::Capture) and replayed: true where they are device work (NCCL) or there
  // is nothing to do (one process); host implementations (MPI, loopback) cannot.
  virtual bool CanBeCaptured() const { return false; }
  // After each replay of captured work that holds collectives: the deadline and fault
  // watch this communicator keeps over collectives it runs itself (NCCL's watchdog) now
  // covers the replay as a whole, named `what` in a fault message.
  virtual absl::Status WatchReplay(std::string what) { return absl::OkStatus(); }

  // --- Control plane (host memory, blocking) ---
  // Returns once every rank has called it.
  virtual absl::Status Barrier() = 0;
  // data[i] = sum over ranks of data[i] for i < count, host doubles (metrics), in place.
  virtual absl::Status AllReduceHost(double* data, int64_t count) = 0;
  // Every rank's `mine`, indexed by rank (strings may differ in length).
  virtual absl::StatusOr<std::vector<std::string>> AllGather(const std::string& mine) = 0;

  // Ends this rank's part in the job after a fault: NCCL aborts its communicator (so no
  // kernel waits for a dead peer), MPI aborts the job. Safe to call more than once.
  virtual void Abort() {}

  // The training step in progress, for fault messages ("at step 1234"). Set by the
  // trainer; read by implementations (NCCL's watchdog thread reads it concurrently).
  void set_step(int64_t step) { step_.store(step, std::memory_order_relaxed); }
  int64_t step() const { return step_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> step_{-1};
};

// InvalidArgument unless 0 <= count and data is set when count > 0. For implementations.
absl::Status CheckBuffer(const char* collective, const void* data, int64_t count);
// InvalidArgument unless 0 <= root < size.
absl::Status CheckRoot(const char* collective, int root, int size);

// One process, one rank: the collectives leave data as it is.
class SingleProcessCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "single"; }
  bool CanBeCaptured() const override { return true; }
  absl::Status StartAllReduce(float* data, int64_t count, ReduceOp op) override;
  absl::Status WaitAllReduces() override { return absl::OkStatus(); }
  absl::Status Broadcast(float* data, int64_t count, int root) override;
  absl::Status Barrier() override { return absl::OkStatus(); }
  absl::Status AllReduceHost(double* data, int64_t count) override;
  absl::StatusOr<std::vector<std::string>> AllGather(const std::string& mine) override;
};

}  // namespace fftrain::comm

#endif  // FFTRAIN_COMM_COMMUNICATOR_H_
