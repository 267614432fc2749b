// A kernel that keeps its stream busy for a given wall-clock time: tests use it to hold
// work back (a collective that cannot start, a compute stream still running) and to
// time stream-ordered marks against a known delay.
#ifndef FFTRAIN_BASE_CUDA_TESTING_SPIN_KERNEL_H_
#define FFTRAIN_BASE_CUDA_TESTING_SPIN_KERNEL_H_

#include <cuda_runtime.h>

#include <cstdint>

namespace fftrain::base::test_util {

// One thread that spins on the GPU's global timer for `nanoseconds`, then returns.
// Returns the launch error.
cudaError_t LaunchSpin(int64_t nanoseconds, cudaStream_t stream);

}  // namespace fftrain::base::test_util

#endif  // FFTRAIN_BASE_CUDA_TESTING_SPIN_KERNEL_H_
