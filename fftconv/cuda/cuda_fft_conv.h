// The paper's three passes on an NVIDIA GPU: batched real transforms (our kernels, or
// cuFFT with its work area in our workspace), per-frequency products (cuBLAS's
// strided-batched CGEMM or CGEMM3M, or our thin and tf32x3 kernels), on whole images or
// on overlap-save tiles. fftconv's public CUDA API. Plain C++ header: no CUDA includes.
#ifndef FFTRAIN_FFTCONV_CUDA_CUDA_FFT_CONV_H_
#define FFTRAIN_FFTCONV_CUDA_CUDA_FFT_CONV_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/cuda/cuda_resources.h"
#include "base/memory_span.h"
#include "fftconv/conv_shape.h"
#include "fftconv/conv_tiling.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

// One plan per layer shape, on the device current at Create. Same contract as
// CpuFftConvPlan (see there for the step's call order), plus a stream per call: the
// passes only enqueue work on it, never allocate and never synchronise. Tensors,
// workspace and spectra are device memory. A plan may serve one stream at a time (its
// cuFFT and cuBLAS handles are bound to the stream of the call).
//
// The plan checks every argument against the layer once, then hands the pass to its
// engine: a whole-image one (fftconv/cuda/whole_image_conv.h), or with tiles in the
// options the overlap-save one (fftconv/cuda/tiled_conv.h), which runs a whole-image
// engine on its tile images. Everything here describes the layer; the tiles show only in
// tiling() and the method's name.
class CudaFftConvPlan {
 public:
  static absl::StatusOr<CudaFftConvPlan> Create(const ConvShape& shape,
                                                const FftConvOptions& options = {});
  CudaFftConvPlan(CudaFftConvPlan&&) noexcept;
  CudaFftConvPlan& operator=(CudaFftConvPlan&&) noexcept;
  ~CudaFftConvPlan();

  // The layer's shape.
  const ConvShape& shape() const { return shape_; }
  // The tiling of a tiled plan (FftConvOptions::tile_h, tile_w), else null.
  const ConvTiling* tiling() const;
  // Everything the passes need besides the tensors and spectra: the transforms' regions,
  // cuFFT's work area, cuBLAS's workspace, and a tiled plan's tile tensors.
  size_t WorkspaceBytes() const;
  // The spectra a caller keeps between passes (LayerSpectra), sized for the transforms
  // the plan runs: a tiled plan's hold its N*T tile images' spectra.
  size_t WeightSpectrumBytes() const;
  size_t InputSpectrumBytes() const;
  // The transform engine chosen: "cufft" or "batched".
  const char* transform_name() const;
  // The product variant chosen: "cgemm", "cgemm3m", "thin", "tf32x3" or
  // "tf32x3_wgmma".
  const char* product_name() const;
  // "batched 16x16 cgemm", with " tiles 14x14 (4x4)" for a tiled plan.
  std::string method_name() const;

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
  struct Engine;
  CudaFftConvPlan(const ConvShape& shape, std::unique_ptr<Engine> engine);
  // The spectra's layout: the layer's, or for a tiled plan its tile images'.
  const SpectralLayout& spectra_layout() const;
  absl::Status CheckWorkspace(base::MemorySpan workspace) const;
  absl::Status CheckWeightSpectrum(const LayerSpectra& spectra) const;
  absl::Status CheckInputSpectrum(const LayerSpectra& spectra) const;

  ConvShape shape_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_CUDA_FFT_CONV_H_
