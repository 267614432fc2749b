// The CPU backend: plain loops for the layer kernels, OpenBLAS for GEMM, fftconv's FFTW
// plan for convolutions. Every reduction runs sequentially in double, so results are
// bitwise reproducible and serve as the reference the CUDA backend is tested against.
#include <cblas.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/host_buffer.h"
#include "base/status_macros.h"
#include "base/system_memory.h"
#include "fftconv/cpu/cpu_fft_conv.h"
#include "trainer/backend/backend.h"
#include "trainer/backend/op_checks.h"

namespace fftrain::trainer {
namespace {

using internal::CheckCopy;
using internal::CheckElementwise;
using internal::CheckGemm;
using internal::CheckLabels;
using internal::CheckMatrix;
using internal::CheckPool;
using internal::CheckSgd;
using internal::CheckSoftmax;
using internal::CheckSumRows;

// MemAvailable (free memory plus the reclaimable page cache) within the cgroup's limit:
// sysconf's free pages alone leave out the cache and would refuse what fits.
absl::StatusOr<size_t> AvailablePhysicalBytes() {
  FFTRAIN_ASSIGN_OR_RETURN(const uint64_t bytes, base::AvailableHostMemoryBytes());
  return static_cast<size_t>(bytes);
}

class CpuConvEngine final : public ConvEngine {
 public:
  explicit CpuConvEngine(fftconv::CpuFftConvPlan plan) : plan_(std::move(plan)) {}

  std::string method() const override {
    return absl::StrCat("fftw ", plan_.layout().fft_h(), "x", plan_.layout().fft_w());
  }
  size_t WorkspaceBytes() const override { return plan_.WorkspaceBytes(); }
  size_t WeightSpectrumBytes() const override { return plan_.WeightSpectrumBytes(); }
  size_t InputSpectrumBytes() const override { return plan_.InputSpectrumBytes(); }

  absl::Status Forward(const float* x, const float* w, const float* bias, float* y,
                       const fftconv::LayerSpectra& spectra,
                       base::MemorySpan workspace) override {
    return plan_.Forward(x, w, bias, y, spectra, workspace);
  }
  absl::Status BackwardData(const float* gy, float* gx, const fftconv::LayerSpectra& spectra,
                            base::MemorySpan workspace) override {
    return plan_.BackwardData(gy, gx, spectra, workspace);
  }
  absl::Status BackwardFilter(const float* x, const float* gy, float* gw, float* gb,
                              const fftconv::LayerSpectra& spectra,
                              fftconv::GradOutputSpectrum gy_source,
                              base::MemorySpan workspace) override {
    return plan_.BackwardFilter(x, gy, gw, gb, spectra, gy_source, workspace);
  }

 private:
  fftconv::CpuFftConvPlan plan_;
};

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::kCpu; }
  std::string Describe() const override { return "cpu (FFTW + OpenBLAS)"; }

  absl::StatusOr<Buffer> Allocate(size_t bytes) override {
    absl::StatusOr<base::HostBuffer> host = base::HostBuffer::Allocate(bytes);
    if (!host.ok()) {
      // HostBuffer names the size; the interface promises the free memory too.
      const absl::StatusOr<size_t> free_bytes = AvailablePhysicalBytes();
      return absl::ResourceExhaustedError(
          absl::StrCat(host.status().message(), "; ",
                       free_bytes.ok() ? absl::StrCat(*free_bytes) : std::string("unknown"),
                       " bytes of physical memory available"));
    }
    return Buffer(std::move(host).value());
  }

  absl::StatusOr<size_t> FreeBytes() override { return AvailablePhysicalBytes(); }

  absl::Status CopyFromHost(const void* host, void* device, size_t bytes) override {
    FFTRAIN_RETURN_IF_ERROR(CheckCopy("CopyFromHost", host, device, bytes));
    if (bytes > 0) std::memmove(device, host, bytes);
    return absl::OkStatus();
  }

  absl::Status CopyToHost(const void* device, void* host, size_t bytes) override {
    FFTRAIN_RETURN_IF_ERROR(CheckCopy("CopyToHost", device, host, bytes));
    if (bytes > 0) std::memmove(host, device, bytes);
    return absl::OkStatus();
  }

  // Every operation has finished when it returns.
  absl::Status Synchronize() override { return absl::OkStatus(); }

