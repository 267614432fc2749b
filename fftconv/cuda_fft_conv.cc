#include "fftconv/cuda_fft_conv.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cufft.h>

#include <initializer_list>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "fftconv/cuda/conv_kernels.h"
#include "fftconv/cuda/cuda_status.h"
#include "fftconv/cuda/nvtx_range.h"

namespace fftrain::fftconv {
namespace {

// cuBLAS's own default pool size; given from our workspace so it never allocates.
constexpr size_t kCublasWorkspaceBytes = size_t{4} << 20;

enum class Transform { kRealToComplex, kComplexToReal };

// A batch of `maps` fft_h x fft_w real transforms between [map][rows][cols] real maps and
// bin-major ([bin][map]) half spectra, with cuFFT's work area left to us.
absl::StatusOr<CufftPlan> MakeBatchPlan(Transform direction, int64_t fft_h, int64_t fft_w,
                                        int64_t maps, size_t* work_bytes) {
  FFTRAIN_ASSIGN_OR_RETURN(CufftPlan plan, CufftPlan::Create());
  FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftSetAutoAllocation(plan.get(), 0));
  long long n[2] = {fft_h, fft_w};
  long long real_embed[2] = {fft_h, fft_w};
  long long half_embed[2] = {fft_h, fft_w / 2 + 1};
  const long long real_dist = fft_h * fft_w;
  if (direction == Transform::kRealToComplex) {
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftMakePlanMany64(
        plan.get(), 2, n, real_embed, /*istride=*/1, real_dist, half_embed,
        /*ostride=*/maps, /*odist=*/1, CUFFT_R2C, maps, work_bytes));
  } else {
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftMakePlanMany64(
        plan.get(), 2, n, half_embed, /*istride=*/maps, /*idist=*/1, real_embed,
        /*ostride=*/1, real_dist, CUFFT_C2R, maps, work_bytes));
  }
  return plan;
}

