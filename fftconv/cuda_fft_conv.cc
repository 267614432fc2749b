#include "fftconv/cuda_fft_conv.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cufft.h>

#include <algorithm>
#include <initializer_list>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/cuda/cublas_status.h"
#include "base/cuda/cuda_status.h"
#include "base/cuda/nvtx_range.h"
#include "base/status_macros.h"
#include "fftconv/cuda/conv_kernels.h"
#include "fftconv/cuda/batched_map_transform.h"
#include "fftconv/cuda/cufft_map_transform.h"
#include "fftconv/cuda/map_transform.h"
#include "fftconv/cuda/thin_product_kernels.h"
#include "fftconv/cuda/tf32x3_product_kernels.h"
#include "fftconv/cuda/tf32x3_wgmma_product_kernels.h"
#include "fftconv/cuda_tiled_conv.h"

namespace fftrain::fftconv {

using ::fftrain::base::AlignUp;
using ::fftrain::base::CublasHandle;
using ::fftrain::base::CudaDeviceCount;
using ::fftrain::base::CudaStreamHandle;
using ::fftrain::base::MemorySpan;
using ::fftrain::base::NvtxRange;

namespace {

// cuBLAS's own default pool size; given from our workspace so it never allocates.
constexpr size_t kCublasWorkspaceBytes = size_t{4} << 20;

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

absl::StatusOr<std::unique_ptr<MapTransform>> CreateMapTransform(TransformEngine engine,
                                                                 int64_t fft_h, int64_t fft_w,
                                                                 int64_t maps,
                                                                 SpectrumOrder order) {
  const bool batched = engine == TransformEngine::kBatchedKernels ||
                       (engine == TransformEngine::kAuto && BatchedTransformSupports(fft_h, fft_w));
  if (batched) return CreateBatchedMapTransform(fft_h, fft_w, maps, order);
  return CreateCufftMapTransform(fft_h, fft_w, maps, order);
}

}  // namespace

enum class Pass { kForward, kBackwardData, kBackwardFilter };

struct CudaFftConvPlan::Impl {
  explicit Impl(SpectralLayout l) : layout(std::move(l)) {}

  SpectralLayout layout;
  // One transform per map count; each does both directions.
  std::unique_ptr<MapTransform> input_maps, weight_maps, output_maps;
  CublasHandle blas;
  ProductEngine product = ProductEngine::kCgemm;  // never kAuto
  // Set for tiled plans, which run everything through it; layout is then its tiles'.
  std::unique_ptr<CudaTiledConv> tiled;
  size_t transform_work_bytes = 0;

  bool thin() const { return product == ProductEngine::kThin; }
  // The thin products read bins on threads; cuBLAS needs each bin's maps as a matrix.
  SpectrumOrder order() const {
    return thin() ? SpectrumOrder::kMapMajor : SpectrumOrder::kBinMajor;
  }

  size_t transform_work_offset() const { return layout.backend_offset(); }
  size_t blas_work_offset() const {
    return transform_work_offset() + AlignUp(transform_work_bytes);
  }
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
  TransformScratch Scratch(MemorySpan ws) const {
    return {reinterpret_cast<float*>(At(ws, layout.staging_offset())),
            At(ws, transform_work_offset())};
  }
  float InverseScale() const { return 1.0f / static_cast<float>(layout.real_map_elements()); }

  // Windows of the padded transform that hold each tensor's maps.
  MapWindow InputWindow() const {
    const ConvShape& s = layout.shape();
    return {s.h, s.w, s.pad_h, s.pad_w};
  }
  MapWindow WeightWindow() const { return {layout.shape().kh, layout.shape().kw, 0, 0}; }
  MapWindow OutputWindow() const { return {layout.shape().out_h(), layout.shape().out_w(), 0, 0}; }

  // One pass's products, C_b = op(A_b) op(B_b) per bin, row-major in our terms.
  struct BinProducts {
    ComplexProductDims dims;
    ComplexMatrices a, b;
    int64_t ldc = 0, stride_c = 0;
  };

