// Test helpers: run a test on each backend (the CUDA one skips without a GPU).
#ifndef FFTRAIN_TRAINER_TEST_BACKENDS_H_
#define FFTRAIN_TRAINER_TEST_BACKENDS_H_

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "trainer/backend/backend.h"

namespace fftrain::trainer::test_util {

// The backend for `device`, or null with the reason in *skip when there is no GPU.
inline std::unique_ptr<Backend> MakeTestBackend(Device device, std::string* skip) {
  if (device == Device::kCuda) {
    std::string why;
    if (CudaBackendDevices(&why) == 0) {
      *skip = "no CUDA device, GPU test skipped: " + why;
      return nullptr;
    }
    auto backend = CreateCudaBackend(0);
    EXPECT_TRUE(backend.ok()) << backend.status();
    return backend.ok() ? std::move(backend).value() : nullptr;
  }
  auto backend = CreateCpuBackend();
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? std::move(backend).value() : nullptr;
}

inline std::string DeviceParamName(const ::testing::TestParamInfo<Device>& info) {
  return DeviceName(info.param);
}

}  // namespace fftrain::trainer::test_util

#endif  // FFTRAIN_TRAINER_TEST_BACKENDS_H_
