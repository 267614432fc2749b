// The operations a network needs, on one device: memory, copies, the layer kernels
// (ReLU, max-pooling, GEMM, softmax cross-entropy, SGD) and FFT convolutions. Layers
// are written once against this interface; CpuBackend and CudaBackend implement it.
// Plain C++: no CUDA headers.
#ifndef FFTRAIN_TRAINER_BACKEND_BACKEND_H_
#define FFTRAIN_TRAINER_BACKEND_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/host_buffer.h"
#include "base/memory_span.h"
#include "fftconv/conv_shape.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::trainer {

enum class Device { kCpu, kCuda };

const char* DeviceName(Device device);  // "cpu", "cuda"

// Memory a device backend owns (the CUDA backend's device allocations), behind an
// interface so that this header, and the CPU-only build, need no CUDA.
class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  virtual void* data() const = 0;
  virtual size_t bytes() const = 0;
};

// Memory on a backend's device (host memory for the CPU), 256-byte aligned, move-only.
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(base::HostBuffer host) : memory_(std::move(host)) {}
  explicit Buffer(std::unique_ptr<DeviceMemory> device) : memory_(std::move(device)) {}

  void* data() const;
  size_t bytes() const;
  base::MemorySpan span() const { return {data(), bytes()}; }
  float* floats() const { return static_cast<float*>(data()); }
  int32_t* ints() const { return static_cast<int32_t*>(data()); }

 private:
  std::variant<base::HostBuffer, std::unique_ptr<DeviceMemory>> memory_;
};

// Sizes of a max-pooling: x is n x c x h x w, y is n x c x out_h x out_w with
// out = (in - window) / stride + 1 (windows that would run past the edge are dropped).
struct PoolDims {
  int64_t n, c, h, w;
  int64_t window, stride;
  int64_t out_h, out_w;
};

// One SGD-with-momentum step: v = momentum * v + (g + weight_decay * p); p -= lr * v.
struct SgdHyper {
  float learning_rate;
  float momentum;
  float weight_decay;
  // When set, lr is read from this float in the backend's memory when the step runs, and
  // learning_rate is ignored: a captured step (Backend::Capture) replays with the rate of
  // each step, which the trainer writes there before the replay.
  const float* learning_rate_source = nullptr;
};

// An FFT convolution plan bound to a backend (fftconv's CPU or CUDA plan), with the
// backend's stream where there is one. Contract as fftconv's plans (docs/fftconv.md).
class ConvEngine {
 public:
  virtual ~ConvEngine() = default;
  // How the passes run, for the start-up log: "fftw 32x32", "batched 32x32 cgemm".
  virtual std::string method() const = 0;
  virtual size_t WorkspaceBytes() const = 0;
  virtual size_t WeightSpectrumBytes() const = 0;
  virtual size_t InputSpectrumBytes() const = 0;
  virtual absl::Status Forward(const float* x, const float* w, const float* bias, float* y,
                               const fftconv::LayerSpectra& spectra,
                               base::MemorySpan workspace) = 0;
  virtual absl::Status BackwardData(const float* gy, float* gx,
                                    const fftconv::LayerSpectra& spectra,
                                    base::MemorySpan workspace) = 0;
  virtual absl::Status BackwardFilter(const float* x, const float* gy, float* gw, float* gb,
                                      const fftconv::LayerSpectra& spectra,
                                      fftconv::GradOutputSpectrum gy_source,
                                      base::MemorySpan workspace) = 0;
};

// A point in a backend's stream of work, for timing phases without waiting for them:
// Record() marks the point (on the CUDA backend, an event on its stream); SecondsSince
// waits until this mark's work is complete (free once the caller has waited anyway, as
// after a copy to the host).
class TimingMark {
 public:
  virtual ~TimingMark() = default;
  virtual absl::Status Record() = 0;
  virtual absl::StatusOr<double> SecondsSince(const TimingMark& earlier) const = 0;
};

