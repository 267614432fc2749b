#include "base/cuda/testing/spin_kernel.h"

namespace fftrain::base::test_util {
namespace {

// %globaltimer is in nanoseconds and runs at wall-clock rate whatever the SM clocks do,
// unlike clock64(), whose rate depends on the clock the GPU happens to run at.
__device__ uint64_t GlobalTimer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void SpinKernel(int64_t nanoseconds) {
  const uint64_t start = GlobalTimer();
  while (GlobalTimer() - start < static_cast<uint64_t>(nanoseconds)) {
  }
}

}  // namespace

cudaError_t LaunchSpin(int64_t nanoseconds, cudaStream_t stream) {
  SpinKernel<<<1, 1, 0, stream>>>(nanoseconds);
  return cudaGetLastError();
}

}  // namespace fftrain::base::test_util
