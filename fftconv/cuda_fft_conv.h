// The paper's three passes on an NVIDIA GPU: cuFFT batched real transforms (work area
// from our workspace), cuBLAS strided-batched CGEMM for the per-frequency products, and
// small kernels for padding, cropping and bias. Plain C++ header: no CUDA includes.
#ifndef FFTRAIN_FFTCONV_CUDA_FFT_CONV_H_
#define FFTRAIN_FFTCONV_CUDA_FFT_CONV_H_

#include <cstddef>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fftconv/conv_shape.h"
#include "fftconv/cuda/cuda_resources.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

// One plan per layer shape, on the device current at Create. Same contract as
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

  const ConvShape& shape() const;
  const SpectralLayout& layout() const;
  // The layout's regions plus cuFFT's work area and cuBLAS's workspace.
  size_t WorkspaceBytes() const;
  size_t WeightSpectrumBytes() const { return layout().WeightSpectrumBytes(); }
  // The transform engine chosen: "cufft" or "batched".
  const char* transform_name() const;
  // The product variant chosen: "cgemm" or "cgemm3m".
  const char* product_name() const;
  size_t InputSpectrumBytes() const { return layout().InputSpectrumBytes(); }

  absl::Status TransformWeights(const float* w, const LayerSpectra& spectra,
                                MemorySpan workspace, CudaStreamHandle stream);
  absl::Status Forward(const float* x, const float* w, const float* bias, float* y,
                       const LayerSpectra& spectra, MemorySpan workspace,
                       CudaStreamHandle stream);
  absl::Status BackwardData(const float* gy, float* gx, const LayerSpectra& spectra,
                            MemorySpan workspace, CudaStreamHandle stream);
  absl::Status BackwardFilter(const float* x, const float* gy, float* gw, float* gb,
                              const LayerSpectra& spectra, GradOutputSpectrum gy_source,
                              MemorySpan workspace, CudaStreamHandle stream);

 private:
  struct Impl;
  explicit CudaFftConvPlan(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_FFT_CONV_H_