// Operations a backend recorded once and runs again as a whole (Backend::Capture).
class CapturedWork {
 public:
  virtual ~CapturedWork() = default;
  // Enqueues one run of the recorded operations, as if they were called again in order.
  virtual absl::Status Replay() = 0;
  // For the start-up log: "a CUDA graph of 412 nodes".
  virtual std::string Describe() const = 0;
};

// All pointers given to a backend's operations point into its own memory (Buffers it
// allocated), except the host side of the copies. Operations are asynchronous on the
// CUDA backend (one stream, in order); Synchronize() waits and reports errors.
// Every reduction runs in a fixed order, so results are bitwise reproducible on a
// given device.
class Backend {
 public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  // "cpu (FFTW + OpenBLAS)" or "cuda: NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)".
  virtual std::string Describe() const = 0;

  // ResourceExhausted naming the bytes asked for and the bytes free when it fails.
  virtual absl::StatusOr<Buffer> Allocate(size_t bytes) = 0;
  // Free memory on the device (on the CPU: available physical memory).
  virtual absl::StatusOr<size_t> FreeBytes() = 0;
  // Device memory in use, for reports next to PyTorch's torch.cuda.max_memory_allocated:
  // the bytes this backend's Allocate calls hold now and held at most at once, and the
  // device's memory in use now beyond what it was when the backend was made (those
  // buffers plus what the CUDA libraries took: cuFFT and cuBLAS state, graphs). Zeros
  // where it is not tracked (the CPU).
  struct MemoryUse {
    size_t allocated = 0;
    size_t peak_allocated = 0;
    size_t device_in_use = 0;
  };
  virtual absl::StatusOr<MemoryUse> DeviceMemoryUse() { return MemoryUse(); }

  // Copies complete before the call returns (host memory may be reused at once).
  virtual absl::Status CopyFromHost(const void* host, void* device, size_t bytes) = 0;
  virtual absl::Status CopyToHost(const void* device, void* host, size_t bytes) = 0;
  virtual absl::Status Synchronize() = 0;

  // dst[i] = value for i < n.
  virtual absl::Status Fill(float* dst, float value, int64_t n) = 0;
  // x[i] *= alpha for i < n.
  virtual absl::Status Scale(float* x, float alpha, int64_t n) = 0;

  // y = max(x, 0). x and y may alias.
  virtual absl::Status ReluForward(const float* x, float* y, int64_t n) = 0;
  // gx = gy where y > 0, else 0. gx and gy may alias.
  virtual absl::Status ReluBackward(const float* y, const float* gy, float* gx, int64_t n) = 0;

  // y = max over each window; argmax[i] = index into x (flattened, whole tensor) of the
  // maximum of output i (the first one on ties).
  virtual absl::Status MaxPoolForward(const PoolDims& d, const float* x, float* y,
                                      int32_t* argmax) = 0;
  // gx = 0, then gx[argmax[i]] += gy[i] (deterministic even with overlapping windows).
  virtual absl::Status MaxPoolBackward(const PoolDims& d, const float* gy,
                                       const int32_t* argmax, float* gx) = 0;

