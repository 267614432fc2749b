#include "fftconv/cuda/tiled_conv.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/cuda/cuda_status.h"
#include "base/cuda/nvtx_range.h"
#include "base/status_macros.h"
#include "fftconv/cuda/kernels/tile_kernels.h"

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

absl::StatusOr<TiledConv> TiledConv::Create(const ConvShape& shape, const FftConvOptions& options) {
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
  FFTRAIN_ASSIGN_OR_RETURN(WholeImageConv tile_engine, WholeImageConv::Create(tiles, tile_options));
  return TiledConv(std::move(tiling), std::move(tile_engine));
}

size_t TiledConv::WorkspaceBytes() const {
  return tiling_.WorkspaceBytes(tile_engine_.WorkspaceBytes());
}

MemorySpan TiledConv::TileEngineWorkspace(MemorySpan workspace) const {
  return {workspace.data, tile_engine_.WorkspaceBytes()};
}
float* TiledConv::TiledInput(MemorySpan workspace) const {
  return reinterpret_cast<float*>(static_cast<char*>(workspace.data) +
                                  tiling_.TiledInputOffset(tile_engine_.WorkspaceBytes()));
}
float* TiledConv::TiledOutput(MemorySpan workspace) const {
  return reinterpret_cast<float*>(static_cast<char*>(workspace.data) +
                                  tiling_.TiledOutputOffset(tile_engine_.WorkspaceBytes()));
}

// The tiles' engine's arguments: the same pass on the tiled tensors in the workspace, with
// the engine's share of the workspace.
PassArgs TiledConv::TileArgs(const PassArgs& a) const {
  PassArgs tiles = a;
  tiles.x = TiledInput(a.workspace);
  tiles.y = TiledOutput(a.workspace);
  tiles.gy = TiledOutput(a.workspace);
  tiles.gx = TiledInput(a.workspace);
  tiles.workspace = TileEngineWorkspace(a.workspace);
  return tiles;
}

absl::Status TiledConv::TransformWeights(const PassArgs& a) {
  PassArgs tiles = a;
  tiles.workspace = TileEngineWorkspace(a.workspace);
  return tile_engine_.TransformWeights(tiles);
}

absl::Status TiledConv::Forward(const PassArgs& a) {
  const TileDims d = DimsOf(tiling_);
  {
    NvtxRange range("fftconv.gather_tiles");
    FFTRAIN_CUDA_RETURN_IF_ERROR(LaunchGatherInputTiles(a.x, d, TiledInput(a.workspace), a.stream));
  }
  FFTRAIN_RETURN_IF_ERROR(tile_engine_.Forward(TileArgs(a)));
  NvtxRange range("fftconv.scatter_tiles");
  FFTRAIN_CUDA_RETURN_IF_ERROR(
      LaunchScatterOutputTiles(TiledOutput(a.workspace), d, a.y, a.stream));
  return absl::OkStatus();
}

absl::Status TiledConv::BackwardData(const PassArgs& a) {
  const TileDims d = DimsOf(tiling_);
  {
    NvtxRange range("fftconv.gather_tiles");
    FFTRAIN_CUDA_RETURN_IF_ERROR(
        LaunchGatherOutputTiles(a.gy, d, TiledOutput(a.workspace), a.stream));
  }
  FFTRAIN_RETURN_IF_ERROR(tile_engine_.BackwardData(TileArgs(a)));
  NvtxRange range("fftconv.overlap_add_tiles");
  FFTRAIN_CUDA_RETURN_IF_ERROR(
      LaunchOverlapAddInputTiles(TiledInput(a.workspace), d, a.gx, a.stream));
  return absl::OkStatus();
}

absl::Status TiledConv::BackwardFilter(const PassArgs& a) {
  const TileDims d = DimsOf(tiling_);
  {
    NvtxRange range("fftconv.gather_tiles");
    // With a kept input spectrum the tiles' engine reads X^ and never the tiles.
    if (!tile_engine_.layout().keep_input_spectrum()) {
      FFTRAIN_CUDA_RETURN_IF_ERROR(
          LaunchGatherInputTiles(a.x, d, TiledInput(a.workspace), a.stream));
    }
    // kFromBackwardData: GY^ of the tiles is still in the tiles' engine's workspace.
    if (a.gy_source == GradOutputSpectrum::kTransform) {
      FFTRAIN_CUDA_RETURN_IF_ERROR(
          LaunchGatherOutputTiles(a.gy, d, TiledOutput(a.workspace), a.stream));
    }
  }
  // The weight and bias gradients are the layer's: tiles sum like images.
  return tile_engine_.BackwardFilter(TileArgs(a));
}

}  // namespace fftrain::fftconv
