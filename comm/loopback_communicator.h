// A test double for multi-rank code: N ranks as threads of one process. Each rank's
// thread drives its own LoopbackCommunicator (group.rank(i)); the collectives meet by
// sequence number (the k-th collective call of every rank is one collective), and when
// every rank has arrived the result is computed once, in rank order, so it is
// deterministic and bitwise identical on every rank. Beyond what the real communicators
// do, it checks the ordering rule: ranks that call different collectives, counts, ops or
// roots at the same sequence number all get FailedPrecondition naming both calls; and
// it records each rank's started all-reduces, so that tests can check bucket order.
//
//   FFTRAIN_ASSIGN_OR_RETURN(auto group, LoopbackGroup::Create(3, absl::Seconds(5)));
//   std::thread t([&] { RunRank(group->rank(1)); });  ...
//
// Every wait is bounded by the group's timeout (DeadlineExceeded, in the message shape
// of the MPI communicator). After a collective of a rank fails, that rank refuses every
// later one (FailedPrecondition), as the real ones do. Abort() on any rank wakes every
// rank's waits with Aborted, instead of leaving them to time out.
#ifndef FFTRAIN_COMM_LOOPBACK_COMMUNICATOR_H_
#define FFTRAIN_COMM_LOOPBACK_COMMUNICATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "comm/communicator.h"

namespace fftrain::comm {

// One all-reduce as a rank started it, in the order it started them.
struct CollectiveRecord {
  int64_t sequence = 0;  // its number among all of the rank's collectives
  float* data = nullptr;
  int64_t count = 0;
  ReduceOp op = ReduceOp::kSum;
};

class LoopbackGroup;

class LoopbackCommunicator : public Communicator {
 public:
  int rank() const override { return rank_; }
  int size() const override;
  std::string name() const override { return "loopback"; }

  // Registers the all-reduce with the group and returns; the result is copied into
  // `data` by WaitAllReduces.
  absl::Status StartAllReduce(float* data, int64_t count, ReduceOp op) override;
  absl::Status WaitAllReduces() override;
  absl::Status Broadcast(float* data, int64_t count, int root) override;
  absl::Status Barrier() override;
  absl::Status AllReduceHost(double* data, int64_t count) override;
  absl::StatusOr<std::vector<std::string>> AllGather(const std::string& mine) override;
  // Ends the group: every rank's waiting and later collectives fail with Aborted.
  void Abort() override;

 private:
  friend class LoopbackGroup;
  struct Pending {
    int64_t sequence;
    float* data;
    int64_t count;
  };

  LoopbackCommunicator(LoopbackGroup* group, int rank) : group_(group), rank_(rank) {}
  absl::Status Fail(absl::Status status);

  LoopbackGroup* group_;
  int rank_;
  // Touched only by this rank's thread.
  int64_t sequence_ = 0;
  std::vector<Pending> pending_;
  absl::Status failure_;
};

class LoopbackGroup {
 public:
  // InvalidArgument unless ranks >= 1 and timeout > 0.
  static absl::StatusOr<std::unique_ptr<LoopbackGroup>> Create(int ranks, absl::Duration timeout);

  LoopbackGroup(const LoopbackGroup&) = delete;
  LoopbackGroup& operator=(const LoopbackGroup&) = delete;

  int size() const { return static_cast<int>(ranks_.size()); }
  absl::Duration timeout() const { return timeout_; }
  // Rank i's communicator, for rank i's thread; 0 <= i < size() (aborts otherwise: a
  // bug in the test).
  LoopbackCommunicator& rank(int i);
  // The all-reduces rank i has started so far, in order.
  std::vector<CollectiveRecord> history(int i) const;

 private:
  friend class LoopbackCommunicator;

  enum class Kind { kAllReduce, kBroadcast, kBarrier, kAllReduceHost, kAllGather };

  // One rank's part in a collective.
  struct Call {
    Kind kind = Kind::kBarrier;
    int64_t count = 0;
    ReduceOp op = ReduceOp::kSum;
    int root = 0;
    float* floats = nullptr;
    double* doubles = nullptr;
    std::string text;
  };
  // One collective, from the first rank's arrival until the last rank has left.
  struct Slot {
    std::vector<bool> arrived;
    std::vector<Call> calls;
    int arrivals = 0;
    int departures = 0;
    bool done = false;  // result (or error) ready
    absl::Status error;
    std::vector<float> floats;
    std::vector<double> doubles;
    std::vector<std::string> texts;
  };

  LoopbackGroup(int ranks, absl::Duration timeout);

  // Registers rank's call for collective `sequence`; computes the result if it is the
  // last to arrive. An ordering-rule breach is recorded in the slot for every rank.
  absl::Status Arrive(int rank, int64_t sequence, Call call);
  // Waits until collective `sequence` is done or `deadline`; then `copy_out` (may be
  // null) copies the result out while the lock is held, and this rank leaves the slot.
  absl::Status Await(int rank, int64_t sequence, absl::Time deadline, int64_t step,
                     const std::function<void(const Slot&)>& copy_out);
  void AbortGroup(int rank);
  void Compute(Slot& slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  static std::string Who(int rank);
  // "all-reduce #5 (10 floats, sum)".
  static std::string Describe(const Call& call, int64_t sequence);
  static bool SameCollective(const Call& a, const Call& b);

  absl::Duration timeout_;
  std::vector<std::unique_ptr<LoopbackCommunicator>> ranks_;

  mutable absl::Mutex mutex_;
  absl::CondVar changed_;
  std::map<int64_t, Slot> slots_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::vector<CollectiveRecord>> history_ ABSL_GUARDED_BY(mutex_);
  absl::Status aborted_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace fftrain::comm

#endif  // FFTRAIN_COMM_LOOPBACK_COMMUNICATOR_H_