  // Row-major C (m x n) = alpha * op(A) * op(B) + beta * C; op transposes when asked.
  // A is m x k (k x m when transposed), B is k x n (n x k when transposed).
  virtual absl::Status Gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n,
                            int64_t k, float alpha, const float* a, const float* b, float beta,
                            float* c) = 0;
  // y[r][c] += bias[c] for a rows x cols matrix.
  virtual absl::Status AddBiasToRows(float* y, const float* bias, int64_t rows,
                                     int64_t cols) = 0;
  // out[c] = sum over r of m[r][c] (double accumulation).
  virtual absl::Status SumRows(const float* m, int64_t rows, int64_t cols, float* out) = 0;

  // For logits (batch x classes) and labels in [0, classes): per example, the loss
  // -log softmax(logits)[label] and whether the arg-max equals the label (1 or 0), and
  // grad = (softmax(logits) - onehot(label)) / batch, the gradient of the mean loss.
  virtual absl::Status SoftmaxCrossEntropy(const float* logits, const int32_t* labels,
                                           int64_t batch, int64_t classes, float* grad,
                                           float* loss_per_example,
                                           int32_t* correct_per_example) = 0;

  virtual absl::Status SgdMomentumStep(float* params, const float* grads, float* velocity,
                                       int64_t n, const SgdHyper& hyper) = 0;

  virtual absl::StatusOr<std::unique_ptr<ConvEngine>> CreateConv(
      const fftconv::ConvShape& shape, const fftconv::FftConvOptions& options) = 0;

  // A mark for timing this backend's work. The default reads the host's clock when
  // recorded, which is right for backends whose operations complete before returning.
  virtual absl::StatusOr<std::unique_ptr<TimingMark>> CreateTimingMark();

  // The stream the operations are enqueued on (cudaStream_t), for a communicator that
  // must order its work after them; nullptr where operations are synchronous (the CPU).
  virtual void* compute_stream() const { return nullptr; }

  // The convolution methods this backend has chosen (fftconv's tuner), as text for the
  // other ranks, so that every rank runs the same methods: rank 0 tunes and exports,
  // the others import before they build their networks. "" where nothing is tuned.
  virtual absl::StatusOr<std::string> ExportTuning() { return std::string(); }
  // Takes another rank's ExportTuning text; later convolutions of those shapes use its
  // methods instead of tuning. The default ignores it: a backend with one method per
  // shape (the CPU's FFTW) has nothing to choose.
  virtual absl::Status ImportTuning(const std::string& text) { return absl::OkStatus(); }

  // Whether Capture can record operations here: on the CUDA backend (CUDA graphs), not on
  // the CPU, whose operations run as they are called.
  virtual bool CanCapture() const { return false; }
  // Records the operations `enqueue` calls, without running them, for CapturedWork::Replay:
  // one launch where a training step makes hundreds. The buffers they use must stay
  // allocated while the capture lives; host values passed as arguments are frozen at
  // capture, so what changes between replays goes through this backend's memory
  // (SgdHyper::learning_rate_source). Timing marks recorded inside are recorded again at
  // each replay. FailedPrecondition where !CanCapture(); enqueue's error, or the
  // capture's (an operation that synchronises with the device cannot be captured).
  virtual absl::StatusOr<std::unique_ptr<CapturedWork>> Capture(
      absl::FunctionRef<absl::Status()> enqueue);
  // Named ranges for profilers (NVTX on CUDA; nothing on the CPU).
  virtual void PushRange(const char* name) {}
  virtual void PopRange() {}
};

absl::StatusOr<std::unique_ptr<Backend>> CreateCpuBackend();
// How the CUDA backend chooses each convolution's method (fftconv/cuda/tuner.h).
enum class ConvTuning {
  kOff,        // the plan's default (batched kernels at powers of two, else cuFFT)
  kMeasure,    // time every candidate once per shape and keep the fastest
  kCostModel,  // rank candidates by the tuner's cost model
};

struct CudaBackendOptions {
  // kOff by default: measured choices can differ between runs when two candidates time
  // alike, and then so does the rounding of the results.
  ConvTuning tuning = ConvTuning::kOff;
  std::string tuner_cache;    // on-disk cache of tuning results ("" for none)
  size_t workspace_cap = 0;   // bytes; candidates above it are skipped (0: no cap)
};

// The CUDA backend on device `ordinal`; FailedPrecondition when there is no GPU, or when
// this build has no CUDA backend (a CPU-only build, docs/architecture.md).
absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int ordinal = 0,
                                                           const CudaBackendOptions& options = {});

// How many GPUs the CUDA backend can use: 0, with the reason in *why_none, when there is
// none or this build has no CUDA backend.
int CudaBackendDevices(std::string* why_none = nullptr);

// A scoped profiler range on a backend.
class ScopedRange {
 public:
  ScopedRange(Backend& backend, const char* name) : backend_(backend) {
    backend_.PushRange(name);
  }
  ~ScopedRange() { backend_.PopRange(); }
  ScopedRange(const ScopedRange&) = delete;
  ScopedRange& operator=(const ScopedRange&) = delete;

 private:
  Backend& backend_;
};

}  // namespace fftrain::trainer

#endif  // FFTRAIN_TRAINER_BACKEND_BACKEND_H_
