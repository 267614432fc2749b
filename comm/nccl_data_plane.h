// The trainer's way to NCCL: a data-plane communicator on one GPU, without NCCL or CUDA
// types in the interface, so that a build without CUDA links the trainer too (there the
// call says NCCL was left out). comm/nccl_communicator.h is the communicator itself.
#ifndef FFTRAIN_COMM_NCCL_DATA_PLANE_H_
#define FFTRAIN_COMM_NCCL_DATA_PLANE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "comm/communicator.h"

namespace fftrain::comm {

// An NcclCommunicator for the ranks of `control` on GPU `device`, ordered after work on
// `compute_stream` (a cudaStream_t); see NcclCommunicator::Create. FailedPrecondition in a
// build without CUDA.
absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclDataPlane(Communicator& control,
                                                                  int device,
                                                                  void* compute_stream,
                                                                  absl::Duration timeout);

}  // namespace fftrain::comm

#endif  // FFTRAIN_COMM_NCCL_DATA_PLANE_H_
