#include "fftconv/cuda/whole_image_conv.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cufft.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/cuda/cublas_status.h"
#include "base/cuda/cuda_status.h"
#include "base/cuda/nvtx_range.h"
#include "base/status_macros.h"
#include "fftconv/cuda/batched_map_transform.h"
#include "fftconv/cuda/kernels/conv_kernels.h"
#include "fftconv/cuda/cufft_map_transform.h"
#include "fftconv/cuda/map_transform.h"
#include "fftconv/cuda/kernels/tf32x3_product_kernels.h"
#include "fftconv/cuda/kernels/tf32x3_wgmma_product_kernels.h"
#include "fftconv/cuda/kernels/thin_product_kernels.h"

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

absl::StatusOr<std::unique_ptr<MapTransform>> CreateMapTransform(TransformEngine engine,
                                                                 int64_t fft_h, int64_t fft_w,
                                                                 int64_t maps,
                                                                 SpectrumOrder order) {
  const bool batched = engine == TransformEngine::kBatchedKernels ||
                       (engine == TransformEngine::kAuto && BatchedTransformSupports(fft_h, fft_w));
  if (batched) return CreateBatchedMapTransform(fft_h, fft_w, maps, order);
  return CreateCufftMapTransform(fft_h, fft_w, maps, order);
}

enum class Pass { kForward, kBackwardData, kBackwardFilter };

}  // namespace

struct WholeImageConv::Impl {
  explicit Impl(SpectralLayout l) : layout(std::move(l)) {}

