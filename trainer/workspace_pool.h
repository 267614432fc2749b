// One workspace for all convolution layers, allocated once at start-up and sized to the
// largest layer's need (the paper's memory scheme): layers run one after another on one
// stream, so they can share it.
#ifndef FFTRAIN_TRAINER_WORKSPACE_POOL_H_
#define FFTRAIN_TRAINER_WORKSPACE_POOL_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "trainer/backend/backend.h"

namespace fftrain::trainer {

struct WorkspaceRequest {
  std::string layer;         // "layer 4 'conv9x256'"
  size_t bytes = 0;          // what the layer's plan asks for
  double paper_bytes = 0;    // the paper's formula for the layer's frequency buffers
};

class WorkspacePool {
 public:
  // Allocates the largest request. ResourceExhausted naming the size, the layer that set
  // it and the device's free memory when it does not fit.
  static absl::StatusOr<WorkspacePool> Create(Backend& backend,
                                              const std::vector<WorkspaceRequest>& requests);

  base::MemorySpan span() const { return buffer_.span(); }
  size_t bytes() const { return sizing_.bytes; }
  const WorkspaceRequest& sized_by() const { return sizing_; }
  // "workspace pool: 268.0 MiB, set by layer 4 'conv9x256' (paper's formula for that
  // layer: 198.0 MiB)".
  std::string Describe() const;

 private:
  WorkspacePool(Buffer buffer, WorkspaceRequest sizing)
      : buffer_(std::move(buffer)), sizing_(std::move(sizing)) {}
  Buffer buffer_;
  WorkspaceRequest sizing_;
};

}  // namespace fftrain::trainer

#endif  // FFTRAIN_TRAINER_WORKSPACE_POOL_H_
