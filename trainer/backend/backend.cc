#include "trainer/backend/backend.h"

#include <chrono>
#include <memory>
#include <variant>

#include "absl/status/status.h"

namespace fftrain::trainer {
namespace {

class HostClockMark final : public TimingMark {
 public:
  absl::Status Record() override {
    time_ = std::chrono::steady_clock::now();
    return absl::OkStatus();
  }
  absl::StatusOr<double> SecondsSince(const TimingMark& earlier) const override {
    const auto* start = dynamic_cast<const HostClockMark*>(&earlier);
    if (start == nullptr) {
      return absl::InvalidArgumentError("SecondsSince: marks of different backends");
    }
    return std::chrono::duration<double>(time_ - start->time_).count();
  }

 private:
  std::chrono::steady_clock::time_point time_ = std::chrono::steady_clock::now();
};

}  // namespace

absl::StatusOr<std::unique_ptr<TimingMark>> Backend::CreateTimingMark() {
  return std::make_unique<HostClockMark>();
}

absl::StatusOr<std::unique_ptr<CapturedWork>> Backend::Capture(
    absl::FunctionRef<absl::Status()> enqueue) {
  return absl::FailedPreconditionError(
      "Capture: this backend runs its operations as they are called; there is nothing to "
      "record and replay (CUDA graphs need the CUDA backend)");
}

const char* DeviceName(Device device) {
  switch (device) {
    case Device::kCpu:
      return "cpu";
    case Device::kCuda:
      return "cuda";
  }
  return "unknown";
}

void* Buffer::data() const {
  if (const auto* device = std::get_if<std::unique_ptr<DeviceMemory>>(&memory_)) {
    return *device != nullptr ? (*device)->data() : nullptr;
  }
  return std::get<base::HostBuffer>(memory_).data();
}

size_t Buffer::bytes() const {
  if (const auto* device = std::get_if<std::unique_ptr<DeviceMemory>>(&memory_)) {
    return *device != nullptr ? (*device)->bytes() : 0;
  }
  return std::get<base::HostBuffer>(memory_).bytes();
}

}  // namespace fftrain::trainer
