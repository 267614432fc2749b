#include "comm/loopback_communicator.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "comm/collective_errors.h"

namespace fftrain::comm {

// --- LoopbackGroup ---

absl::StatusOr<std::unique_ptr<LoopbackGroup>> LoopbackGroup::Create(int ranks,
                                                                     absl::Duration timeout) {
  if (ranks < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("LoopbackGroup: needs at least one rank, not ", ranks));
  }
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("LoopbackGroup: the collective timeout must be positive, not ",
                     absl::FormatDuration(timeout)));
  }
  return std::unique_ptr<LoopbackGroup>(new LoopbackGroup(ranks, timeout));
}

LoopbackGroup::LoopbackGroup(int ranks, absl::Duration timeout)
    : timeout_(timeout), history_(ranks) {
  for (int r = 0; r < ranks; ++r) {
    ranks_.push_back(std::unique_ptr<LoopbackCommunicator>(new LoopbackCommunicator(this, r)));
  }
}

LoopbackCommunicator& LoopbackGroup::rank(int i) {
  if (i < 0 || i >= size()) {
    std::fprintf(stderr, "LoopbackGroup::rank(%d): the group has %d ranks\n", i, size());
    std::abort();
  }
  return *ranks_[i];
}

std::vector<CollectiveRecord> LoopbackGroup::history(int i) const {
  absl::MutexLock lock(&mutex_);
  if (i < 0 || i >= size()) return {};
  return history_[i];
}

std::string LoopbackGroup::Who(int rank) { return absl::StrCat("rank ", rank, " (loopback)"); }

std::string LoopbackGroup::Describe(const Call& call, int64_t sequence) {
  switch (call.kind) {
    case Kind::kAllReduce:
      return absl::StrCat("all-reduce #", sequence, " (", call.count, " floats, ",
                          ReduceOpName(call.op), ")");
    case Kind::kBroadcast:
      return absl::StrCat("broadcast #", sequence, " (", call.count, " floats from rank ",
                          call.root, ")");
    case Kind::kBarrier: return absl::StrCat("barrier #", sequence);
    case Kind::kAllReduceHost:
      return absl::StrCat("host all-reduce #", sequence, " (", call.count, " doubles)");
    case Kind::kAllGather: return absl::StrCat("all-gather #", sequence);
  }
  return absl::StrCat("collective #", sequence);
}

bool LoopbackGroup::SameCollective(const Call& a, const Call& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kAllReduce: return a.count == b.count && a.op == b.op;
    case Kind::kBroadcast: return a.count == b.count && a.root == b.root;
    case Kind::kAllReduceHost: return a.count == b.count;
    case Kind::kBarrier:
    case Kind::kAllGather: return true;
  }
  return false;
}

absl::Status LoopbackGroup::Arrive(int rank, int64_t sequence, Call call) {
  absl::MutexLock lock(&mutex_);
  if (!aborted_.ok()) return aborted_;
  if (call.kind == Kind::kAllReduce) {
    history_[rank].push_back(CollectiveRecord{sequence, call.floats, call.count, call.op});
  }
  Slot& slot = slots_[sequence];
  if (slot.arrived.empty()) {
    slot.arrived.assign(size(), false);
    slot.calls.resize(size());
  }
  if (slot.error.ok()) {
    // Against the lowest rank that has arrived: all earlier arrivals agree with it.
    for (int r = 0; r < size(); ++r) {
      if (!slot.arrived[r]) continue;
      if (!SameCollective(slot.calls[r], call)) {
        slot.error = absl::FailedPreconditionError(
            absl::StrCat("loopback: the ordering rule is broken at collective #", sequence,
                         ": rank ", r, " called ", Describe(slot.calls[r], sequence), " but rank ",
                         rank, " called ", Describe(call, sequence)));
        slot.done = true;
        changed_.SignalAll();
      }
      break;
    }
  }
  slot.arrived[rank] = true;
  slot.calls[rank] = std::move(call);
  ++slot.arrivals;
  if (!slot.error.ok()) return slot.error;
  if (slot.arrivals == size()) {
    Compute(slot);
    slot.done = true;
    changed_.SignalAll();
  }
  return absl::OkStatus();
}