  //   kForward        Y (N x K) = X (N x C) W^H     lhs X^, rhs W^, out Y^
  //   kBackwardData   GX (N x C) = GY (N x K) W     lhs GY^, rhs W^, out GX^
  //   kBackwardFilter GW (K x C) = GY^H X           lhs GY^, rhs X^, out GW^
  BinProducts ProductsOf(Pass pass, const cufftComplex* lhs, const cufftComplex* rhs) const {
    const ConvShape& s = layout.shape();
    const int64_t bins = layout.bins();
    const int64_t nc = s.n * s.c, kc = s.k * s.c, nk = s.n * s.k;
    switch (pass) {
      case Pass::kForward:
        return {{s.n, s.k, s.c, bins}, {lhs, s.c, nc, false, false}, {rhs, s.c, kc, true, true},
                s.k, nk};
      case Pass::kBackwardData:
        return {{s.n, s.c, s.k, bins}, {lhs, s.k, nk, false, false},
                {rhs, s.c, kc, false, false}, s.c, nc};
      case Pass::kBackwardFilter:
        return {{s.k, s.c, s.n, bins}, {lhs, s.k, nk, true, true}, {rhs, s.c, nc, false, false},
                s.c, kc};
    }
    return {};
  }

  // cuBLAS sees our row-major matrices as their transposes, so it computes C^T =
  // op(B)^T op(A)^T: B first, and a transposed operand is one it takes as stored.
  absl::Status CublasProducts(const BinProducts& p, cufftComplex* c, MemorySpan ws,
                              cudaStream_t stream) const {
    const auto op = [](const ComplexMatrices& m) {
      return !m.transposed ? CUBLAS_OP_N : m.conjugated ? CUBLAS_OP_C : CUBLAS_OP_T;
    };
    FFTRAIN_CUBLAS_RETURN_IF_ERROR(cublasSetStream(blas.get(), stream));
    FFTRAIN_CUBLAS_RETURN_IF_ERROR(
        cublasSetWorkspace(blas.get(), At(ws, blas_work_offset()), kCublasWorkspaceBytes));
    const cuComplex one = {1.0f, 0.0f}, zero = {0.0f, 0.0f};
    const auto gemm = product == ProductEngine::kCgemm3m ? cublasCgemm3mStridedBatched
                                                         : cublasCgemmStridedBatched;
    FFTRAIN_CUBLAS_RETURN_IF_ERROR(gemm(
        blas.get(), op(p.b), op(p.a), static_cast<int>(p.dims.n), static_cast<int>(p.dims.m),
        static_cast<int>(p.dims.k), &one, p.b.data, static_cast<int>(p.b.ld),
        p.b.batch_stride, p.a.data, static_cast<int>(p.a.ld), p.a.batch_stride, &zero, c,
        static_cast<int>(p.ldc), p.stride_c, static_cast<int>(p.dims.batch)));
    return absl::OkStatus();
  }

