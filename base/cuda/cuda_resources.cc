#include "base/cuda/cuda_resources.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/cuda/cublas_status.h"
#include "base/cuda/cuda_status.h"
#include "base/cuda/cufft_status.h"
#include "base/process_identity.h"
#include "base/status_macros.h"

namespace fftrain::base {

int CudaDeviceCount(std::string* why_none) {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    if (why_none != nullptr) {
      *why_none = absl::StrCat("cudaGetDeviceCount: ", cudaGetErrorName(error), " (",
                               cudaGetErrorString(error), ")");
    }
    return 0;
  }
  if (count == 0 && why_none != nullptr) *why_none = "no CUDA device is present";
  return count;
}

absl::StatusOr<std::string> CurrentDeviceDescription() {
  int device = 0;
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  cudaDeviceProp prop;
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, device));
  return absl::StrFormat("%s (sm_%d%d, %d SMs, %.1f GiB)", prop.name, prop.major, prop.minor,
                         prop.multiProcessorCount,
                         static_cast<double>(prop.totalGlobalMem) / (1 << 30));
}

// --- DeviceBuffer ---

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  if (bytes == 0) return DeviceBuffer();
  void* data = nullptr;
  const cudaError_t error = cudaMalloc(&data, bytes);
  if (error != cudaSuccess) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    return absl::ResourceExhaustedError(absl::StrFormat(
        "cudaMalloc of %d bytes (%.2f GiB) failed: %s; the device has %.2f GiB free of %.2f GiB%s",
        bytes, bytes / double(1 << 30), cudaGetErrorString(error),
        free_bytes / double(1 << 30), total_bytes / double(1 << 30), ProcessIdentitySuffix()));
  }
  return DeviceBuffer(data, bytes);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() { Reset(); }

void DeviceBuffer::Reset() {
  if (data_ != nullptr) cudaFree(data_);
  data_ = nullptr;
  bytes_ = 0;
}

absl::Status DeviceBuffer::CopyFromHost(const void* host, size_t bytes) {
  if (bytes > bytes_) {
    return absl::InvalidArgumentError(
        absl::StrCat("CopyFromHost: ", bytes, " bytes into a buffer of ", bytes_));
  }
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaMemcpy(data_, host, bytes, cudaMemcpyHostToDevice));
  return absl::OkStatus();
}

absl::Status DeviceBuffer::CopyToHost(void* host, size_t bytes) const {
  if (bytes > bytes_) {
    return absl::InvalidArgumentError(
        absl::StrCat("CopyToHost: ", bytes, " bytes from a buffer of ", bytes_));
  }
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaMemcpy(host, data_, bytes, cudaMemcpyDeviceToHost));
  return absl::OkStatus();
}

absl::Status DeviceBuffer::Fill(int value, CudaStreamHandle stream) {
  if (bytes_ == 0) return absl::OkStatus();
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(data_, value, bytes_, stream));
  return absl::OkStatus();
}

// --- CudaStream ---

absl::StatusOr<CudaStream> CudaStream::Create() {
  cudaStream_t stream = nullptr;
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  return CudaStream(stream);
}

CudaStream::CudaStream(CudaStream&& other) noexcept
    : stream_(std::exchange(other.stream_, nullptr)) {}

CudaStream& CudaStream::operator=(CudaStream&& other) noexcept {
  if (this != &other) {
    Reset();
    stream_ = std::exchange(other.stream_, nullptr);
  }
  return *this;
}

CudaStream::~CudaStream() { Reset(); }

void CudaStream::Reset() {
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
  stream_ = nullptr;
}

absl::Status CudaStream::Synchronize() const {
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  return absl::OkStatus();
}

// --- CudaEvent ---

absl::StatusOr<CudaEvent> CudaEvent::Create() {
  cudaEvent_t event = nullptr;
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaEventCreate(&event));
  return CudaEvent(event);
}

absl::StatusOr<CudaEvent> CudaEvent::CreateWithoutTiming() {
  cudaEvent_t event = nullptr;
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return CudaEvent(event);
}

CudaEvent::CudaEvent(CudaEvent&& other) noexcept
    : event_(std::exchange(other.event_, nullptr)) {}

CudaEvent& CudaEvent::operator=(CudaEvent&& other) noexcept {
  if (this != &other) {
    Reset();
    event_ = std::exchange(other.event_, nullptr);
  }
  return *this;
}

CudaEvent::~CudaEvent() { Reset(); }

void CudaEvent::Reset() {
  if (event_ != nullptr) cudaEventDestroy(event_);
  event_ = nullptr;
}

absl::Status CudaEvent::Record(CudaStreamHandle stream) {
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaEventRecord(event_, stream));
  return absl::OkStatus();
}

absl::Status CudaEvent::Synchronize() const {
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(event_));
  return absl::OkStatus();
}

absl::StatusOr<bool> CudaEvent::IsComplete() const {
  const cudaError_t error = cudaEventQuery(event_);
  if (error == cudaErrorNotReady) {
    // Not a failure, but the runtime may keep it as this thread's last error, where a
    // later launch check (cudaGetLastError) would take it for its own.
    if (cudaPeekAtLastError() == cudaErrorNotReady) cudaGetLastError();
    return false;
  }
  FFTRAIN_CUDA_RETURN_IF_ERROR(error);
  return true;
}

absl::StatusOr<float> CudaEvent::MillisecondsSince(const CudaEvent& start) const {
  float ms = 0;
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start.event_, event_));
  return ms;
}

// --- CufftPlan ---

absl::StatusOr<CufftPlan> CufftPlan::Create() {
  cufftHandle handle = 0;
  FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftCreate(&handle));
  return CufftPlan(handle);
}

CufftPlan::CufftPlan(CufftPlan&& other) noexcept
    : handle_(other.handle_), valid_(std::exchange(other.valid_, false)) {}

CufftPlan& CufftPlan::operator=(CufftPlan&& other) noexcept {
  if (this != &other) {
    Reset();
    handle_ = other.handle_;
    valid_ = std::exchange(other.valid_, false);
  }
  return *this;
}

CufftPlan::~CufftPlan() { Reset(); }

void CufftPlan::Reset() {
  if (valid_) cufftDestroy(handle_);
  valid_ = false;
}

// --- CublasHandle ---

absl::StatusOr<CublasHandle> CublasHandle::Create() {
  cublasHandle_t handle = nullptr;
  FFTRAIN_CUBLAS_RETURN_IF_ERROR(cublasCreate(&handle));
  return CublasHandle(handle);
}

CublasHandle::CublasHandle(CublasHandle&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)) {}

CublasHandle& CublasHandle::operator=(CublasHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

CublasHandle::~CublasHandle() { Reset(); }

void CublasHandle::Reset() {
  if (handle_ != nullptr) cublasDestroy(handle_);
  handle_ = nullptr;
}

}  // namespace fftrain::base
