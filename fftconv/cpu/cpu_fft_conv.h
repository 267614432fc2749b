// The paper's three passes on the CPU: FFTW transforms (planned once per shape) and
// CBLAS complex products per frequency. It runs the same algorithm as the CUDA backend,
// so machines without a GPU can train and CI can test end to end. Correct, not fast.
#ifndef FFTRAIN_FFTCONV_CPU_CPU_FFT_CONV_H_
#define FFTRAIN_FFTCONV_CPU_CPU_FFT_CONV_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/memory_span.h"
#include "fftconv/conv_shape.h"
#include "fftconv/cpu/fftw_plan.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

// One plan per layer shape. The passes never allocate: the caller provides the workspace
// (WorkspaceBytes(), shared by layers) and the layer's spectra. A plan is immutable after
// Create, so one plan may serve several threads, each with its own workspace.
//
// One training step of a layer, with every map transformed once:
//   Forward(x, w, b, y, spectra, ws)                 W^ -> spectra.weights (and X^ -> spectra.input)
//   BackwardData(gy, gx, spectra, ws)                reads W^, leaves GY^ in ws
//   BackwardFilter(x, gy, gw, gb, spectra, kFromBackwardData, ws)   reads GY^ (and X^)
// Gradients are written, not accumulated.
class CpuFftConvPlan {
 public:
  static absl::StatusOr<CpuFftConvPlan> Create(const ConvShape& shape,
                                               const FftConvOptions& options = {});

  const ConvShape& shape() const { return layout_.shape(); }
  const SpectralLayout& layout() const { return layout_; }
  size_t WorkspaceBytes() const { return layout_.backend_offset(); }
  size_t WeightSpectrumBytes() const { return layout_.WeightSpectrumBytes(); }
  size_t InputSpectrumBytes() const { return layout_.InputSpectrumBytes(); }

  // W^ into spectra.weights, for a BackwardData not preceded by Forward in this step.
  absl::Status TransformWeights(const float* w, const LayerSpectra& spectra,
                                base::MemorySpan workspace) const;

  // y = conv(x, w) + bias (bias may be null).
  absl::Status Forward(const float* x, const float* w, const float* bias, float* y,
                       const LayerSpectra& spectra, base::MemorySpan workspace) const;

  // gx = dL/dx from gy = dL/dy and the W^ already in spectra.weights.
  absl::Status BackwardData(const float* gy, float* gx, const LayerSpectra& spectra,
                            base::MemorySpan workspace) const;

  // gw = dL/dw and, when gb is not null, the bias gradient. With keep_input_spectrum,
  // X^ comes from spectra.input (written by Forward); otherwise x is transformed again.
  absl::Status BackwardFilter(const float* x, const float* gy, float* gw, float* gb,
                              const LayerSpectra& spectra, GradOutputSpectrum gy_source,
                              base::MemorySpan workspace) const;

 private:
  CpuFftConvPlan(SpectralLayout layout, FftwPlan input_forward, FftwPlan weight_forward,
                 FftwPlan output_forward, FftwPlan output_inverse, FftwPlan input_inverse,
                 FftwPlan weight_inverse);

  SpectralLayout layout_;
  FftwPlan input_forward_;   // N*C maps
  FftwPlan weight_forward_;  // K*C maps
  FftwPlan output_forward_;  // N*K maps
  FftwPlan output_inverse_;
  FftwPlan input_inverse_;
  FftwPlan weight_inverse_;
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CPU_CPU_FFT_CONV_H_
