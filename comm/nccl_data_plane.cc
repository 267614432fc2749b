#include "comm/nccl_data_plane.h"

#include <memory>
#include <utility>

#include "base/cuda/cuda_resources.h"
#include "base/status_macros.h"
#include "comm/nccl_communicator.h"

namespace fftrain::comm {

absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclDataPlane(Communicator& control,
                                                                  int device,
                                                                  void* compute_stream,
                                                                  absl::Duration timeout) {
  FFTRAIN_ASSIGN_OR_RETURN(
      std::unique_ptr<NcclCommunicator> nccl,
      NcclCommunicator::Create(control, device,
                               static_cast<base::CudaStreamHandle>(compute_stream), timeout));
  return std::unique_ptr<Communicator>(std::move(nccl));
}

}  // namespace fftrain::comm