absl::Status CheckDevicePointers(
    const char* pass, std::initializer_list<std::pair<const char*, const void*>> tensors) {
  for (const auto& [name, pointer] : tensors) {
    if (pointer == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(pass, ": tensor ", name, " is null"));
    }
    cudaPointerAttributes attributes;
    if (cudaPointerGetAttributes(&attributes, pointer) != cudaSuccess) {
      cudaGetLastError();
      return absl::InvalidArgumentError(
          absl::StrCat(pass, ": tensor ", name, " is not a valid CUDA pointer"));
    }
    if (attributes.type != cudaMemoryTypeDevice && attributes.type != cudaMemoryTypeManaged) {
      return absl::InvalidArgumentError(
          absl::StrCat(pass, ": tensor ", name, " is not in device memory"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

struct CudaFftConvPlan::Impl {
  explicit Impl(SpectralLayout l) : layout(std::move(l)) {}

  SpectralLayout layout;
  CufftPlan input_forward, weight_forward, output_forward;
  CufftPlan output_inverse, input_inverse, weight_inverse;
  CublasHandle blas;
  size_t fft_work_bytes = 0;

  size_t fft_work_offset() const { return layout.backend_offset(); }
  size_t blas_work_offset() const { return fft_work_offset() + AlignUp(fft_work_bytes); }
  size_t workspace_bytes() const { return blas_work_offset() + kCublasWorkspaceBytes; }

  char* At(MemorySpan ws, size_t offset) const { return static_cast<char*>(ws.data) + offset; }
  cufftComplex* InputRegion(MemorySpan ws) const {
    return reinterpret_cast<cufftComplex*>(At(ws, layout.input_spectrum_offset()));
  }
  cufftComplex* OutputRegion(MemorySpan ws) const {
    return reinterpret_cast<cufftComplex*>(At(ws, layout.output_spectrum_offset()));
  }
  cufftComplex* FilterRegion(MemorySpan ws) const {
    return reinterpret_cast<cufftComplex*>(At(ws, layout.filter_spectrum_offset()));
  }
  float* Staging(MemorySpan ws) const {
    return reinterpret_cast<float*>(At(ws, layout.staging_offset()));
  }

  absl::Status CheckWorkspace(MemorySpan ws) const {
    return CheckSpan(ws, workspace_bytes(), "workspace");
  }

  // Pads `count` maps of rows x cols at (top, left) into staging, then transforms them.
  absl::Status TransformMaps(const CufftPlan& plan, const float* maps, int64_t count,
                             int64_t rows, int64_t cols, int64_t top, int64_t left,
                             cufftComplex* spectrum, MemorySpan ws, cudaStream_t stream) const {
    float* staging = Staging(ws);
    FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchPadMaps(maps, count, rows, cols, top, left,
                                               layout.fft_h(), layout.fft_w(), staging,
                                               stream));
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftSetStream(plan.get(), stream));
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftSetWorkArea(plan.get(), At(ws, fft_work_offset())));
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftExecR2C(plan.get(), staging, spectrum));
    return absl::OkStatus();
  }

  // Inverse-transforms `count` spectra (destroying them) and writes the rows x cols
  // window at (top, left), scaled by 1/(fft_h*fft_w), plus bias.
  absl::Status InverseAndCrop(const CufftPlan& plan, cufftComplex* spectrum, int64_t count,
                              int64_t rows, int64_t cols, int64_t top, int64_t left,
                              const float* bias, int64_t bias_period, float* out,
                              MemorySpan ws, cudaStream_t stream) const {
    float* staging = Staging(ws);
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftSetStream(plan.get(), stream));
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftSetWorkArea(plan.get(), At(ws, fft_work_offset())));
    FFTRAIN_CUFFT_RETURN_IF_ERROR(cufftExecC2R(plan.get(), spectrum, staging));
    const float scale = 1.0f / static_cast<float>(layout.real_map_elements());
    FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchCropMaps(staging, count, layout.fft_h(),
                                                layout.fft_w(), top, left, rows, cols, scale,
                                                bias, bias_period, out, stream));
    return absl::OkStatus();
  }

  // Per frequency bin, C_b = op(A_b) * op(B_b) (column-major, as cuBLAS sees our
  // row-major matrices), for all bins in one call.
  absl::Status ProductPerBin(cublasOperation_t op_a, cublasOperation_t op_b, int64_t m,
                             int64_t n, int64_t k, const cufftComplex* a, int64_t lda,
                             int64_t stride_a, const cufftComplex* b, int64_t ldb,
                             int64_t stride_b, cufftComplex* c, int64_t ldc, int64_t stride_c,
                             MemorySpan ws, cudaStream_t stream) const {
    FFTRAIN_CUBLAS_RETURN_IF_ERROR(cublasSetStream(blas.get(), stream));
    FFTRAIN_CUBLAS_RETURN_IF_ERROR(
        cublasSetWorkspace(blas.get(), At(ws, blas_work_offset()), kCublasWorkspaceBytes));
    const cuComplex one = {1.0f, 0.0f}, zero = {0.0f, 0.0f};
    FFTRAIN_CUBLAS_RETURN_IF_ERROR(cublasCgemmStridedBatched(
        blas.get(), op_a, op_b, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
        &one, a, static_cast<int>(lda), stride_a, b, static_cast<int>(ldb), stride_b, &zero, c,
        static_cast<int>(ldc), stride_c, static_cast<int>(layout.bins())));
    return absl::OkStatus();
  }
};

CudaFftConvPlan::CudaFftConvPlan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaFftConvPlan::CudaFftConvPlan(CudaFftConvPlan&&) noexcept = default;
CudaFftConvPlan& CudaFftConvPlan::operator=(CudaFftConvPlan&&) noexcept = default;
CudaFftConvPlan::~CudaFftConvPlan() = default;

