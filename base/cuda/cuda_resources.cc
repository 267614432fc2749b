#include "base/cuda/cuda_resources.h"

#include <memory>


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
  return DeviceBuffer(cuda_internal::DeviceMemory{data, bytes});
}

absl::Status DeviceBuffer::CopyFromHost(const void* host, size_t bytes) {
  if (bytes > this->bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CopyFromHost: ", bytes, " bytes into a buffer of ", this->bytes()));
  }
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaMemcpy(data(), host, bytes, cudaMemcpyHostToDevice));
  return absl::OkStatus();
}

absl::Status DeviceBuffer::CopyToHost(void* host, size_t bytes) const {
  if (bytes > this->bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CopyToHost: ", bytes, " bytes from a buffer of ", this->bytes()));
  }
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaMemcpy(host, data(), bytes, cudaMemcpyDeviceToHost));
  return absl::OkStatus();
}

absl::Status DeviceBuffer::Fill(int value, CudaStreamHandle stream) {
  if (bytes() == 0) return absl::OkStatus();
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(data(), value, bytes(), stream));
  return absl::OkStatus();
}

// --- CudaStream ---

absl::StatusOr<CudaStream> CudaStream::Create() {
  cudaStream_t stream = nullptr;
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  return CudaStream(stream);
}

absl::Status CudaStream::Synchronize() const {
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(get()));
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

bool StreamIsCapturing(CudaStreamHandle stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &status) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return status == cudaStreamCaptureStatusActive;
}

absl::Status CudaEvent::Record(CudaStreamHandle stream) {
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaEventRecord(get(), stream));
  return absl::OkStatus();
}

absl::Status CudaEvent::RecordForTiming(CudaStreamHandle stream) {
  if (!StreamIsCapturing(stream)) return Record(stream);
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaEventRecordWithFlags(get(), stream, cudaEventRecordExternal));
  return absl::OkStatus();
}

absl::Status CudaEvent::Synchronize() const {
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(get()));
  return absl::OkStatus();
}

absl::StatusOr<bool> CudaEvent::IsComplete() const {
  const cudaError_t error = cudaEventQuery(get());
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
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start.get(), get()));
  return ms;
}

// --- CufftPlan ---

absl::StatusOr<CufftPlan> CufftPlan::Create() {
  cufftHandle handle = 0;
  FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftCreate(&handle));
  return CufftPlan(handle);
}

// --- CublasHandle ---

absl::StatusOr<CublasHandle> CublasHandle::Create() {
  cublasHandle_t handle = nullptr;
  FFTRAIN_CUBLAS_RETURN_IF_ERROR(cublasCreate(&handle));
  return CublasHandle(handle);
}

// --- CudaGraph ---

namespace {

// Destroys the captured graph (the instantiated one is independent of it).
struct GraphDeleter {
  void operator()(CUgraph_st* graph) const noexcept { cudaGraphDestroy(graph); }
};
using OwnedGraph = std::unique_ptr<CUgraph_st, GraphDeleter>;

}  // namespace

absl::StatusOr<CudaGraph> CudaGraph::Capture(CudaStreamHandle stream,
                                             absl::FunctionRef<absl::Status()> enqueue) {
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const absl::Status enqueued = enqueue();
  cudaGraph_t captured = nullptr;
  // Always ended, so that the stream is usable again whatever happened.
  const cudaError_t ended = cudaStreamEndCapture(stream, &captured);
  OwnedGraph graph(captured);
  if (!enqueued.ok() || ended != cudaSuccess) {
    // Capture errors are not sticky, but the runtime keeps the last one, where the next
    // launch check (cudaGetLastError) would take it for its own.
    cudaGetLastError();
  }
  if (!enqueued.ok()) return enqueued;  // the capture's own error follows from it
  FFTRAIN_CUDA_RETURN_IF_ERROR(ended);
  size_t nodes = 0;
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaGraphGetNodes(graph.get(), nullptr, &nodes));
  cudaGraphExec_t exec = nullptr;
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaGraphInstantiate(&exec, graph.get(), 0));
  return CudaGraph(exec, nodes);
}

absl::Status CudaGraph::Launch(CudaStreamHandle stream) const {
  if (exec_.get() == nullptr) {
    return absl::FailedPreconditionError("CudaGraph::Launch: nothing was captured");
  }
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(exec_.get(), stream));
  return absl::OkStatus();
}

// --- Releases ---

namespace cuda_internal {

void DeviceMemoryTraits::Release(const DeviceMemory& memory) noexcept {
  if (memory.data != nullptr) cudaFree(memory.data);
}
void StreamTraits::Release(CudaStreamHandle stream) noexcept { cudaStreamDestroy(stream); }
void EventTraits::Release(CUevent_st* event) noexcept { cudaEventDestroy(event); }
void CufftPlanTraits::Release(int handle) noexcept { cufftDestroy(handle); }
void CublasTraits::Release(cublasContext* handle) noexcept { cublasDestroy(handle); }
void GraphExecTraits::Release(CUgraphExec_st* graph) noexcept { cudaGraphExecDestroy(graph); }

}  // namespace cuda_internal

}  // namespace fftrain::base