  // The per-frequency products of a pass, with the plan's product engine.
  absl::Status Products(Pass pass, const cufftComplex* lhs, const cufftComplex* rhs,
                        cufftComplex* out, MemorySpan ws, cudaStream_t stream) const {
    NvtxRange range("fftconv.products");
    const ConvShape& s = layout.shape();
    if (thin()) {
      const auto launch = pass == Pass::kForward        ? LaunchThinForwardProduct
                          : pass == Pass::kBackwardData ? LaunchThinBackwardDataProduct
                                                        : LaunchThinBackwardFilterProduct;
      FFTRAIN_CUDA_RETURN_IF_ERROR(launch({s.n, s.c, s.k, layout.bins()}, lhs, rhs, out, stream));
      return absl::OkStatus();
    }
    const BinProducts p = ProductsOf(pass, lhs, rhs);
    if (product == ProductEngine::kTf32x3) {
      FFTRAIN_CUDA_RETURN_IF_ERROR(
          LaunchTf32x3ComplexProduct(p.dims, p.a, p.b, out, p.ldc, p.stride_c, stream));
      return absl::OkStatus();
    }
    if (product == ProductEngine::kTf32x3Wgmma) {
      FFTRAIN_CUDA_RETURN_IF_ERROR(
          LaunchTf32x3WgmmaComplexProduct(p.dims, p.a, p.b, out, p.ldc, p.stride_c, stream));
      return absl::OkStatus();
    }
    return CublasProducts(p, out, ws, stream);
  }
};

CudaFftConvPlan::CudaFftConvPlan(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaFftConvPlan::CudaFftConvPlan(CudaFftConvPlan&&) noexcept = default;
CudaFftConvPlan& CudaFftConvPlan::operator=(CudaFftConvPlan&&) noexcept = default;
CudaFftConvPlan::~CudaFftConvPlan() = default;

absl::StatusOr<CudaFftConvPlan> CudaFftConvPlan::Create(const ConvShape& shape,
                                                        const FftConvOptions& options) {
  if (options.tiled()) {
    FFTRAIN_ASSIGN_OR_RETURN(CudaTiledConv tiled, CudaTiledConv::Create(shape, options));
    auto impl = std::make_unique<Impl>(tiled.tile_plan().layout());
    impl->tiled = std::make_unique<CudaTiledConv>(std::move(tiled));
    return CudaFftConvPlan(std::move(impl));
  }
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
  if (options.product == ProductEngine::kThin && shape.c > kMaxThinChannels) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CudaFftConvPlan: the thin products take at most ", kMaxThinChannels,
        " input channels; ", shape.ToString(), " has ", shape.c));
  }
  if (options.product == ProductEngine::kTf32x3Wgmma && !CurrentDeviceRunsTf32x3Wgmma()) {
    return absl::FailedPreconditionError(
        "CudaFftConvPlan: the tf32x3_wgmma products need a compute capability 9.0 GPU "
        "(H100, H200); use tf32x3 elsewhere");
  }
  auto impl = std::make_unique<Impl>(std::move(layout));
  impl->product = options.product == ProductEngine::kAuto ? ProductEngine::kCgemm : options.product;
  const SpectralLayout& l = impl->layout;
  const int64_t fh = l.fft_h(), fw = l.fft_w();
  for (auto [transform, maps] : {std::pair{&impl->input_maps, l.input_maps()},
                                 std::pair{&impl->weight_maps, l.weight_maps()},
                                 std::pair{&impl->output_maps, l.output_maps()}}) {
    FFTRAIN_ASSIGN_OR_RETURN(*transform,
                             CreateMapTransform(options.transform, fh, fw, maps, impl->order()));
    impl->transform_work_bytes = std::max(impl->transform_work_bytes, (*transform)->WorkBytes());
  }
  FFTRAIN_ASSIGN_OR_RETURN(impl->blas, CublasHandle::Create());
  return CudaFftConvPlan(std::move(impl));
}

const ConvShape& CudaFftConvPlan::shape() const {
  return impl_->tiled ? impl_->tiled->tiling().shape() : impl_->layout.shape();
}
const SpectralLayout& CudaFftConvPlan::layout() const { return impl_->layout; }
const ConvTiling* CudaFftConvPlan::tiling() const {
  return impl_->tiled ? &impl_->tiled->tiling() : nullptr;
}
size_t CudaFftConvPlan::WorkspaceBytes() const {
  return impl_->tiled ? impl_->tiled->WorkspaceBytes() : impl_->workspace_bytes();
}
const char* CudaFftConvPlan::transform_name() const {
  return impl_->tiled ? impl_->tiled->tile_plan().transform_name() : impl_->input_maps->name();
}
const char* CudaFftConvPlan::product_name() const {
  return impl_->tiled ? impl_->tiled->tile_plan().product_name()
                      : ProductEngineName(impl_->product);
}
std::string CudaFftConvPlan::method_name() const {
  std::string name = absl::StrCat(transform_name(), " ", layout().fft_h(), "x", layout().fft_w(),
                                  " ", product_name());
  if (tiling() != nullptr) absl::StrAppend(&name, " ", tiling()->ToString());
  return name;
}

