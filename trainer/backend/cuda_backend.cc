// The CUDA backend: one stream per backend, on which every operation is enqueued in
// order; cuBLAS for GEMM (bound to that stream); our kernels (cuda/layer_kernels.h) for
// the rest; fftconv's CUDA plan for convolutions.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/cuda/cublas_status.h"
#include "base/cuda/cuda_resources.h"
#include "base/cuda/cuda_status.h"
#include "base/status_macros.h"
#include "fftconv/cost_model.h"
#include "fftconv/cuda/cuda_fft_conv.h"
#include "fftconv/cuda/tuner.h"
#include "nvtx3/nvToolsExt.h"
#include "trainer/backend/backend.h"
#include "trainer/backend/cuda/layer_kernels.h"
#include "trainer/backend/op_checks.h"

namespace fftrain::trainer {
namespace {

using internal::CheckCopy;
using internal::CheckElementwise;
using internal::CheckGemm;
using internal::CheckMatrix;
using internal::CheckPool;
using internal::CheckSgd;
using internal::CheckSoftmax;
using internal::CheckSumRows;

// The bytes a backend's buffers hold, now and at most; shared with the buffers, which
// may outlive the backend.
struct AllocationCount {
  std::atomic<size_t> now{0};
  std::atomic<size_t> peak{0};

  void Add(size_t bytes) {
    const size_t total = now.fetch_add(bytes) + bytes;
    size_t seen = peak.load();
    while (seen < total && !peak.compare_exchange_weak(seen, total)) {
    }
  }
};

// A Buffer's device memory: a cudaMalloc'd block, freed with it.
class CudaMemory final : public DeviceMemory {
 public:
  CudaMemory(base::DeviceBuffer memory, std::shared_ptr<AllocationCount> count)
      : memory_(std::move(memory)), count_(std::move(count)) {
    count_->Add(memory_.bytes());
  }
  ~CudaMemory() override { count_->now.fetch_sub(memory_.bytes()); }
  void* data() const override { return memory_.data(); }
  size_t bytes() const override { return memory_.bytes(); }

 private:
  base::DeviceBuffer memory_;
  std::shared_ptr<AllocationCount> count_;
};

// Bytes of the current device in use (total - free).
absl::StatusOr<size_t> DeviceBytesInUse() {
  size_t free_bytes = 0, total_bytes = 0;
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes));
  return total_bytes - free_bytes;
}

// A backend may be driven from a thread other than the one that created it, whose
// current device is then not the backend's; every entry point selects it first. Cheap
// when it is already current.
absl::Status SelectDevice(int ordinal) {
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaSetDevice(ordinal));
  return absl::OkStatus();
}

cuda::PoolGeometry Geometry(const PoolDims& d) {
  return {d.n, d.c, d.h, d.w, d.window, d.stride, d.out_h, d.out_w};
}

// Borrows the backend's stream: the backend must outlive its engines.
class CudaConvEngine final : public ConvEngine {
 public:
  CudaConvEngine(int ordinal, cudaStream_t stream, fftconv::CudaFftConvPlan plan)
      : ordinal_(ordinal), stream_(stream), plan_(std::move(plan)) {}

  std::string method() const override { return plan_.method_name(); }
  size_t WorkspaceBytes() const override { return plan_.WorkspaceBytes(); }
  size_t WeightSpectrumBytes() const override { return plan_.WeightSpectrumBytes(); }
  size_t InputSpectrumBytes() const override { return plan_.InputSpectrumBytes(); }

  absl::Status Forward(const float* x, const float* w, const float* bias, float* y,
                       const fftconv::LayerSpectra& spectra,
                       base::MemorySpan workspace) override {
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    return plan_.Forward(x, w, bias, y, spectra, workspace, stream_);
  }
  absl::Status BackwardData(const float* gy, float* gx, const fftconv::LayerSpectra& spectra,
                            base::MemorySpan workspace) override {
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    return plan_.BackwardData(gy, gx, spectra, workspace, stream_);
  }
  absl::Status BackwardFilter(const float* x, const float* gy, float* gw, float* gb,
                              const fftconv::LayerSpectra& spectra,
                              fftconv::GradOutputSpectrum gy_source,
                              base::MemorySpan workspace) override {
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    return plan_.BackwardFilter(x, gy, gw, gb, spectra, gy_source, workspace, stream_);
  }

