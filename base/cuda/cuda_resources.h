// Move-only owners of CUDA resources: device memory, streams, events, cuFFT plans and
// cuBLAS handles. Each is made by a factory returning StatusOr; destructors release and
// never throw. The header is plain C++: CUDA's types are only forward-declared. Shared by
// fftconv, comm and the trainer, hence in base.
#ifndef FFTRAIN_BASE_CUDA_CUDA_RESOURCES_H_
#define FFTRAIN_BASE_CUDA_CUDA_RESOURCES_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/memory_span.h"

struct CUstream_st;
struct CUevent_st;
struct cublasContext;

namespace fftrain::base {

// cudaStream_t without the CUDA headers; nullptr is the legacy default stream.
using CudaStreamHandle = CUstream_st*;

// The number of usable CUDA devices; 0 where there is no driver or no device, with the
// reason in *why_none when given.
int CudaDeviceCount(std::string* why_none = nullptr);

// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)" for the current device.
absl::StatusOr<std::string> CurrentDeviceDescription();

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // ResourceExhausted naming the bytes asked for and the bytes free on failure.
  static absl::StatusOr<DeviceBuffer> Allocate(size_t bytes);
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  MemorySpan span() const { return {data_, bytes_}; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

  // Synchronous copies of the first `bytes` bytes (setup and tests, not hot paths).
  absl::Status CopyFromHost(const void* host, size_t bytes);
  absl::Status CopyToHost(void* host, size_t bytes) const;
  // Asynchronous fill of every byte with `value` on `stream`.
  absl::Status Fill(int value, CudaStreamHandle stream);

 private:
  DeviceBuffer(void* data, size_t bytes) : data_(data), bytes_(bytes) {}
  void Reset();
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

class CudaStream {
 public:
  static absl::StatusOr<CudaStream> Create();
  CudaStream(CudaStream&& other) noexcept;
  CudaStream& operator=(CudaStream&& other) noexcept;
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  ~CudaStream();

  CudaStreamHandle get() const { return stream_; }
  // Waits for the stream's work; also reports any asynchronous error of it.
  absl::Status Synchronize() const;

 private:
  explicit CudaStream(CudaStreamHandle stream) : stream_(stream) {}
  void Reset();
  CudaStreamHandle stream_ = nullptr;
};

class CudaEvent {
 public:
  static absl::StatusOr<CudaEvent> Create();
  // An event for ordering only (cudaEventDisableTiming): cheaper to record and wait on,
  // and MillisecondsSince refuses it.
  static absl::StatusOr<CudaEvent> CreateWithoutTiming();
  CudaEvent(CudaEvent&& other) noexcept;
  CudaEvent& operator=(CudaEvent&& other) noexcept;
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  ~CudaEvent();

  CUevent_st* get() const { return event_; }

  absl::Status Record(CudaStreamHandle stream);
  absl::Status Synchronize() const;
  // Whether the work before the last Record has completed (cudaEventQuery), without
  // waiting; true for an event never recorded.
  absl::StatusOr<bool> IsComplete() const;
  // Milliseconds from `start` to this event; both recorded and complete.
  absl::StatusOr<float> MillisecondsSince(const CudaEvent& start) const;

 private:
  explicit CudaEvent(CUevent_st* event) : event_(event) {}
  void Reset();
  CUevent_st* event_ = nullptr;
};

// A cuFFT plan handle (cufftHandle is an int).
class CufftPlan {
 public:
  CufftPlan() = default;
  static absl::StatusOr<CufftPlan> Create();
  CufftPlan(CufftPlan&& other) noexcept;
  CufftPlan& operator=(CufftPlan&& other) noexcept;
  CufftPlan(const CufftPlan&) = delete;
  CufftPlan& operator=(const CufftPlan&) = delete;
  ~CufftPlan();

  int get() const { return handle_; }

 private:
  explicit CufftPlan(int handle) : handle_(handle), valid_(true) {}
  void Reset();
  int handle_ = 0;
  bool valid_ = false;
};

class CublasHandle {
 public:
  CublasHandle() = default;
  static absl::StatusOr<CublasHandle> Create();
  CublasHandle(CublasHandle&& other) noexcept;
  CublasHandle& operator=(CublasHandle&& other) noexcept;
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  ~CublasHandle();

  cublasContext* get() const { return handle_; }

 private:
  explicit CublasHandle(cublasContext* handle) : handle_(handle) {}
  void Reset();
  cublasContext* handle_ = nullptr;
};

}  // namespace fftrain::base

#endif  // FFTRAIN_BASE_CUDA_CUDA_RESOURCES_H_
