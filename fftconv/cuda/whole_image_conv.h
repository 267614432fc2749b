// The whole-image engine behind CudaFftConvPlan (fftconv/cuda/cuda_fft_conv.h): the paper's
// three passes as batched real transforms (our kernels or cuFFT), per-frequency products
// (cuBLAS's CGEMM or CGEMM3M, our thin or tf32x3 kernels) and inverse transforms, on
// arguments the plan has already checked. Internal to fftconv: the plan runs one on the
// layer's images, or TiledConv (fftconv/cuda/tiled_conv.h) runs one on its tile images.
// Plain C++ header: no CUDA includes.
#ifndef FFTRAIN_FFTCONV_CUDA_WHOLE_IMAGE_CONV_H_
#define FFTRAIN_FFTCONV_CUDA_WHOLE_IMAGE_CONV_H_

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/cuda/cuda_resources.h"
#include "base/memory_span.h"
#include "fftconv/conv_shape.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

// One pass's arguments, as CudaFftConvPlan has checked them and its engines take them;
// each pass reads the fields its CudaFftConvPlan namesake takes.
struct PassArgs {
  const float* x = nullptr;     // the layer's input
  const float* w = nullptr;     // its weights
  const float* bias = nullptr;  // Forward's bias (may be null)
  float* y = nullptr;           // Forward's output
  const float* gy = nullptr;    // dL/dy
  float* gx = nullptr;          // BackwardData's dL/dx
  float* gw = nullptr;          // BackwardFilter's dL/dw
  float* gb = nullptr;          // BackwardFilter's dL/dbias (may be null)
  LayerSpectra spectra;
  GradOutputSpectrum gy_source = GradOutputSpectrum::kTransform;  // BackwardFilter's
  base::MemorySpan workspace;
  base::CudaStreamHandle stream = nullptr;

  // What every pass takes; the pass's tensors are set after.
  static PassArgs Of(const LayerSpectra& spectra, base::MemorySpan workspace,
                     base::CudaStreamHandle stream) {
    PassArgs args;
    args.spectra = spectra;
    args.workspace = workspace;
    args.stream = stream;
    return args;
  }
};

class WholeImageConv {
 public:
  // options.tiled() must not hold (TiledConv takes the tiles off first).
  static absl::StatusOr<WholeImageConv> Create(const ConvShape& shape,
                                               const FftConvOptions& options);
  WholeImageConv(WholeImageConv&&) noexcept;
  WholeImageConv& operator=(WholeImageConv&&) noexcept;
  ~WholeImageConv();

  const SpectralLayout& layout() const;
  // The layout's regions plus cuFFT's work area and cuBLAS's workspace.
  size_t WorkspaceBytes() const;
  const char* transform_name() const;  // "cufft" or "batched"
  const char* product_name() const;    // ProductEngineName of the product chosen

  // CudaFftConvPlan's passes (see there), on checked arguments.
  absl::Status TransformWeights(const PassArgs& a);
  absl::Status Forward(const PassArgs& a);
  absl::Status BackwardData(const PassArgs& a);
  absl::Status BackwardFilter(const PassArgs& a);

 private:
  struct Impl;
  explicit WholeImageConv(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_WHOLE_IMAGE_CONV_H_