absl::Status CudaFftConvPlan::CheckWorkspace(MemorySpan workspace) const {
  return CheckSpan(workspace, WorkspaceBytes(), "workspace");
}

// The public passes check their arguments against the layer, then run. A tiled plan runs
// its tiles' plan through the Run methods, on tensors of its own workspace, so nothing is
// checked twice on the way.

absl::Status CudaFftConvPlan::TransformWeights(const float* w, const LayerSpectra& spectra,
                                               MemorySpan workspace,
                                               CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("TransformWeights", {{"w", w}}));
  FFTRAIN_RETURN_IF_ERROR(CheckWorkspace(workspace));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(spectra.weights, WeightSpectrumBytes(),
                                    "weight spectrum (LayerSpectra::weights)"));
  return RunTransformWeights(w, spectra, workspace, stream);
}

absl::Status CudaFftConvPlan::Forward(const float* x, const float* w, const float* bias,
                                      float* y, const LayerSpectra& spectra,
                                      MemorySpan workspace, CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("Forward", {{"x", x}, {"y", y}, {"w", w}}));
  if (bias != nullptr) FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("Forward", {{"bias", bias}}));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(spectra.input, InputSpectrumBytes(),
                                    "input spectrum (LayerSpectra::input)"));
  FFTRAIN_RETURN_IF_ERROR(CheckWorkspace(workspace));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(spectra.weights, WeightSpectrumBytes(),
                                    "weight spectrum (LayerSpectra::weights)"));
  return RunForward(x, w, bias, y, spectra, workspace, stream);
}

absl::Status CudaFftConvPlan::BackwardData(const float* gy, float* gx,
                                           const LayerSpectra& spectra, MemorySpan workspace,
                                           CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("BackwardData", {{"gy", gy}, {"gx", gx}}));
  FFTRAIN_RETURN_IF_ERROR(CheckWorkspace(workspace));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(spectra.weights, WeightSpectrumBytes(),
                                    "weight spectrum (LayerSpectra::weights)"));
  return RunBackwardData(gy, gx, spectra, workspace, stream);
}

absl::Status CudaFftConvPlan::BackwardFilter(const float* x, const float* gy, float* gw,
                                             float* gb, const LayerSpectra& spectra,
                                             GradOutputSpectrum gy_source,
                                             MemorySpan workspace, CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(
      CheckDevicePointers("BackwardFilter", {{"x", x}, {"gy", gy}, {"gw", gw}}));
  if (gb != nullptr) FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("BackwardFilter", {{"gb", gb}}));
  FFTRAIN_RETURN_IF_ERROR(CheckWorkspace(workspace));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(spectra.input, InputSpectrumBytes(),
                                    "input spectrum (LayerSpectra::input)"));
  return RunBackwardFilter(x, gy, gw, gb, spectra, gy_source, workspace, stream);
}

absl::Status CudaFftConvPlan::RunTransformWeights(const float* w, const LayerSpectra& spectra,
                                                  MemorySpan workspace,
                                                  CudaStreamHandle stream) {
  if (impl_->tiled) return impl_->tiled->TransformWeights(w, spectra, workspace, stream);
  NvtxRange range("fftconv.transform_weights");
  const Impl& p = *impl_;
  return p.weight_maps->Forward(w, p.WeightWindow(),
                                static_cast<cufftComplex*>(spectra.weights.data),
                                p.Scratch(workspace), stream);
}

