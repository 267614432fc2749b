// Move-only owners of CUDA resources: device memory, streams, events, cuFFT plans and
// cuBLAS handles, each a CudaOwner (one template for the moves and the release) plus what
// the resource does. Each is made by a factory returning StatusOr; destructors release
// and never throw. The header is plain C++: CUDA's types are only forward-declared.
// Shared by fftconv, comm and the trainer, hence in base.
#ifndef FFTRAIN_BASE_CUDA_CUDA_RESOURCES_H_
#define FFTRAIN_BASE_CUDA_CUDA_RESOURCES_H_

#include <cstddef>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/memory_span.h"

struct CUstream_st;
struct CUevent_st;
struct CUgraphExec_st;
struct cublasContext;

namespace fftrain::base {

// cudaStream_t without the CUDA headers; nullptr is the legacy default stream.
using CudaStreamHandle = CUstream_st*;

// The number of usable CUDA devices; 0 where there is no driver or no device, with the
// reason in *why_none when given.
int CudaDeviceCount(std::string* why_none = nullptr);

// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)" for the current device.
absl::StatusOr<std::string> CurrentDeviceDescription();

// One move-only owner for every kind of CUDA resource: it holds a handle, releases it
// with Traits::Release (which never throws) when destroyed or assigned over, and hands it
// on when moved, leaving the source empty. Traits gives the handle's type (a pointer, an
// int for cuFFT, or a small struct) and its release; an owner made empty holds a
// value-initialised handle and releases nothing, so a handle that may be 0 (cuFFT's)
// needs no sentinel.
template <typename Traits>
class CudaOwner {
 public:
  using Handle = typename Traits::Handle;

  CudaOwner() = default;
  explicit CudaOwner(Handle handle) : handle_(handle), owned_(true) {}
  CudaOwner(CudaOwner&& other) noexcept
      : handle_(std::exchange(other.handle_, Handle{})),
        owned_(std::exchange(other.owned_, false)) {}
  CudaOwner& operator=(CudaOwner&& other) noexcept {
    if (this != &other) {
      Reset();
      handle_ = std::exchange(other.handle_, Handle{});
      owned_ = std::exchange(other.owned_, false);
    }
    return *this;
  }
  CudaOwner(const CudaOwner&) = delete;
  CudaOwner& operator=(const CudaOwner&) = delete;
  ~CudaOwner() { Reset(); }

  const Handle& get() const { return handle_; }

 private:
  void Reset() noexcept {
    if (owned_) Traits::Release(handle_);
    handle_ = Handle{};
    owned_ = false;
  }

  Handle handle_{};
  bool owned_ = false;
};

// The releases, defined where the CUDA headers are (cuda_resources.cc).
namespace cuda_internal {
struct DeviceMemory {
  void* data = nullptr;
  size_t bytes = 0;
};
struct DeviceMemoryTraits {
  using Handle = DeviceMemory;
  static void Release(const DeviceMemory& memory) noexcept;  // cudaFree
};
struct StreamTraits {
  using Handle = CudaStreamHandle;
  static void Release(CudaStreamHandle stream) noexcept;  // cudaStreamDestroy
};
struct EventTraits {
  using Handle = CUevent_st*;
  static void Release(CUevent_st* event) noexcept;  // cudaEventDestroy
};
struct CufftPlanTraits {
  using Handle = int;  // cufftHandle
  static void Release(int handle) noexcept;  // cufftDestroy
};
struct CublasTraits {
  using Handle = cublasContext*;
  static void Release(cublasContext* handle) noexcept;  // cublasDestroy
};
struct GraphExecTraits {
  using Handle = CUgraphExec_st*;
  static void Release(CUgraphExec_st* graph) noexcept;  // cudaGraphExecDestroy
};
}  // namespace cuda_internal

// The owners below add what each resource does to CudaOwner, which makes them move-only.

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // ResourceExhausted naming the bytes asked for and the bytes free on failure.
  static absl::StatusOr<DeviceBuffer> Allocate(size_t bytes);

  void* data() const { return memory_.get().data; }
  size_t bytes() const { return memory_.get().bytes; }
  MemorySpan span() const { return {data(), bytes()}; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data());
  }

  // Synchronous copies of the first `bytes` bytes (setup and tests, not hot paths).
  absl::Status CopyFromHost(const void* host, size_t bytes);
  absl::Status CopyToHost(void* host, size_t bytes) const;
  // Asynchronous fill of every byte with `value` on `stream`.
  absl::Status Fill(int value, CudaStreamHandle stream);

 private:
  explicit DeviceBuffer(cuda_internal::DeviceMemory memory) : memory_(memory) {}
  CudaOwner<cuda_internal::DeviceMemoryTraits> memory_;
};