 private:
  int ordinal_;
  cudaStream_t stream_;
  fftconv::CudaFftConvPlan plan_;
};

// A point in a CUDA backend's stream: an event, so that recording never waits.
class CudaTimingMark final : public TimingMark {
 public:
  CudaTimingMark(const Backend* owner, int ordinal, cudaStream_t stream, base::CudaEvent event)
      : owner_(owner), ordinal_(ordinal), stream_(stream), event_(std::move(event)) {}

  absl::Status Record() override {
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_RETURN_IF_ERROR(event_.RecordForTiming(stream_));
    recorded_ = true;
    return absl::OkStatus();
  }

  absl::StatusOr<double> SecondsSince(const TimingMark& earlier) const override {
    const auto* start = dynamic_cast<const CudaTimingMark*>(&earlier);
    // Events of two streams (or a host clock) measure no span of one stream's work.
    if (start == nullptr || start->owner_ != owner_) {
      return absl::InvalidArgumentError("SecondsSince: marks of different backends");
    }
    if (!recorded_ || !start->recorded_) {
      return absl::FailedPreconditionError("SecondsSince: a mark that was never recorded");
    }
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    // The later mark complete means the earlier one is too: one stream, in order.
    FFTRAIN_RETURN_IF_ERROR(event_.Synchronize());
    FFTRAIN_ASSIGN_OR_RETURN(float ms, event_.MillisecondsSince(start->event_));
    return 1e-3 * ms;
  }

 private:
  const Backend* owner_;  // identifies the backend; never dereferenced
  int ordinal_;
  cudaStream_t stream_;
  base::CudaEvent event_;
  bool recorded_ = false;
};

// A CUDA graph of the backend's work, replayed on its stream.
class CudaCapturedWork final : public CapturedWork {
 public:
  CudaCapturedWork(int ordinal, cudaStream_t stream, base::CudaGraph graph)
      : ordinal_(ordinal), stream_(stream), graph_(std::move(graph)) {}

  absl::Status Replay() override {
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    return graph_.Launch(stream_);
  }
  std::string Describe() const override {
    return absl::StrCat("a CUDA graph of ", graph_.nodes(), " nodes");
  }

 private:
  int ordinal_;
  cudaStream_t stream_;
  base::CudaGraph graph_;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(int ordinal, std::string description, size_t in_use_at_start,
              base::CudaStream stream, base::CublasHandle blas,
              std::unique_ptr<fftconv::ConvTuner> tuner)
      : ordinal_(ordinal),
        description_(std::move(description)),
        in_use_at_start_(in_use_at_start),
        stream_(std::move(stream)),
        blas_(std::move(blas)),
        tuner_(std::move(tuner)) {}

  Device device() const override { return Device::kCuda; }
  std::string Describe() const override { return absl::StrCat("cuda: ", description_); }

  absl::StatusOr<Buffer> Allocate(size_t bytes) override {
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_ASSIGN_OR_RETURN(base::DeviceBuffer memory, base::DeviceBuffer::Allocate(bytes));
    return Buffer(std::make_unique<CudaMemory>(std::move(memory), allocated_));
  }

  absl::StatusOr<MemoryUse> DeviceMemoryUse() override {
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_ASSIGN_OR_RETURN(const size_t in_use, DeviceBytesInUse());
    MemoryUse use;
    use.allocated = allocated_->now.load();
    use.peak_allocated = allocated_->peak.load();
    use.device_in_use = in_use > in_use_at_start_ ? in_use - in_use_at_start_ : 0;
    return use;
  }

