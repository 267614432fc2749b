// The paper's three passes on an NVIDIA GPU: batched real transforms (our kernels, or
// cuFFT with its work area in our workspace), per-frequency products (cuBLAS's
// strided-batched CGEMM or CGEMM3M, or our thin kernels), on whole images or on
// overlap-save tiles. Plain C++ header: no CUDA includes.
#ifndef FFTRAIN_FFTCONV_CUDA_FFT_CONV_H_
#define FFTRAIN_FFTCONV_CUDA_FFT_CONV_H_

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

// One plan per layer shape, on the device current at Create. With tiles in the options
// it runs the overlap-save method (cuda_tiled_conv.h) behind the same interface. Same contract as
// CpuFftConvPlan (see there for the step's call order), plus a stream per call: the
// passes only enqueue work on it, never allocate and never synchronise. Tensors,
// workspace and spectra are device memory. A plan may serve one stream at a time (its
// cuFFT and cuBLAS handles are bound to the stream of the call).
class CudaFftConvPlan {
 public:
  static absl::StatusOr<CudaFftConvPlan> Create(const ConvShape& shape,
                                                const FftConvOptions& options = {});
  CudaFftConvPlan(CudaFftConvPlan&&) noexcept;
  CudaFftConvPlan& operator=(CudaFftConvPlan&&) noexcept;
  ~CudaFftConvPlan();

  // The layer's shape, tiled or not.
  const ConvShape& shape() const;
  // The spectra's layout; for a tiled plan, that of the N*T tile images (its shape is
  // the tiles', and its transform size one tile's).
  const SpectralLayout& layout() const;
  // The tiling of a tiled plan (FftConvOptions::tile_h, tile_w), else null.
  const ConvTiling* tiling() const;
  // The layout's regions plus cuFFT's work area and cuBLAS's workspace.
  size_t WorkspaceBytes() const;
  size_t WeightSpectrumBytes() const { return layout().WeightSpectrumBytes(); }
  // The transform engine chosen: "cufft" or "batched".
  const char* transform_name() const;
  // The product variant chosen: "cgemm", "cgemm3m", "thin", "tf32x3" or
  // "tf32x3_wgmma".
  const char* product_name() const;
  // "batched 16x16 cgemm", with " tiles 14x14 (4x4)" for a tiled plan.
  std::string method_name() const;
  size_t InputSpectrumBytes() const { return layout().InputSpectrumBytes(); }

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
  // Tiled plans run their tiles' plan through the Run methods below.
  friend class CudaTiledConv;
  struct Impl;
  explicit CudaFftConvPlan(std::unique_ptr<Impl> impl);
  absl::Status CheckWorkspace(base::MemorySpan workspace) const;

  // The passes on arguments already checked.
  absl::Status RunTransformWeights(const float* w, const LayerSpectra& spectra,
                                   base::MemorySpan workspace, base::CudaStreamHandle stream);
  absl::Status RunForward(const float* x, const float* w, const float* bias, float* y,
                          const LayerSpectra& spectra, base::MemorySpan workspace,
                          base::CudaStreamHandle stream);
  absl::Status RunBackwardData(const float* gy, float* gx, const LayerSpectra& spectra,
                               base::MemorySpan workspace, base::CudaStreamHandle stream);
  absl::Status RunBackwardFilter(const float* x, const float* gy, float* gw, float* gb,
                                 const LayerSpectra& spectra, GradOutputSpectrum gy_source,
                                 base::MemorySpan workspace, base::CudaStreamHandle stream);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_FFT_CONV_H_
