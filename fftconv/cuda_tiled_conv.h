// The tiled (overlap-save) form of CudaFftConvPlan's passes: gather the layer's input
// tiles into the workspace, run a whole-image plan on the N*T tile images, and put the
// output tiles (or overlap-add the input-tile gradients) back into the layer's tensors.
// Weight and bias gradients need nothing more: tiles sum like images. CudaFftConvPlan
// owns one of these when FftConvOptions asks for tiles; it is not used on its own.
#ifndef FFTRAIN_FFTCONV_CUDA_TILED_CONV_H_
#define FFTRAIN_FFTCONV_CUDA_TILED_CONV_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/cuda/cuda_resources.h"
#include "base/memory_span.h"
#include "fftconv/conv_shape.h"
#include "fftconv/conv_tiling.h"
#include "fftconv/cuda_fft_conv.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

class CudaTiledConv {
 public:
  // options.tiled() must hold; the rest of the options configure the tiles' plan.
  static absl::StatusOr<CudaTiledConv> Create(const ConvShape& shape,
                                              const FftConvOptions& options);

  const ConvTiling& tiling() const { return tiling_; }
  const CudaFftConvPlan& tile_plan() const { return tile_plan_; }

  // The tiles' plan's workspace, then the tiled input and output tensors.
  size_t WorkspaceBytes() const;

  // The passes of CudaFftConvPlan, with its arguments already checked against the layer.
  absl::Status TransformWeights(const float* w, const LayerSpectra& spectra,
                                base::MemorySpan workspace, base::CudaStreamHandle stream);
  absl::Status Forward(const float* x, const float* w, const float* bias, float* y,
                       const LayerSpectra& spectra, base::MemorySpan workspace,
                       base::CudaStreamHandle stream);
  absl::Status BackwardData(const float* gy, float* gx, const LayerSpectra& spectra,
                            base::MemorySpan workspace, base::CudaStreamHandle stream);
  absl::Status BackwardFilter(const float* x, const float* gy, float* gw, float* gb,
                              const LayerSpectra& spectra, GradOutputSpectrum gy_source,
                              base::MemorySpan workspace, base::CudaStreamHandle stream);

 private:
  CudaTiledConv(ConvTiling tiling, CudaFftConvPlan tile_plan)
      : tiling_(std::move(tiling)), tile_plan_(std::move(tile_plan)) {}

  base::MemorySpan TilePlanWorkspace(base::MemorySpan workspace) const;
  float* TiledInput(base::MemorySpan workspace) const;
  float* TiledOutput(base::MemorySpan workspace) const;

  ConvTiling tiling_;
  CudaFftConvPlan tile_plan_;
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_TILED_CONV_H_