void LoopbackGroup::Compute(Slot& slot) {
  // In rank order, once for all ranks: every rank gets bitwise the same result.
  const Call& first = slot.calls[0];
  switch (first.kind) {
    case Kind::kAllReduce: {
      slot.floats.assign(first.floats, first.floats + first.count);
      for (int r = 1; r < size(); ++r) {
        const float* data = slot.calls[r].floats;
        for (int64_t i = 0; i < first.count; ++i) slot.floats[i] += data[i];
      }
      if (first.op == ReduceOp::kAverage) {
        const float ranks = static_cast<float>(size());
        for (float& x : slot.floats) x /= ranks;
      }
      break;
    }
    case Kind::kBroadcast: {
      const Call& root = slot.calls[first.root];
      slot.floats.assign(root.floats, root.floats + root.count);
      break;
    }
    case Kind::kAllReduceHost: {
      slot.doubles.assign(first.doubles, first.doubles + first.count);
      for (int r = 1; r < size(); ++r) {
        const double* data = slot.calls[r].doubles;
        for (int64_t i = 0; i < first.count; ++i) slot.doubles[i] += data[i];
      }
      break;
    }
    case Kind::kAllGather: {
      for (const Call& call : slot.calls) slot.texts.push_back(call.text);
      break;
    }
    case Kind::kBarrier: break;
  }
}

absl::Status LoopbackGroup::Await(int rank, int64_t sequence, absl::Time deadline, int64_t step,
                                  const std::function<void(const Slot&)>& copy_out) {
  absl::MutexLock lock(&mutex_);
  Slot& slot = slots_[sequence];  // it exists: this rank arrived
  while (!slot.done) {
    if (!aborted_.ok()) return aborted_;
    if (changed_.WaitWithDeadline(&mutex_, deadline) && !slot.done && aborted_.ok()) {
      std::vector<int> missing;
      for (int r = 0; r < size(); ++r) {
        if (!slot.arrived[r]) missing.push_back(r);
      }
      const absl::Status timeout = CollectiveDeadlineExceeded(
          Who(rank), Describe(slot.calls[rank], sequence), step, timeout_);
      return absl::DeadlineExceededError(absl::StrCat(timeout.message(), " (not arrived: rank ",
                                                      absl::StrJoin(missing, ", rank "), ")"));
    }
  }
  if (!slot.error.ok()) return slot.error;
  if (copy_out) copy_out(slot);
  if (++slot.departures == size()) slots_.erase(sequence);
  return absl::OkStatus();
}

void LoopbackGroup::AbortGroup(int rank) {
  absl::MutexLock lock(&mutex_);
  if (aborted_.ok()) {
    aborted_ = absl::AbortedError(absl::StrCat(Who(rank), " aborted the group"));
  }
  changed_.SignalAll();
}

// --- LoopbackCommunicator ---

int LoopbackCommunicator::size() const { return group_->size(); }

absl::Status LoopbackCommunicator::Fail(absl::Status status) {
  if (failure_.ok()) failure_ = status;
  return status;
}

absl::Status LoopbackCommunicator::StartAllReduce(float* data, int64_t count, ReduceOp op) {
  FFTRAIN_RETURN_IF_ERROR(CheckBuffer("AllReduce", data, count));
  if (!failure_.ok()) {
    return CommunicatorBroken(LoopbackGroup::Who(rank_), "AllReduce", failure_);
  }
  const int64_t sequence = sequence_++;
  LoopbackGroup::Call call;
  call.kind = LoopbackGroup::Kind::kAllReduce;
  call.count = count;
  call.op = op;
  call.floats = data;
  FFTRAIN_RETURN_IF_ERROR(Fail(group_->Arrive(rank_, sequence, std::move(call))));
  pending_.push_back(Pending{sequence, data, count});
  return absl::OkStatus();
}

