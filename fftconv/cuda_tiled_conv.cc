#include "fftconv/cuda_tiled_conv.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/cuda/cuda_status.h"
#include "base/cuda/nvtx_range.h"
#include "base/status_macros.h"
#include "fftconv/cuda/tile_kernels.h"

namespace fftrain::fftconv {

using ::fftrain::base::CudaStreamHandle;
using ::fftrain::base::MemorySpan;
using ::fftrain::base::NvtxRange;

namespace {

TileDims DimsOf(const ConvTiling& t) {
  const ConvShape& s = t.shape();
  return {s.n,        s.c,        s.k,        s.h,           s.w,
          s.pad_h,    s.pad_w,    s.out_h(),  s.out_w(),     t.tile_h(),
          t.tile_w(), t.input_tile_h(), t.input_tile_w(), t.tiles_y(), t.tiles_x()};
}

}  // namespace

absl::StatusOr<CudaTiledConv> CudaTiledConv::Create(const ConvShape& shape,
                                                    const FftConvOptions& options) {
  FFTRAIN_ASSIGN_OR_RETURN(ConvTiling tiling,
                           ConvTiling::Create(shape, options.tile_h, options.tile_w));
  // The copy kernels index within a plane in 32 bits, launch a block per plane, and the
  // overlap-add one per row of dL/dx's planes (gridDim.y).
  const ConvShape tiles = tiling.TileShape();
  if (shape.h * shape.w > INT_MAX || shape.out_h() * shape.out_w() > INT_MAX ||
      tiles.n * std::max(shape.c, shape.k) > INT_MAX || shape.h > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CudaFftConvPlan: ", shape.ToString(), " with ", tiling.ToString(),
        " has planes of 2^31 elements, inputs of 65536 rows, or 2^31 tile planes; the tile copies "
        "take fewer"));
  }
  FftConvOptions tile_options = options;
  tile_options.tile_h = tile_options.tile_w = 0;
  FFTRAIN_ASSIGN_OR_RETURN(CudaFftConvPlan tile_plan,
                           CudaFftConvPlan::Create(tiles, tile_options));
  return CudaTiledConv(std::move(tiling), std::move(tile_plan));
}

size_t CudaTiledConv::WorkspaceBytes() const {
  return tiling_.WorkspaceBytes(tile_plan_.WorkspaceBytes());
}

MemorySpan CudaTiledConv::TilePlanWorkspace(MemorySpan workspace) const {
  return {workspace.data, tile_plan_.WorkspaceBytes()};
}
float* CudaTiledConv::TiledInput(MemorySpan workspace) const {
  return reinterpret_cast<float*>(static_cast<char*>(workspace.data) +
                                  tiling_.TiledInputOffset(tile_plan_.WorkspaceBytes()));
}
float* CudaTiledConv::TiledOutput(MemorySpan workspace) const {
  return reinterpret_cast<float*>(static_cast<char*>(workspace.data) +
                                  tiling_.TiledOutputOffset(tile_plan_.WorkspaceBytes()));
}

absl::Status CudaTiledConv::TransformWeights(const float* w, const LayerSpectra& spectra,
                                             MemorySpan workspace, CudaStreamHandle stream) {
  return tile_plan_.RunTransformWeights(w, spectra, TilePlanWorkspace(workspace), stream);
}

absl::Status CudaTiledConv::Forward(const float* x, const float* w, const float* bias,
                                    float* y, const LayerSpectra& spectra,
                                    MemorySpan workspace, CudaStreamHandle stream) {
  const TileDims d = DimsOf(tiling_);
  {
    NvtxRange range("fftconv.gather_tiles");
    FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchGatherInputTiles(x, d, TiledInput(workspace), stream));
  }
  FFTRAIN_RETURN_IF_ERROR(tile_plan_.RunForward(TiledInput(workspace), w, bias,
                                                TiledOutput(workspace), spectra,
                                                TilePlanWorkspace(workspace), stream));
  NvtxRange range("fftconv.scatter_tiles");
  FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchScatterOutputTiles(TiledOutput(workspace), d, y, stream));
  return absl::OkStatus();
}

absl::Status CudaTiledConv::BackwardData(const float* gy, float* gx,
                                         const LayerSpectra& spectra, MemorySpan workspace,
                                         CudaStreamHandle stream) {
  const TileDims d = DimsOf(tiling_);
  {
    NvtxRange range("fftconv.gather_tiles");
    FFTRAIN_CUDA_RETURN_IF_ERROR(
        LaunchGatherOutputTiles(gy, d, TiledOutput(workspace), stream));
  }
  FFTRAIN_RETURN_IF_ERROR(tile_plan_.RunBackwardData(TiledOutput(workspace),
                                                     TiledInput(workspace), spectra,
                                                     TilePlanWorkspace(workspace), stream));
  NvtxRange range("fftconv.overlap_add_tiles");
  FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchOverlapAddInputTiles(TiledInput(workspace), d, gx, stream));
  return absl::OkStatus();
}

absl::Status CudaTiledConv::BackwardFilter(const float* x, const float* gy, float* gw,
                                           float* gb, const LayerSpectra& spectra,
                                           GradOutputSpectrum gy_source, MemorySpan workspace,
                                           CudaStreamHandle stream) {
  const TileDims d = DimsOf(tiling_);
  {
    NvtxRange range("fftconv.gather_tiles");
    // With a kept input spectrum the tiles' plan reads X^ and never the tiles.
    if (!tile_plan_.layout().keep_input_spectrum()) {
      FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchGatherInputTiles(x, d, TiledInput(workspace), stream));
    }
    // kFromBackwardData: GY^ of the tiles is still in the tiles' plan's workspace.
    if (gy_source == GradOutputSpectrum::kTransform) {
      FFTRAIN_CUDA_RETURN_IF_ERROR(
          LaunchGatherOutputTiles(gy, d, TiledOutput(workspace), stream));
    }
  }
  return tile_plan_.RunBackwardFilter(TiledInput(workspace), TiledOutput(workspace), gw, gb,
                                      spectra, gy_source, TilePlanWorkspace(workspace),
                                      stream);
}

}  // namespace fftrain::fftconv