  SpectralLayout layout;
  // One transform per map count; each does both directions.
  std::unique_ptr<MapTransform> input_maps, weight_maps, output_maps;
  CublasHandle blas;
  ProductEngine product = ProductEngine::kCgemm;  // never kAuto
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
        return {{s.n, s.k, s.c, bins},
                {lhs, s.c, nc, false, false},
                {rhs, s.c, kc, true, true},
                s.k,
                nk};
      case Pass::kBackwardData:
        return {{s.n, s.c, s.k, bins},
                {lhs, s.k, nk, false, false},
                {rhs, s.c, kc, false, false},
                s.c,
                nc};
      case Pass::kBackwardFilter:
        return {{s.k, s.c, s.n, bins},
                {lhs, s.k, nk, true, true},
                {rhs, s.c, nc, false, false},
                s.c,
                kc};
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
    FFTRAIN_CUBLAS_RETURN_IF_ERROR(
        gemm(blas.get(), op(p.b), op(p.a), static_cast<int>(p.dims.n), static_cast<int>(p.dims.m),
             static_cast<int>(p.dims.k), &one, p.b.data, static_cast<int>(p.b.ld), p.b.batch_stride,
             p.a.data, static_cast<int>(p.a.ld), p.a.batch_stride, &zero, c,
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

WholeImageConv::WholeImageConv(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WholeImageConv::WholeImageConv(WholeImageConv&&) noexcept = default;
WholeImageConv& WholeImageConv::operator=(WholeImageConv&&) noexcept = default;
WholeImageConv::~WholeImageConv() = default;

absl::StatusOr<WholeImageConv> WholeImageConv::Create(const ConvShape& shape,
                                                      const FftConvOptions& options) {
  if (options.tiled()) {
    return absl::InternalError("WholeImageConv::Create: tiled options (TiledConv's to run)");
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
    return absl::InvalidArgumentError(
        absl::StrCat("CudaFftConvPlan: the thin products take at most ", kMaxThinChannels,
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
  return WholeImageConv(std::move(impl));
}

const SpectralLayout& WholeImageConv::layout() const { return impl_->layout; }
size_t WholeImageConv::WorkspaceBytes() const { return impl_->workspace_bytes(); }
const char* WholeImageConv::transform_name() const { return impl_->input_maps->name(); }
const char* WholeImageConv::product_name() const { return ProductEngineName(impl_->product); }

absl::Status WholeImageConv::TransformWeights(const PassArgs& a) {
  NvtxRange range("fftconv.transform_weights");
  const Impl& p = *impl_;
  return p.weight_maps->Forward(a.w, p.WeightWindow(),
                                static_cast<cufftComplex*>(a.spectra.weights.data),
                                p.Scratch(a.workspace), a.stream);
}

absl::Status WholeImageConv::Forward(const PassArgs& a) {
  FFTRAIN_RETURN_IF_ERROR(TransformWeights(a));
  const ConvShape& s = impl_->layout.shape();
  const Impl& p = *impl_;
  cufftComplex* x_hat = p.layout.keep_input_spectrum()
                            ? static_cast<cufftComplex*>(a.spectra.input.data)
                            : p.InputRegion(a.workspace);
  FFTRAIN_RETURN_IF_ERROR(
      p.input_maps->Forward(a.x, p.InputWindow(), x_hat, p.Scratch(a.workspace), a.stream));
  FFTRAIN_RETURN_IF_ERROR(p.Products(Pass::kForward, x_hat,
                                     static_cast<const cufftComplex*>(a.spectra.weights.data),
                                     p.OutputRegion(a.workspace), a.workspace, a.stream));
  return p.output_maps->InverseAndCrop(p.OutputRegion(a.workspace), p.OutputWindow(),
                                       p.InverseScale(), a.bias, s.k, a.y, p.Scratch(a.workspace),
                                       a.stream);
}

absl::Status WholeImageConv::BackwardData(const PassArgs& a) {
  const Impl& p = *impl_;
  FFTRAIN_RETURN_IF_ERROR(p.output_maps->Forward(
      a.gy, p.OutputWindow(), p.OutputRegion(a.workspace), p.Scratch(a.workspace), a.stream));
  FFTRAIN_RETURN_IF_ERROR(p.Products(Pass::kBackwardData, p.OutputRegion(a.workspace),
                                     static_cast<const cufftComplex*>(a.spectra.weights.data),
                                     p.InputRegion(a.workspace), a.workspace, a.stream));
  return p.input_maps->InverseAndCrop(p.InputRegion(a.workspace), p.InputWindow(), p.InverseScale(),
                                      nullptr, 1, a.gx, p.Scratch(a.workspace), a.stream);
}

absl::Status WholeImageConv::BackwardFilter(const PassArgs& a) {
  const ConvShape& s = impl_->layout.shape();
  const Impl& p = *impl_;
  const cufftComplex* x_hat = p.InputRegion(a.workspace);
  if (p.layout.keep_input_spectrum()) {
    x_hat = static_cast<const cufftComplex*>(a.spectra.input.data);
  } else {
    FFTRAIN_RETURN_IF_ERROR(p.input_maps->Forward(a.x, p.InputWindow(), p.InputRegion(a.workspace),
                                                  p.Scratch(a.workspace), a.stream));
  }
  if (a.gy_source == GradOutputSpectrum::kTransform) {
    FFTRAIN_RETURN_IF_ERROR(p.output_maps->Forward(
        a.gy, p.OutputWindow(), p.OutputRegion(a.workspace), p.Scratch(a.workspace), a.stream));
  }
  FFTRAIN_RETURN_IF_ERROR(p.Products(Pass::kBackwardFilter, p.OutputRegion(a.workspace), x_hat,
                                     p.FilterRegion(a.workspace), a.workspace, a.stream));
  FFTRAIN_RETURN_IF_ERROR(p.weight_maps->InverseAndCrop(p.FilterRegion(a.workspace),
                                                        p.WeightWindow(), p.InverseScale(), nullptr,
                                                        1, a.gw, p.Scratch(a.workspace), a.stream));
  if (a.gb != nullptr) {
    // dL/dy's DC bins (bin 0 of each map) are its planes' sums.
    const int64_t map_stride = p.order() == SpectrumOrder::kMapMajor ? p.layout.bins() : 1;
    FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchBiasGradientFromDcBins(
        p.OutputRegion(a.workspace), map_stride, s.n, s.k, a.gb, a.stream));
  }
  return absl::OkStatus();
}

}  // namespace fftrain::fftconv