absl::Status LoopbackCommunicator::WaitAllReduces() {
  if (!failure_.ok()) {
    return CommunicatorBroken(LoopbackGroup::Who(rank_), "WaitAllReduces", failure_);
  }
  const absl::Time deadline = absl::Now() + group_->timeout();
  std::vector<Pending> pending = std::move(pending_);
  pending_.clear();
  for (const Pending& p : pending) {
    FFTRAIN_RETURN_IF_ERROR(
        Fail(group_->Await(rank_, p.sequence, deadline, step(), [&](const auto& slot) {
          if (p.count > 0) std::memcpy(p.data, slot.floats.data(), p.count * sizeof(float));
        })));
  }
  return absl::OkStatus();
}

absl::Status LoopbackCommunicator::Broadcast(float* data, int64_t count, int root) {
  FFTRAIN_RETURN_IF_ERROR(CheckRoot("Broadcast", root, size()));
  FFTRAIN_RETURN_IF_ERROR(CheckBuffer("Broadcast", data, count));
  if (!failure_.ok()) {
    return CommunicatorBroken(LoopbackGroup::Who(rank_), "Broadcast", failure_);
  }
  const int64_t sequence = sequence_++;
  const absl::Time deadline = absl::Now() + group_->timeout();
  LoopbackGroup::Call call;
  call.kind = LoopbackGroup::Kind::kBroadcast;
  call.count = count;
  call.root = root;
  call.floats = data;
  FFTRAIN_RETURN_IF_ERROR(Fail(group_->Arrive(rank_, sequence, std::move(call))));
  return Fail(group_->Await(rank_, sequence, deadline, step(), [&](const auto& slot) {
    if (rank_ != root && count > 0) std::memcpy(data, slot.floats.data(), count * sizeof(float));
  }));
}

absl::Status LoopbackCommunicator::Barrier() {
  if (!failure_.ok()) {
    return CommunicatorBroken(LoopbackGroup::Who(rank_), "Barrier", failure_);
  }
  const int64_t sequence = sequence_++;
  const absl::Time deadline = absl::Now() + group_->timeout();
  LoopbackGroup::Call call;
  call.kind = LoopbackGroup::Kind::kBarrier;
  FFTRAIN_RETURN_IF_ERROR(Fail(group_->Arrive(rank_, sequence, std::move(call))));
  return Fail(group_->Await(rank_, sequence, deadline, step(), nullptr));
}

absl::Status LoopbackCommunicator::AllReduceHost(double* data, int64_t count) {
  FFTRAIN_RETURN_IF_ERROR(CheckBuffer("AllReduceHost", data, count));
  if (!failure_.ok()) {
    return CommunicatorBroken(LoopbackGroup::Who(rank_), "AllReduceHost", failure_);
  }
  const int64_t sequence = sequence_++;
  const absl::Time deadline = absl::Now() + group_->timeout();
  LoopbackGroup::Call call;
  call.kind = LoopbackGroup::Kind::kAllReduceHost;
  call.count = count;
  call.doubles = data;
  FFTRAIN_RETURN_IF_ERROR(Fail(group_->Arrive(rank_, sequence, std::move(call))));
  return Fail(group_->Await(rank_, sequence, deadline, step(), [&](const auto& slot) {
    if (count > 0) std::memcpy(data, slot.doubles.data(), count * sizeof(double));
  }));
}

absl::StatusOr<std::vector<std::string>> LoopbackCommunicator::AllGather(const std::string& mine) {
  if (!failure_.ok()) {
    return CommunicatorBroken(LoopbackGroup::Who(rank_), "AllGather", failure_);
  }
  const int64_t sequence = sequence_++;
  const absl::Time deadline = absl::Now() + group_->timeout();
  LoopbackGroup::Call call;
  call.kind = LoopbackGroup::Kind::kAllGather;
  call.text = mine;
  FFTRAIN_RETURN_IF_ERROR(Fail(group_->Arrive(rank_, sequence, std::move(call))));
  std::vector<std::string> all;
  FFTRAIN_RETURN_IF_ERROR(Fail(group_->Await(rank_, sequence, deadline, step(),
                                             [&](const auto& slot) { all = slot.texts; })));
  return all;
}

void LoopbackCommunicator::Abort() {
  Fail(absl::AbortedError(absl::StrCat(LoopbackGroup::Who(rank_), " aborted"))).IgnoreError();
  group_->AbortGroup(rank_);
}

}  // namespace fftrain::comm
