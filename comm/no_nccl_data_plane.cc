// CreateNcclDataPlane in a build without CUDA: it says so.
#include "absl/status/status.h"
#include "comm/nccl_data_plane.h"

namespace fftrain::comm {

absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclDataPlane(Communicator&, int, void*,
                                                                  absl::Duration) {
  return absl::FailedPreconditionError(
      "this fftrain was built without CUDA, so without NCCL; use --communicator=mpi");
}

}  // namespace fftrain::comm
