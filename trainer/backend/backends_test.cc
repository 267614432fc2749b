// What the trainer links (//trainer/backend:backends) in either build: with CUDA, the
// CUDA backend; without (docs/architecture.md, the CPU-only build), stand-ins that say
// so. Runs in both builds and on machines with and without a GPU.
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/backend/backend.h"

namespace fftrain::trainer {
namespace {

using ::testing::HasSubstr;

TEST(BackendsTest, TheCpuBackendIsAlwaysThere) {
  absl::StatusOr<std::unique_ptr<Backend>> cpu = CreateCpuBackend();
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ((*cpu)->device(), Device::kCpu);
}

// No GPU, or no CUDA in the build: CreateCudaBackend refuses with the same reason that
// CudaBackendDevices gives, so `--device=auto` and `--device=cuda` explain alike.
TEST(BackendsTest, WithoutDevicesTheCudaBackendSaysWhy) {
  std::string why;
  const int devices = CudaBackendDevices(&why);
  if (devices > 0) {
    EXPECT_TRUE(CreateCudaBackend(0).ok());
    GTEST_SKIP() << devices << " GPU(s) present: nothing to refuse";
  }
  EXPECT_FALSE(why.empty());
  const absl::Status status = CreateCudaBackend(0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr(why));
#ifdef FFTRAIN_EXPECT_CPU_ONLY
  EXPECT_THAT(why, HasSubstr("built without CUDA"));
#endif
}

}  // namespace
}  // namespace fftrain::trainer