  absl::Status Fill(float* dst, float value, int64_t n) override {
    FFTRAIN_RETURN_IF_ERROR(CheckElementwise("Fill", n, {{"dst", dst}}));
    for (int64_t i = 0; i < n; ++i) dst[i] = value;
    return absl::OkStatus();
  }

  absl::Status Scale(float* x, float alpha, int64_t n) override {
    FFTRAIN_RETURN_IF_ERROR(CheckElementwise("Scale", n, {{"x", x}}));
    for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
    return absl::OkStatus();
  }

  absl::Status ReluForward(const float* x, float* y, int64_t n) override {
    FFTRAIN_RETURN_IF_ERROR(CheckElementwise("ReluForward", n, {{"x", x}, {"y", y}}));
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return absl::OkStatus();
  }

  absl::Status ReluBackward(const float* y, const float* gy, float* gx, int64_t n) override {
    FFTRAIN_RETURN_IF_ERROR(
        CheckElementwise("ReluBackward", n, {{"y", y}, {"gy", gy}, {"gx", gx}}));
    for (int64_t i = 0; i < n; ++i) gx[i] = y[i] > 0.0f ? gy[i] : 0.0f;
    return absl::OkStatus();
  }

  absl::Status MaxPoolForward(const PoolDims& d, const float* x, float* y,
                              int32_t* argmax) override {
    FFTRAIN_RETURN_IF_ERROR(
        CheckPool("MaxPoolForward", d, {{"x", x}, {"y", y}, {"argmax", argmax}}));
    const int64_t planes = d.n * d.c;
    int64_t out = 0;
    for (int64_t plane = 0; plane < planes; ++plane) {
      const int64_t base = plane * d.h * d.w;
      for (int64_t i = 0; i < d.out_h; ++i) {
        for (int64_t j = 0; j < d.out_w; ++j, ++out) {
          int64_t best = base + i * d.stride * d.w + j * d.stride;
          for (int64_t u = 0; u < d.window; ++u) {
            for (int64_t v = 0; v < d.window; ++v) {
              const int64_t at = base + (i * d.stride + u) * d.w + j * d.stride + v;
              // Strictly greater: ties keep the first in row-major order.
              if (x[at] > x[best]) best = at;
            }
          }
          y[out] = x[best];
          argmax[out] = static_cast<int32_t>(best);
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status MaxPoolBackward(const PoolDims& d, const float* gy, const int32_t* argmax,
                               float* gx) override {
    FFTRAIN_RETURN_IF_ERROR(
        CheckPool("MaxPoolBackward", d, {{"gy", gy}, {"argmax", argmax}, {"gx", gx}}));
    const int64_t planes = d.n * d.c;
    // The CUDA backend gathers each gx element from the windows that contain it, which
    // ignores an argmax outside its window; refusing those here keeps the two equal (and
    // keeps the scatter below in bounds).
    int64_t out = 0;
    for (int64_t plane = 0; plane < planes; ++plane) {
      for (int64_t i = 0; i < d.out_h; ++i) {
        for (int64_t j = 0; j < d.out_w; ++j, ++out) {
          const int64_t a = argmax[out];
          const int64_t r = (a / d.w) % d.h, q = a % d.w;
          if (a < 0 || a / (d.h * d.w) != plane || r < i * d.stride ||
              r >= i * d.stride + d.window || q < j * d.stride || q >= j * d.stride + d.window) {
            return absl::InvalidArgumentError(absl::StrCat(
                "MaxPoolBackward: argmax ", a, " of output ", out, " is outside its window"));
          }
        }
      }
    }
    std::fill(gx, gx + planes * d.h * d.w, 0.0f);
    // Ascending output order: the order in which the CUDA gather adds, so both backends
    // round the same way.
    const int64_t outputs = planes * d.out_h * d.out_w;
    for (int64_t o = 0; o < outputs; ++o) gx[argmax[o]] += gy[o];
    return absl::OkStatus();
  }

  absl::Status Gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
                    float alpha, const float* a, const float* b, float beta, float* c) override {
    FFTRAIN_RETURN_IF_ERROR(CheckGemm(m, n, k, a, b, c));
    if (m == 0 || n == 0) return absl::OkStatus();
    if (k == 0) {
      // BLAS's leading-dimension rules reject k = 0 on some paths; the product is empty,
      // so C = beta * C, with beta = 0 overwriting (BLAS's convention: C may hold NaN).
      for (int64_t i = 0; i < m * n; ++i) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
      return absl::OkStatus();
    }
    const int lda = static_cast<int>(transpose_a ? m : k);
    const int ldb = static_cast<int>(transpose_b ? k : n);
    cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans,
                transpose_b ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), alpha, a, lda, b, ldb, beta, c, static_cast<int>(n));
    return absl::OkStatus();
  }

  absl::Status AddBiasToRows(float* y, const float* bias, int64_t rows, int64_t cols) override {
    FFTRAIN_RETURN_IF_ERROR(CheckMatrix("AddBiasToRows", rows, cols, {{"y", y}, {"bias", bias}}));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) y[r * cols + c] += bias[c];
    }
    return absl::OkStatus();
  }

  absl::Status SumRows(const float* m, int64_t rows, int64_t cols, float* out) override {
    FFTRAIN_RETURN_IF_ERROR(CheckSumRows(rows, cols, m, out));
    if (cols == 0) return absl::OkStatus();
    std::vector<double> sums(cols, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) sums[c] += m[r * cols + c];
    }
    for (int64_t c = 0; c < cols; ++c) out[c] = static_cast<float>(sums[c]);
    return absl::OkStatus();
  }

  absl::Status SoftmaxCrossEntropy(const float* logits, const int32_t* labels, int64_t batch,
                                   int64_t classes, float* grad, float* loss_per_example,
                                   int32_t* correct_per_example) override {
    FFTRAIN_RETURN_IF_ERROR(
        CheckSoftmax(batch, classes, logits, labels, grad, loss_per_example, correct_per_example));
    {
      absl::Status labels_ok = CheckLabels(labels, batch, classes);
      if (!labels_ok.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("SoftmaxCrossEntropy: ", labels_ok.message()));
      }
    }
    for (int64_t row = 0; row < batch; ++row) {
      const float* x = logits + row * classes;
      float* g = grad + row * classes;
      const int64_t label = labels[row];
      int64_t arg = 0;
      for (int64_t j = 1; j < classes; ++j) {
        if (x[j] > x[arg]) arg = j;
      }
      const float max = x[arg];
      // Shifting by the maximum keeps every exponent <= 0: no overflow for any logits,
      // and the largest term is exactly 1, so the sum is >= 1 and its log is finite.
      double sum = 0.0;
      for (int64_t j = 0; j < classes; ++j) sum += std::exp(static_cast<double>(x[j] - max));
      loss_per_example[row] =
          static_cast<float>(std::log(sum) - static_cast<double>(x[label] - max));
      correct_per_example[row] = arg == label ? 1 : 0;
      for (int64_t j = 0; j < classes; ++j) {
        const double p = std::exp(static_cast<double>(x[j] - max)) / sum;
        g[j] = static_cast<float>((p - (j == label ? 1.0 : 0.0)) / static_cast<double>(batch));
      }
    }
    return absl::OkStatus();
  }

  absl::Status SgdMomentumStep(float* params, const float* grads, float* velocity, int64_t n,
                               const SgdHyper& hyper) override {
    FFTRAIN_RETURN_IF_ERROR(CheckSgd(n, params, grads, velocity));
    // This backend's memory is the host's: the source is read where it lies.
    const float learning_rate = hyper.learning_rate_source != nullptr
                                    ? *hyper.learning_rate_source
                                    : hyper.learning_rate;
    // One float rounding per operation, in this order; the CUDA kernel uses the same
    // sequence (no fused multiply-add), so the backends agree bitwise.
    for (int64_t i = 0; i < n; ++i) {
      const float decayed = hyper.weight_decay * params[i];
      const float g = grads[i] + decayed;
      const float kept = hyper.momentum * velocity[i];
      const float v = kept + g;
      velocity[i] = v;
      const float step = learning_rate * v;
      params[i] = params[i] - step;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<ConvEngine>> CreateConv(
      const fftconv::ConvShape& shape, const fftconv::FftConvOptions& options) override {
    FFTRAIN_ASSIGN_OR_RETURN(fftconv::CpuFftConvPlan plan,
                             fftconv::CpuFftConvPlan::Create(shape, options));
    return std::unique_ptr<ConvEngine>(std::make_unique<CpuConvEngine>(std::move(plan)));
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> CreateCpuBackend() {
  return std::unique_ptr<Backend>(std::make_unique<CpuBackend>());
}

}  // namespace fftrain::trainer
