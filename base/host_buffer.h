// Move-only owner of host memory aligned for workspaces and spectra (kWorkspaceAlignment):
// what the CPU backend hands out where the CUDA backend hands out a DeviceBuffer.
#ifndef FFTRAIN_BASE_HOST_BUFFER_H_
#define FFTRAIN_BASE_HOST_BUFFER_H_

#include <cstddef>
#include <cstdlib>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/memory_span.h"

namespace fftrain::base {

class HostBuffer {
 public:
  HostBuffer() = default;
  // ResourceExhausted naming the size when the allocation fails. Zero bytes is allowed.
  static absl::StatusOr<HostBuffer> Allocate(size_t bytes) {
    if (bytes == 0) return HostBuffer();
    // aligned_alloc wants a size that is a multiple of the alignment.
    void* data = std::aligned_alloc(kWorkspaceAlignment, AlignUp(bytes));
    if (data == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("could not allocate ", bytes, " bytes of host memory"));
    }
    return HostBuffer(data, bytes);
  }
  HostBuffer(HostBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  HostBuffer& operator=(HostBuffer&& other) noexcept {
    if (this != &other) {
      std::free(data_);
      data_ = std::exchange(other.data_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  ~HostBuffer() { std::free(data_); }

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  MemorySpan span() const { return {data_, bytes_}; }

 private:
  HostBuffer(void* data, size_t bytes) : data_(data), bytes_(bytes) {}
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace fftrain::base

#endif  // FFTRAIN_BASE_HOST_BUFFER_H_