absl::Status CudaFftConvPlan::RunForward(const float* x, const float* w, const float* bias,
                                         float* y, const LayerSpectra& spectra,
                                         MemorySpan workspace, CudaStreamHandle stream) {
  NvtxRange range("fftconv.forward");
  if (impl_->tiled) return impl_->tiled->Forward(x, w, bias, y, spectra, workspace, stream);
  FFTRAIN_RETURN_IF_ERROR(RunTransformWeights(w, spectra, workspace, stream));
  const ConvShape& s = shape();
  const Impl& p = *impl_;
  cufftComplex* x_hat = p.layout.keep_input_spectrum()
                            ? static_cast<cufftComplex*>(spectra.input.data)
                            : p.InputRegion(workspace);
  FFTRAIN_RETURN_IF_ERROR(
      p.input_maps->Forward(x, p.InputWindow(), x_hat, p.Scratch(workspace), stream));
  FFTRAIN_RETURN_IF_ERROR(p.Products(Pass::kForward, x_hat,
                                     static_cast<const cufftComplex*>(spectra.weights.data),
                                     p.OutputRegion(workspace), workspace, stream));
  return p.output_maps->InverseAndCrop(p.OutputRegion(workspace), p.OutputWindow(),
                                       p.InverseScale(), bias, s.k, y, p.Scratch(workspace),
                                       stream);
}

absl::Status CudaFftConvPlan::RunBackwardData(const float* gy, float* gx,
                                              const LayerSpectra& spectra, MemorySpan workspace,
                                              CudaStreamHandle stream) {
  NvtxRange range("fftconv.backward_data");
  if (impl_->tiled) return impl_->tiled->BackwardData(gy, gx, spectra, workspace, stream);
  const Impl& p = *impl_;
  FFTRAIN_RETURN_IF_ERROR(p.output_maps->Forward(gy, p.OutputWindow(), p.OutputRegion(workspace),
                                                 p.Scratch(workspace), stream));
  FFTRAIN_RETURN_IF_ERROR(p.Products(Pass::kBackwardData, p.OutputRegion(workspace),
                                     static_cast<const cufftComplex*>(spectra.weights.data),
                                     p.InputRegion(workspace), workspace, stream));
  return p.input_maps->InverseAndCrop(p.InputRegion(workspace), p.InputWindow(),
                                      p.InverseScale(), nullptr, 1, gx, p.Scratch(workspace),
                                      stream);
}

absl::Status CudaFftConvPlan::RunBackwardFilter(const float* x, const float* gy, float* gw,
                                                float* gb, const LayerSpectra& spectra,
                                                GradOutputSpectrum gy_source,
                                                MemorySpan workspace, CudaStreamHandle stream) {
  NvtxRange range("fftconv.backward_filter");
  if (impl_->tiled) {
    return impl_->tiled->BackwardFilter(x, gy, gw, gb, spectra, gy_source, workspace, stream);
  }
  const ConvShape& s = shape();
  const Impl& p = *impl_;
  const cufftComplex* x_hat = p.InputRegion(workspace);
  if (p.layout.keep_input_spectrum()) {
    x_hat = static_cast<const cufftComplex*>(spectra.input.data);
  } else {
    FFTRAIN_RETURN_IF_ERROR(p.input_maps->Forward(x, p.InputWindow(), p.InputRegion(workspace),
                                                  p.Scratch(workspace), stream));
  }
  if (gy_source == GradOutputSpectrum::kTransform) {
    FFTRAIN_RETURN_IF_ERROR(p.output_maps->Forward(gy, p.OutputWindow(),
                                                   p.OutputRegion(workspace),
                                                   p.Scratch(workspace), stream));
  }
  FFTRAIN_RETURN_IF_ERROR(p.Products(Pass::kBackwardFilter, p.OutputRegion(workspace), x_hat,
                                     p.FilterRegion(workspace), workspace, stream));
  FFTRAIN_RETURN_IF_ERROR(p.weight_maps->InverseAndCrop(p.FilterRegion(workspace),
                                                        p.WeightWindow(), p.InverseScale(),
                                                        nullptr, 1, gw, p.Scratch(workspace),
                                                        stream));
  if (gb != nullptr) {
    // dL/dy's DC bins (bin 0 of each map) are its planes' sums.
    const int64_t map_stride = p.order() == SpectrumOrder::kMapMajor ? p.layout.bins() : 1;
    FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchBiasGradientFromDcBins(
        p.OutputRegion(workspace), map_stride, s.n, s.k, gb, stream));
  }
  return absl::OkStatus();
}

}  // namespace fftrain::fftconv
