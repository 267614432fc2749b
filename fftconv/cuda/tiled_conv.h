// The tiled (overlap-save) engine behind CudaFftConvPlan: gather the layer's input tiles
// into the workspace, run a whole-image engine (whole_image_conv.h) on the N*T tile
// images, and put the output tiles (or overlap-add the input-tile gradients) back into
// the layer's tensors. Weight and bias gradients need nothing more: tiles sum like
// images. Internal to fftconv: CudaFftConvPlan owns one when FftConvOptions asks for
// tiles, and has checked the arguments against the layer.
#ifndef FFTRAIN_FFTCONV_CUDA_TILED_CONV_H_
#define FFTRAIN_FFTCONV_CUDA_TILED_CONV_H_

#include <cstddef>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/cuda/cuda_resources.h"
#include "base/memory_span.h"
#include "fftconv/conv_shape.h"
#include "fftconv/conv_tiling.h"
#include "fftconv/cuda/whole_image_conv.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

class TiledConv {
 public:
  // options.tiled() must hold; the rest of the options configure the tiles' engine.
  static absl::StatusOr<TiledConv> Create(const ConvShape& shape, const FftConvOptions& options);

  const ConvTiling& tiling() const { return tiling_; }
  const WholeImageConv& tile_engine() const { return tile_engine_; }

  // The tiles' engine's workspace, then the tiled input and output tensors.
  size_t WorkspaceBytes() const;

  // The passes of CudaFftConvPlan, with its arguments already checked against the layer.
  absl::Status TransformWeights(const PassArgs& a);
  absl::Status Forward(const PassArgs& a);
  absl::Status BackwardData(const PassArgs& a);
  absl::Status BackwardFilter(const PassArgs& a);

 private:
  TiledConv(ConvTiling tiling, WholeImageConv tile_engine)
      : tiling_(std::move(tiling)), tile_engine_(std::move(tile_engine)) {}

  base::MemorySpan TileEngineWorkspace(base::MemorySpan workspace) const;
  PassArgs TileArgs(const PassArgs& a) const;
  float* TiledInput(base::MemorySpan workspace) const;
  float* TiledOutput(base::MemorySpan workspace) const;

  ConvTiling tiling_;
  WholeImageConv tile_engine_;
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_TILED_CONV_H_
