// GPU test helpers: skipping with a reason where there is no GPU (or no Hopper GPU for
// the wgmma products), and host<->device copies of test vectors.
#ifndef FFTRAIN_FFTCONV_CUDA_GPU_TEST_UTIL_H_
#define FFTRAIN_FFTCONV_CUDA_GPU_TEST_UTIL_H_

#include <string>
#include <vector>

#include "base/cuda/cuda_resources.h"
#include "fftconv/cuda/kernels/tf32x3_wgmma_product_kernels.h"
#include "gtest/gtest.h"

// Skips the test, with the reason, where no CUDA device can be used.
#define FFTRAIN_SKIP_WITHOUT_GPU()                                            \
  do {                                                                        \
    std::string fftrain_why_no_gpu;                                           \
    if (::fftrain::base::CudaDeviceCount(&fftrain_why_no_gpu) == 0) {         \
      GTEST_SKIP() << "no CUDA device, GPU test skipped: " << fftrain_why_no_gpu; \
    }                                                                         \
  } while (0)

// Skips the test, with the reason, where the current device cannot run tf32x3_wgmma.
#define FFTRAIN_SKIP_WITHOUT_WGMMA()                                                   \
  do {                                                                                \
    FFTRAIN_SKIP_WITHOUT_GPU();                                                       \
    if (!::fftrain::fftconv::CurrentDeviceRunsTf32x3Wgmma()) {                        \
      GTEST_SKIP() << "tf32x3_wgmma needs a compute capability 9.0 GPU; test skipped"; \
    }                                                                                 \
  } while (0)

namespace fftrain::fftconv::test_util {

inline base::DeviceBuffer Upload(const std::vector<float>& host) {
  auto buffer = base::DeviceBuffer::Allocate(host.size() * sizeof(float));
  EXPECT_TRUE(buffer.ok()) << buffer.status();
  if (!buffer.ok()) return base::DeviceBuffer();
  EXPECT_TRUE(buffer->CopyFromHost(host.data(), host.size() * sizeof(float)).ok());
  return std::move(buffer).value();
}

// A device buffer of `count` floats, filled with NaN bytes so unwritten outputs show.
inline base::DeviceBuffer Poisoned(size_t count) {
  auto buffer = base::DeviceBuffer::Allocate(count * sizeof(float));
  EXPECT_TRUE(buffer.ok()) << buffer.status();
  if (!buffer.ok()) return base::DeviceBuffer();
  EXPECT_TRUE(buffer->Fill(0xff, nullptr).ok());
  return std::move(buffer).value();
}

inline std::vector<float> Download(const base::DeviceBuffer& buffer, size_t count) {
  std::vector<float> host(count);
  EXPECT_TRUE(buffer.CopyToHost(host.data(), count * sizeof(float)).ok());
  return host;
}

}  // namespace fftrain::fftconv::test_util

#endif  // FFTRAIN_FFTCONV_CUDA_GPU_TEST_UTIL_H_