class CudaStream {
 public:
  static absl::StatusOr<CudaStream> Create();

  CudaStreamHandle get() const { return stream_.get(); }
  // Waits for the stream's work; also reports any asynchronous error of it.
  absl::Status Synchronize() const;

 private:
  explicit CudaStream(CudaStreamHandle stream) : stream_(stream) {}
  CudaOwner<cuda_internal::StreamTraits> stream_;
};

// Whether work enqueued on `stream` now is being captured into a graph rather than run
// (cudaStreamIsCapturing); false when the query itself fails.
bool StreamIsCapturing(CudaStreamHandle stream);

class CudaEvent {
 public:
  static absl::StatusOr<CudaEvent> Create();
  // An event for ordering only (cudaEventDisableTiming): cheaper to record and wait on,
  // and MillisecondsSince refuses it.
  static absl::StatusOr<CudaEvent> CreateWithoutTiming();

  CUevent_st* get() const { return event_.get(); }

  // While `stream` is being captured, a plain record orders other streams after the
  // captured work (they join the capture when they wait for it).
  absl::Status Record(CudaStreamHandle stream);
  // For timing: while `stream` is being captured, the record becomes a node of the graph
  // of its own (cudaEventRecordExternal), so that each replay records the event where it
  // was captured; otherwise as Record.
  absl::Status RecordForTiming(CudaStreamHandle stream);
  absl::Status Synchronize() const;
  // Whether the work before the last Record has completed (cudaEventQuery), without
  // waiting; true for an event never recorded.
  absl::StatusOr<bool> IsComplete() const;
  // Milliseconds from `start` to this event; both recorded and complete.
  absl::StatusOr<float> MillisecondsSince(const CudaEvent& start) const;

 private:
  explicit CudaEvent(CUevent_st* event) : event_(event) {}
  CudaOwner<cuda_internal::EventTraits> event_;
};

// A cuFFT plan handle (cufftHandle is an int).
class CufftPlan {
 public:
  CufftPlan() = default;
  static absl::StatusOr<CufftPlan> Create();

  int get() const { return handle_.get(); }

 private:
  explicit CufftPlan(int handle) : handle_(handle) {}
  CudaOwner<cuda_internal::CufftPlanTraits> handle_;
};

class CublasHandle {
 public:
  CublasHandle() = default;
  static absl::StatusOr<CublasHandle> Create();

  cublasContext* get() const { return handle_.get(); }

 private:
  explicit CublasHandle(cublasContext* handle) : handle_(handle) {}
  CudaOwner<cuda_internal::CublasTraits> handle_;
};

// Work captured from a stream once (a CUDA graph, instantiated) and launched as a whole:
// one launch in place of the hundreds a training step makes. The captured kernels keep
// their arguments, so the memory they use must stay where it was; values that change
// between launches are read from device memory (as SgdHyper's learning_rate_source).
class CudaGraph {
 public:
  CudaGraph() = default;
  // Captures what `enqueue` puts on `stream` (thread-local capture: a call in this thread
  // that would synchronise with the captured work fails instead of breaking the capture)
  // and instantiates it. Nothing of it runs. On return the stream is out of capture mode,
  // also on failure: enqueue's own error, or the capture's (the CUDA call that was not
  // allowed, named), which says the work cannot be captured.
  static absl::StatusOr<CudaGraph> Capture(CudaStreamHandle stream,
                                           absl::FunctionRef<absl::Status()> enqueue);

  // Enqueues one run of the whole graph on `stream`.
  absl::Status Launch(CudaStreamHandle stream) const;
  // How many nodes (kernels, copies, event records, ...) the graph has.
  size_t nodes() const { return nodes_; }

 private:
  CudaGraph(CUgraphExec_st* exec, size_t nodes) : exec_(exec), nodes_(nodes) {}
  CudaOwner<cuda_internal::GraphExecTraits> exec_;
  size_t nodes_ = 0;
};

}  // namespace fftrain::base

#endif  // FFTRAIN_BASE_CUDA_CUDA_RESOURCES_H_