absl::StatusOr<CudaFftConvPlan> CudaFftConvPlan::Create(const ConvShape& shape,
                                                        const FftConvOptions& options) {
  FFTRAIN_ASSIGN_OR_RETURN(SpectralLayout layout, SpectralLayout::Create(shape, options));
  if (layout.max_maps() > 0x7fffffff || layout.bins() > 0x7fffffff) {
    return absl::InvalidArgumentError(
        absl::StrCat("CudaFftConvPlan: ", shape.ToString(),
                     " has more maps or bins than cuBLAS's 32-bit sizes allow"));
  }
  std::string why;
  if (CudaDeviceCount(&why) == 0) {
    return absl::FailedPreconditionError(absl::StrCat("CudaFftConvPlan: no GPU: ", why));
  }
  auto impl = std::make_unique<Impl>(std::move(layout));
  const SpectralLayout& l = impl->layout;
  const int64_t fh = l.fft_h(), fw = l.fft_w();
  size_t work = 0;
  struct {
    CufftPlan* plan;
    Transform direction;
    int64_t maps;
  } plans[] = {
      {&impl->input_forward, Transform::kRealToComplex, l.input_maps()},
      {&impl->weight_forward, Transform::kRealToComplex, l.weight_maps()},
      {&impl->output_forward, Transform::kRealToComplex, l.output_maps()},
      {&impl->output_inverse, Transform::kComplexToReal, l.output_maps()},
      {&impl->input_inverse, Transform::kComplexToReal, l.input_maps()},
      {&impl->weight_inverse, Transform::kComplexToReal, l.weight_maps()},
  };
  for (auto& p : plans) {
    FFTRAIN_ASSIGN_OR_RETURN(*p.plan, MakeBatchPlan(p.direction, fh, fw, p.maps, &work));
    impl->fft_work_bytes = std::max(impl->fft_work_bytes, work);
  }
  FFTRAIN_ASSIGN_OR_RETURN(impl->blas, CublasHandle::Create());
  return CudaFftConvPlan(std::move(impl));
}

const ConvShape& CudaFftConvPlan::shape() const { return impl_->layout.shape(); }
const SpectralLayout& CudaFftConvPlan::layout() const { return impl_->layout; }
size_t CudaFftConvPlan::WorkspaceBytes() const { return impl_->workspace_bytes(); }

absl::Status CudaFftConvPlan::TransformWeights(const float* w, const LayerSpectra& spectra,
                                               MemorySpan workspace,
                                               CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("TransformWeights", {{"w", w}}));
  FFTRAIN_RETURN_IF_ERROR(impl_->CheckWorkspace(workspace));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(spectra.weights, WeightSpectrumBytes(),
                                    "weight spectrum (LayerSpectra::weights)"));
  NvtxRange range("fftconv.transform_weights");
  const ConvShape& s = shape();
  return impl_->TransformMaps(impl_->weight_forward, w, impl_->layout.weight_maps(), s.kh,
                              s.kw, 0, 0, static_cast<cufftComplex*>(spectra.weights.data),
                              workspace, stream);
}

absl::Status CudaFftConvPlan::Forward(const float* x, const float* w, const float* bias,
                                      float* y, const LayerSpectra& spectra,
                                      MemorySpan workspace, CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("Forward", {{"x", x}, {"y", y}}));
  if (bias != nullptr) FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("Forward", {{"bias", bias}}));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(spectra.input, InputSpectrumBytes(),
                                    "input spectrum (LayerSpectra::input)"));
  NvtxRange range("fftconv.forward");
  FFTRAIN_RETURN_IF_ERROR(TransformWeights(w, spectra, workspace, stream));
  const ConvShape& s = shape();
  const Impl& p = *impl_;
  cufftComplex* x_hat = p.layout.keep_input_spectrum()
                            ? static_cast<cufftComplex*>(spectra.input.data)
                            : p.InputRegion(workspace);
  FFTRAIN_RETURN_IF_ERROR(p.TransformMaps(p.input_forward, x, p.layout.input_maps(), s.h, s.w,
                                          s.pad_h, s.pad_w, x_hat, workspace, stream));
  // Y (N x K) = X (N x C) W^H per bin; cuBLAS computes Y^T = conj(W) X^T.
  FFTRAIN_RETURN_IF_ERROR(p.ProductPerBin(
      CUBLAS_OP_C, CUBLAS_OP_N, s.k, s.n, s.c, static_cast<const cufftComplex*>(spectra.weights.data),
      s.c, s.k * s.c, x_hat, s.c, s.n * s.c, p.OutputRegion(workspace), s.k, s.n * s.k,
      workspace, stream));
  return p.InverseAndCrop(p.output_inverse, p.OutputRegion(workspace), p.layout.output_maps(),
                          s.out_h(), s.out_w(), 0, 0, bias, s.k, y, workspace, stream);
}