  absl::StatusOr<size_t> FreeBytes() override {
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    size_t free_bytes = 0, total_bytes = 0;
    FFTRAIN_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes));
    return free_bytes;
  }

  absl::Status CopyFromHost(const void* host, void* device, size_t bytes) override {
    FFTRAIN_RETURN_IF_ERROR(CheckCopy("CopyFromHost", host, device, bytes));
    if (bytes == 0) return absl::OkStatus();
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, stream()));
    // Waiting lets the caller reuse `host` at once (pageable memory gives no such promise
    // on return from an asynchronous copy).
    return stream_.Synchronize();
  }

  absl::Status CopyToHost(const void* device, void* host, size_t bytes) override {
    FFTRAIN_RETURN_IF_ERROR(CheckCopy("CopyToHost", device, host, bytes));
    if (bytes == 0) return absl::OkStatus();
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, stream()));
    return stream_.Synchronize();
  }

  absl::Status Synchronize() override {
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    return stream_.Synchronize();
  }

  absl::Status Fill(float* dst, float value, int64_t n) override {
    FFTRAIN_RETURN_IF_ERROR(CheckElementwise("Fill", n, {{"dst", dst}}));
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_CUDA_RETURN_IF_ERROR(cuda::LaunchFill(dst, value, n, stream()));
    return absl::OkStatus();
  }

  absl::Status Scale(float* x, float alpha, int64_t n) override {
    FFTRAIN_RETURN_IF_ERROR(CheckElementwise("Scale", n, {{"x", x}}));
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_CUDA_RETURN_IF_ERROR(cuda::LaunchScale(x, alpha, n, stream()));
    return absl::OkStatus();
  }

  absl::Status ReluForward(const float* x, float* y, int64_t n) override {
    FFTRAIN_RETURN_IF_ERROR(CheckElementwise("ReluForward", n, {{"x", x}, {"y", y}}));
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_CUDA_RETURN_IF_ERROR(cuda::LaunchReluForward(x, y, n, stream()));
    return absl::OkStatus();
  }

  absl::Status ReluBackward(const float* y, const float* gy, float* gx, int64_t n) override {
    FFTRAIN_RETURN_IF_ERROR(
        CheckElementwise("ReluBackward", n, {{"y", y}, {"gy", gy}, {"gx", gx}}));
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_CUDA_RETURN_IF_ERROR(cuda::LaunchReluBackward(y, gy, gx, n, stream()));
    return absl::OkStatus();
  }

  absl::Status MaxPoolForward(const PoolDims& d, const float* x, float* y,
                              int32_t* argmax) override {
    FFTRAIN_RETURN_IF_ERROR(
        CheckPool("MaxPoolForward", d, {{"x", x}, {"y", y}, {"argmax", argmax}}));
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_CUDA_RETURN_IF_ERROR(cuda::LaunchMaxPoolForward(Geometry(d), x, y, argmax, stream()));
    return absl::OkStatus();
  }

  absl::Status MaxPoolBackward(const PoolDims& d, const float* gy, const int32_t* argmax,
                               float* gx) override {
    FFTRAIN_RETURN_IF_ERROR(
        CheckPool("MaxPoolBackward", d, {{"gy", gy}, {"argmax", argmax}, {"gx", gx}}));
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_CUDA_RETURN_IF_ERROR(
        cuda::LaunchMaxPoolBackward(Geometry(d), gy, argmax, gx, stream()));
    return absl::OkStatus();
  }

  // Row-major through column-major cuBLAS: a row-major matrix is its transpose in column
  // major, so C^T (n x m, ldc = n) = op(B)^T op(A)^T, B and A swapped.
  absl::Status Gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
                    float alpha, const float* a, const float* b, float beta, float* c) override {
    FFTRAIN_RETURN_IF_ERROR(CheckGemm(m, n, k, a, b, c));
    if (m == 0 || n == 0) return absl::OkStatus();
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    if (k == 0) {
      // The product is empty (and BLAS leading dimensions must be >= 1): C = beta * C.
      FFTRAIN_CUDA_RETURN_IF_ERROR(cuda::LaunchScale(c, beta, m * n, stream()));
      return absl::OkStatus();
    }
    const int lda = static_cast<int>(transpose_a ? m : k);
    const int ldb = static_cast<int>(transpose_b ? k : n);
    FFTRAIN_CUBLAS_RETURN_IF_ERROR(cublasSgemm(
        blas_.get(), transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N,
        transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m),
        static_cast<int>(k), &alpha, b, ldb, a, lda, &beta, c, static_cast<int>(n)));
    return absl::OkStatus();
  }

  absl::Status AddBiasToRows(float* y, const float* bias, int64_t rows, int64_t cols) override {
    FFTRAIN_RETURN_IF_ERROR(CheckMatrix("AddBiasToRows", rows, cols, {{"y", y}, {"bias", bias}}));
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_CUDA_RETURN_IF_ERROR(cuda::LaunchAddBiasToRows(y, bias, rows, cols, stream()));
    return absl::OkStatus();
  }

  absl::Status SumRows(const float* m, int64_t rows, int64_t cols, float* out) override {
    FFTRAIN_RETURN_IF_ERROR(CheckSumRows(rows, cols, m, out));
    if (cols == 0) return absl::OkStatus();
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_CUDA_RETURN_IF_ERROR(cuda::LaunchSumRows(m, rows, cols, out, stream()));
    return absl::OkStatus();
  }

  // The labels are in device memory, so they cannot be checked here without a copy and
  // a synchronisation per step; the trainer checks them on the host when it loads the
  // data, and the kernel turns a bad label into a NaN loss and a zero gradient row.
  absl::Status SoftmaxCrossEntropy(const float* logits, const int32_t* labels, int64_t batch,
                                   int64_t classes, float* grad, float* loss_per_example,
                                   int32_t* correct_per_example) override {
    FFTRAIN_RETURN_IF_ERROR(
        CheckSoftmax(batch, classes, logits, labels, grad, loss_per_example, correct_per_example));
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_CUDA_RETURN_IF_ERROR(cuda::LaunchSoftmaxCrossEntropy(
        logits, labels, batch, classes, grad, loss_per_example, correct_per_example, stream()));
    return absl::OkStatus();
  }

  absl::Status SgdMomentumStep(float* params, const float* grads, float* velocity, int64_t n,
                               const SgdHyper& hyper) override {
    FFTRAIN_RETURN_IF_ERROR(CheckSgd(n, params, grads, velocity));
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_CUDA_RETURN_IF_ERROR(cuda::LaunchSgdMomentumStep(
        params, grads, velocity, n, hyper.learning_rate, hyper.learning_rate_source,
        hyper.momentum, hyper.weight_decay, stream()));
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<ConvEngine>> CreateConv(
      const fftconv::ConvShape& shape, const fftconv::FftConvOptions& options) override {
    // The plan's cuFFT and cuBLAS handles belong to the device current now.
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    fftconv::FftConvOptions chosen = options;
    if (tuner_ != nullptr) {
      // Tuning runs its candidates on the backend's stream, before training starts.
      FFTRAIN_ASSIGN_OR_RETURN(fftconv::TunedConv tuned,
                               tuner_->Tune(shape, options.keep_input_spectrum, stream()));
      chosen = tuned.method.ToOptions(options.keep_input_spectrum);
    }
    FFTRAIN_ASSIGN_OR_RETURN(fftconv::CudaFftConvPlan plan,
                             fftconv::CudaFftConvPlan::Create(shape, chosen));
    return std::unique_ptr<ConvEngine>(
        std::make_unique<CudaConvEngine>(ordinal_, stream(), std::move(plan)));
  }

  absl::StatusOr<std::unique_ptr<TimingMark>> CreateTimingMark() override {
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    FFTRAIN_ASSIGN_OR_RETURN(base::CudaEvent event, base::CudaEvent::Create());
    return std::unique_ptr<TimingMark>(
        std::make_unique<CudaTimingMark>(this, ordinal_, stream(), std::move(event)));
  }

  void* compute_stream() const override { return stream_.get(); }

  bool CanCapture() const override { return true; }

  absl::StatusOr<std::unique_ptr<CapturedWork>> Capture(
      absl::FunctionRef<absl::Status()> enqueue) override {
    FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal_));
    absl::StatusOr<base::CudaGraph> graph = base::CudaGraph::Capture(stream(), enqueue);
    if (!graph.ok()) {
      return absl::Status(graph.status().code(),
                          absl::StrCat("capturing a CUDA graph: ", graph.status().message()));
    }
    return std::unique_ptr<CapturedWork>(
        std::make_unique<CudaCapturedWork>(ordinal_, stream(), *std::move(graph)));
  }

  absl::StatusOr<std::string> ExportTuning() override {
    if (tuner_ == nullptr) return std::string();
    return tuner_->ExportChoices();
  }

  absl::Status ImportTuning(const std::string& text) override {
    if (tuner_ == nullptr) {
      // The other rank tuned and this one does not: the ranks would run different
      // methods, so their settings differ.
      if (text.empty()) return absl::OkStatus();
      return absl::FailedPreconditionError(
          "ImportTuning: tuning choices came from another rank, but this CUDA backend does "
          "not tune (its tuning is off): every rank must use the same tuning setting");
    }
    return tuner_->ImportChoices(text);
  }

  void PushRange(const char* name) override { nvtxRangePushA(name); }
  void PopRange() override { nvtxRangePop(); }

 private:
  cudaStream_t stream() const { return stream_.get(); }

  int ordinal_;
  std::string description_;
  size_t in_use_at_start_;  // device bytes in use before this backend's stream and handles
  std::shared_ptr<AllocationCount> allocated_ = std::make_shared<AllocationCount>();
  base::CudaStream stream_;
  // Declared after stream_, so destroyed before it: the handle is bound to the stream.
  base::CublasHandle blas_;
  std::unique_ptr<fftconv::ConvTuner> tuner_;  // null: the plans' default methods
};

}  // namespace

