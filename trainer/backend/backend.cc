#include "trainer/backend/backend.h"

#include <variant>

namespace fftrain::trainer {

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
  return std::visit([](const auto& memory) { return memory.data(); }, memory_);
}

size_t Buffer::bytes() const {
  return std::visit([](const auto& memory) { return memory.bytes(); }, memory_);
}

}  // namespace fftrain::trainer
