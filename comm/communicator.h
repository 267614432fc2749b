// Collective operations the data-parallel trainer needs, behind one interface: the
// trainer sees only this. Implementations: single-process (here); NCCL and MPI come with
// the data-parallel work. Buffers live where the implementation says (device memory for
// NCCL, host memory for MPI and the single-process one accepts either).
#ifndef FFTRAIN_COMM_COMMUNICATOR_H_
#define FFTRAIN_COMM_COMMUNICATOR_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"

namespace fftrain::comm {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // data[i] = sum over ranks of data[i], in place, for i < count.
  virtual absl::Status AllReduceSum(float* data, int64_t count) = 0;
  // data = root's data on every rank.
  virtual absl::Status Broadcast(float* data, int64_t count, int root) = 0;
  // Returns once every rank has called it.
  virtual absl::Status Barrier() = 0;
};

// One process, one rank: the collectives leave data as it is.
class SingleProcessCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  absl::Status AllReduceSum(float* data, int64_t count) override;
  absl::Status Broadcast(float* data, int64_t count, int root) override;
  absl::Status Barrier() override { return absl::OkStatus(); }
};

}  // namespace fftrain::comm

#endif  // FFTRAIN_COMM_COMMUNICATOR_H_