int CudaBackendDevices(std::string* why_none) { return base::CudaDeviceCount(why_none); }

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int ordinal,
                                                           const CudaBackendOptions& options) {
  std::string why_none;
  const int count = base::CudaDeviceCount(&why_none);
  if (count == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("no CUDA device for the CUDA backend: ", why_none));
  }
  if (ordinal < 0 || ordinal >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA device ", ordinal, " does not exist; devices are 0..", count - 1));
  }
  FFTRAIN_RETURN_IF_ERROR(SelectDevice(ordinal));
  FFTRAIN_ASSIGN_OR_RETURN(std::string description, base::CurrentDeviceDescription());
  // After the description's queries have made the context: its own memory is not counted.
  FFTRAIN_ASSIGN_OR_RETURN(const size_t in_use_at_start, DeviceBytesInUse());
  FFTRAIN_ASSIGN_OR_RETURN(base::CudaStream stream, base::CudaStream::Create());
  FFTRAIN_ASSIGN_OR_RETURN(base::CublasHandle blas, base::CublasHandle::Create());
  FFTRAIN_CUBLAS_RETURN_IF_ERROR(cublasSetStream(blas.get(), stream.get()));
  // Explicitly the default: full float32 products, no TF32, so GEMM matches the CPU
  // backend to float rounding.
  FFTRAIN_CUBLAS_RETURN_IF_ERROR(cublasSetMathMode(blas.get(), CUBLAS_DEFAULT_MATH));
  std::unique_ptr<fftconv::ConvTuner> tuner;
  if (options.tuning != ConvTuning::kOff) {
    fftconv::TunerOptions tuning;
    tuning.mode = options.tuning == ConvTuning::kMeasure ? fftconv::TuningMode::kMeasure
                                                         : fftconv::TuningMode::kCostModel;
    tuning.cache_path = options.tuner_cache;
    tuning.workspace_cap = options.workspace_cap;
    // --tune=cost ranks candidates by this GPU's peaks (an H200's 4.8 TB/s rather than an
    // H100's); a GPU not in fftconv::KnownGpus gets the H100's, the tuner's default.
    tuning.peaks = fftconv::GpuPeaksForDevice(description);
    FFTRAIN_ASSIGN_OR_RETURN(fftconv::ConvTuner created, fftconv::ConvTuner::Create(tuning));
    tuner = std::make_unique<fftconv::ConvTuner>(std::move(created));
  }
  return std::unique_ptr<Backend>(std::make_unique<CudaBackend>(
      ordinal, std::move(description), in_use_at_start, std::move(stream), std::move(blas),
      std::move(tuner)));
}

}  // namespace fftrain::trainer
