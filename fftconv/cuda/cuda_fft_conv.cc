#include "fftconv/cuda/cuda_fft_conv.h"

#include <cuda_runtime.h>

#include <initializer_list>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "base/cuda/nvtx_range.h"
#include "base/status_macros.h"
#include "fftconv/cuda/tiled_conv.h"
#include "fftconv/cuda/whole_image_conv.h"

namespace fftrain::fftconv {

using ::fftrain::base::CudaStreamHandle;
using ::fftrain::base::MemorySpan;
using ::fftrain::base::NvtxRange;

namespace {

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

// Whichever engine the options chose; both have the same passes.
struct CudaFftConvPlan::Engine {
  std::variant<WholeImageConv, TiledConv> engine;

  const WholeImageConv& whole_image() const {
    if (const auto* tiled = std::get_if<TiledConv>(&engine)) return tiled->tile_engine();
    return std::get<WholeImageConv>(engine);
  }
};

CudaFftConvPlan::CudaFftConvPlan(const ConvShape& shape, std::unique_ptr<Engine> engine)
    : shape_(shape), engine_(std::move(engine)) {}
CudaFftConvPlan::CudaFftConvPlan(CudaFftConvPlan&&) noexcept = default;
CudaFftConvPlan& CudaFftConvPlan::operator=(CudaFftConvPlan&&) noexcept = default;
CudaFftConvPlan::~CudaFftConvPlan() = default;

absl::StatusOr<CudaFftConvPlan> CudaFftConvPlan::Create(const ConvShape& shape,
                                                        const FftConvOptions& options) {
  if (options.tiled()) {
    FFTRAIN_ASSIGN_OR_RETURN(TiledConv tiled, TiledConv::Create(shape, options));
    return CudaFftConvPlan(shape, std::make_unique<Engine>(Engine{std::move(tiled)}));
  }
  FFTRAIN_ASSIGN_OR_RETURN(WholeImageConv whole, WholeImageConv::Create(shape, options));
  return CudaFftConvPlan(shape, std::make_unique<Engine>(Engine{std::move(whole)}));
}

const ConvTiling* CudaFftConvPlan::tiling() const {
  const auto* tiled = std::get_if<TiledConv>(&engine_->engine);
  return tiled != nullptr ? &tiled->tiling() : nullptr;
}
size_t CudaFftConvPlan::WorkspaceBytes() const {
  return std::visit([](const auto& engine) { return engine.WorkspaceBytes(); }, engine_->engine);
}
const SpectralLayout& CudaFftConvPlan::spectra_layout() const {
  return engine_->whole_image().layout();
}
size_t CudaFftConvPlan::WeightSpectrumBytes() const {
  return spectra_layout().WeightSpectrumBytes();
}
size_t CudaFftConvPlan::InputSpectrumBytes() const { return spectra_layout().InputSpectrumBytes(); }
const char* CudaFftConvPlan::transform_name() const {
  return engine_->whole_image().transform_name();
}
const char* CudaFftConvPlan::product_name() const { return engine_->whole_image().product_name(); }
std::string CudaFftConvPlan::method_name() const {
  const SpectralLayout& layout = spectra_layout();
  std::string name =
      absl::StrCat(transform_name(), " ", layout.fft_h(), "x", layout.fft_w(), " ", product_name());
  if (tiling() != nullptr) absl::StrAppend(&name, " ", tiling()->ToString());
  return name;
}

absl::Status CudaFftConvPlan::CheckWorkspace(MemorySpan workspace) const {
  return CheckSpan(workspace, WorkspaceBytes(), "workspace");
}
absl::Status CudaFftConvPlan::CheckWeightSpectrum(const LayerSpectra& spectra) const {
  return CheckSpan(spectra.weights, WeightSpectrumBytes(),
                   "weight spectrum (LayerSpectra::weights)");
}
absl::Status CudaFftConvPlan::CheckInputSpectrum(const LayerSpectra& spectra) const {
  return CheckSpan(spectra.input, InputSpectrumBytes(), "input spectrum (LayerSpectra::input)");
}

// The passes check their arguments against the layer once, then run the engine, which
// checks nothing more.

absl::Status CudaFftConvPlan::TransformWeights(const float* w, const LayerSpectra& spectra,
                                               MemorySpan workspace, CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("TransformWeights", {{"w", w}}));
  FFTRAIN_RETURN_IF_ERROR(CheckWorkspace(workspace));
  FFTRAIN_RETURN_IF_ERROR(CheckWeightSpectrum(spectra));
  PassArgs args = PassArgs::Of(spectra, workspace, stream);
  args.w = w;
  return std::visit([&](auto& engine) { return engine.TransformWeights(args); }, engine_->engine);
}

absl::Status CudaFftConvPlan::Forward(const float* x, const float* w, const float* bias, float* y,
                                      const LayerSpectra& spectra, MemorySpan workspace,
                                      CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("Forward", {{"x", x}, {"y", y}, {"w", w}}));
  if (bias != nullptr) FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("Forward", {{"bias", bias}}));
  FFTRAIN_RETURN_IF_ERROR(CheckInputSpectrum(spectra));
  FFTRAIN_RETURN_IF_ERROR(CheckWorkspace(workspace));
  FFTRAIN_RETURN_IF_ERROR(CheckWeightSpectrum(spectra));
  NvtxRange range("fftconv.forward");
  PassArgs args = PassArgs::Of(spectra, workspace, stream);
  args.x = x;
  args.w = w;
  args.bias = bias;
  args.y = y;
  return std::visit([&](auto& engine) { return engine.Forward(args); }, engine_->engine);
}

absl::Status CudaFftConvPlan::BackwardData(const float* gy, float* gx, const LayerSpectra& spectra,
                                           MemorySpan workspace, CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("BackwardData", {{"gy", gy}, {"gx", gx}}));
  FFTRAIN_RETURN_IF_ERROR(CheckWorkspace(workspace));
  FFTRAIN_RETURN_IF_ERROR(CheckWeightSpectrum(spectra));
  NvtxRange range("fftconv.backward_data");
  PassArgs args = PassArgs::Of(spectra, workspace, stream);
  args.gy = gy;
  args.gx = gx;
  return std::visit([&](auto& engine) { return engine.BackwardData(args); }, engine_->engine);
}

absl::Status CudaFftConvPlan::BackwardFilter(const float* x, const float* gy, float* gw, float* gb,
                                             const LayerSpectra& spectra,
                                             GradOutputSpectrum gy_source, MemorySpan workspace,
                                             CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(
      CheckDevicePointers("BackwardFilter", {{"x", x}, {"gy", gy}, {"gw", gw}}));
  if (gb != nullptr) FFTRAIN_RETURN_IF_ERROR(CheckDevicePointers("BackwardFilter", {{"gb", gb}}));
  FFTRAIN_RETURN_IF_ERROR(CheckWorkspace(workspace));
  FFTRAIN_RETURN_IF_ERROR(CheckInputSpectrum(spectra));
  NvtxRange range("fftconv.backward_filter");
  PassArgs args = PassArgs::Of(spectra, workspace, stream);
  args.x = x;
  args.gy = gy;
  args.gw = gw;
  args.gb = gb;
  args.gy_source = gy_source;
  return std::visit([&](auto& engine) { return engine.BackwardFilter(args); }, engine_->engine);
}

}  // namespace fftrain::fftconv
