// The CUDA backend's entry points in a build without CUDA (docs/architecture.md, "The
// CPU-only build"): no devices, and a message that says why instead of a link error.
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trainer/backend/backend.h"

namespace fftrain::trainer {
namespace {

constexpr char kNoCuda[] =
    "this fftrain was built without CUDA (the toolkit was not at /usr/local/cuda, or "
    "--config=cpu_only hid it), so it has only the CPU backend (--device=cpu)";

}  // namespace

int CudaBackendDevices(std::string* why_none) {
  if (why_none != nullptr) *why_none = kNoCuda;
  return 0;
}

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int, const CudaBackendOptions&) {
  return absl::FailedPreconditionError(kNoCuda);
}

}  // namespace fftrain::trainer