absl::Status CudaFftConvPlan::BackwardData(const float* gy, float* gx,
                                           const LayerSpectra& spectra, MemorySpan workspace,
                                           CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("BackwardData", {{"gy", gy}, {"gx", gx}}));
  FFTRAIN_RETURN_IF_ERROR(impl_->CheckWorkspace(workspace));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(spectra.weights, WeightSpectrumBytes(),
                                    "weight spectrum (LayerSpectra::weights)"));
  NvtxRange range("fftconv.backward_data");
  const ConvShape& s = shape();
  const Impl& p = *impl_;
  FFTRAIN_RETURN_IF_ERROR(p.TransformMaps(p.output_forward, gy, p.layout.output_maps(),
                                          s.out_h(), s.out_w(), 0, 0, p.OutputRegion(workspace),
                                          workspace, stream));
  // GX (N x C) = GY (N x K) W (K x C) per bin; cuBLAS computes GX^T = W^T GY^T.
  FFTRAIN_RETURN_IF_ERROR(p.ProductPerBin(
      CUBLAS_OP_N, CUBLAS_OP_N, s.c, s.n, s.k, static_cast<const cufftComplex*>(spectra.weights.data),
      s.c, s.k * s.c, p.OutputRegion(workspace), s.k, s.n * s.k, p.InputRegion(workspace), s.c,
      s.n * s.c, workspace, stream));
  return p.InverseAndCrop(p.input_inverse, p.InputRegion(workspace), p.layout.input_maps(), s.h,
                          s.w, s.pad_h, s.pad_w, nullptr, 1, gx, workspace, stream);
}

absl::Status CudaFftConvPlan::BackwardFilter(const float* x, const float* gy, float* gw,
                                             float* gb, const LayerSpectra& spectra,
                                             GradOutputSpectrum gy_source,
                                             MemorySpan workspace, CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(
      CheckDevicePointers("BackwardFilter", {{"x", x}, {"gy", gy}, {"gw", gw}}));
  if (gb != nullptr) FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("BackwardFilter", {{"gb", gb}}));
  FFTRAIN_RETURN_IF_ERROR(impl_->CheckWorkspace(workspace));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(spectra.input, InputSpectrumBytes(),
                                    "input spectrum (LayerSpectra::input)"));
  NvtxRange range("fftconv.backward_filter");
  const ConvShape& s = shape();
  const Impl& p = *impl_;
  const cufftComplex* x_hat = p.InputRegion(workspace);
  if (p.layout.keep_input_spectrum()) {
    x_hat = static_cast<const cufftComplex*>(spectra.input.data);
  } else {
    FFTRAIN_RETURN_IF_ERROR(p.TransformMaps(p.input_forward, x, p.layout.input_maps(), s.h,
                                            s.w, s.pad_h, s.pad_w, p.InputRegion(workspace),
                                            workspace, stream));
  }
  if (gy_source == GradOutputSpectrum::kTransform) {
    FFTRAIN_RETURN_IF_ERROR(p.TransformMaps(p.output_forward, gy, p.layout.output_maps(),
                                            s.out_h(), s.out_w(), 0, 0,
                                            p.OutputRegion(workspace), workspace, stream));
  }
  // GW (K x C) = GY^H (K x N) X (N x C) per bin; cuBLAS computes GW^T = X^T conj(GY).
  FFTRAIN_RETURN_IF_ERROR(p.ProductPerBin(CUBLAS_OP_N, CUBLAS_OP_C, s.c, s.k, s.n, x_hat, s.c,
                                          s.n * s.c, p.OutputRegion(workspace), s.k, s.n * s.k,
                                          p.FilterRegion(workspace), s.c, s.k * s.c, workspace,
                                          stream));
  FFTRAIN_RETURN_IF_ERROR(p.InverseAndCrop(p.weight_inverse, p.FilterRegion(workspace),
                                           p.layout.weight_maps(), s.kh, s.kw, 0, 0, nullptr, 1,
                                           gw, workspace, stream));
  if (gb != nullptr) {
    FFTRAIN_CUDA_RETURN_IF_ERROR(
        LaunchBiasGradient(gy, s.n, s.k, s.out_h() * s.out_w(), gb, stream));
  }
  return absl::OkStatus();
}

}  // namespace fftrain::fftconv
