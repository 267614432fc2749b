#include "fftconv/cpu/cpu_fft_conv.h"

#include <cblas.h>

#include <algorithm>
#include <complex>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fftrain::fftconv {

using ::fftrain::base::MemorySpan;

namespace {

using Complex = std::complex<float>;

struct Regions {
  Complex* input;   // X^ or GX^
  Complex* output;  // Y^ or GY^
  Complex* filter;  // W^ (TransformWeights) or GW^
  float* staging;
};

Regions Carve(const SpectralLayout& layout, MemorySpan workspace) {
  char* base = static_cast<char*>(workspace.data);
  return {reinterpret_cast<Complex*>(base + layout.input_spectrum_offset()),
          reinterpret_cast<Complex*>(base + layout.output_spectrum_offset()),
          reinterpret_cast<Complex*>(base + layout.filter_spectrum_offset()),
          reinterpret_cast<float*>(base + layout.staging_offset())};
}

absl::Status CheckTensors(const char* pass, std::initializer_list<std::pair<const char*, const void*>> tensors) {
  for (const auto& [name, pointer] : tensors) {
    if (pointer == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(pass, ": tensor ", name, " is null"));
    }
  }
  return absl::OkStatus();
}

// Zero-pads `maps` maps of rows x cols (stored one after another) into the staging
// buffer at (top, left) of fft_h x fft_w maps, then transforms them into `spectrum`.
void TransformMaps(const SpectralLayout& layout, const FftwPlan& plan, const float* maps,
                   int64_t count, int64_t rows, int64_t cols, int64_t top, int64_t left,
                   float* staging, Complex* spectrum) {
  const int64_t fh = layout.fft_h(), fw = layout.fft_w();
  std::memset(staging, 0, sizeof(float) * count * fh * fw);
  for (int64_t m = 0; m < count; ++m) {
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(staging + (m * fh + top + r) * fw + left, maps + (m * rows + r) * cols,
                  sizeof(float) * cols);
    }
  }
  plan.RealToComplex(staging, spectrum);
}

// Inverse-transforms `count` spectra into staging, then writes the rows x cols window at
// (top, left) of each map, scaled by 1/(fft_h*fft_w), plus bias[map % bias_period].
void InverseAndCrop(const SpectralLayout& layout, const FftwPlan& plan, Complex* spectrum,
                    int64_t count, int64_t rows, int64_t cols, int64_t top, int64_t left,
                    const float* bias, int64_t bias_period, float* staging, float* out) {
  const int64_t fh = layout.fft_h(), fw = layout.fft_w();
  plan.ComplexToReal(spectrum, staging);
  const float scale = 1.0f / static_cast<float>(fh * fw);
  for (int64_t m = 0; m < count; ++m) {
    const float b = bias != nullptr ? bias[m % bias_period] : 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
      const float* src = staging + (m * fh + top + r) * fw + left;
      float* dst = out + (m * rows + r) * cols;
      for (int64_t q = 0; q < cols; ++q) dst[q] = src[q] * scale + b;
    }
  }
}

}  // namespace

CpuFftConvPlan::CpuFftConvPlan(SpectralLayout layout, FftwPlan input_forward,
                               FftwPlan weight_forward, FftwPlan output_forward,
                               FftwPlan output_inverse, FftwPlan input_inverse,
                               FftwPlan weight_inverse)
    : layout_(std::move(layout)),
      input_forward_(std::move(input_forward)),
      weight_forward_(std::move(weight_forward)),
      output_forward_(std::move(output_forward)),
      output_inverse_(std::move(output_inverse)),
      input_inverse_(std::move(input_inverse)),
      weight_inverse_(std::move(weight_inverse)) {}

absl::StatusOr<CpuFftConvPlan> CpuFftConvPlan::Create(const ConvShape& shape,
                                                      const FftConvOptions& options) {
  FFTRAIN_ASSIGN_OR_RETURN(SpectralLayout layout, SpectralLayout::Create(shape, options));
  const int64_t fh = layout.fft_h(), fw = layout.fft_w();
  using D = FftwPlan::Direction;
  FFTRAIN_ASSIGN_OR_RETURN(auto input_forward,
                           FftwPlan::Create(D::kRealToComplex, fh, fw, layout.input_maps()));
  FFTRAIN_ASSIGN_OR_RETURN(auto weight_forward,
                           FftwPlan::Create(D::kRealToComplex, fh, fw, layout.weight_maps()));
  FFTRAIN_ASSIGN_OR_RETURN(auto output_forward,
                           FftwPlan::Create(D::kRealToComplex, fh, fw, layout.output_maps()));
  FFTRAIN_ASSIGN_OR_RETURN(auto output_inverse,
                           FftwPlan::Create(D::kComplexToReal, fh, fw, layout.output_maps()));
  FFTRAIN_ASSIGN_OR_RETURN(auto input_inverse,
                           FftwPlan::Create(D::kComplexToReal, fh, fw, layout.input_maps()));
  FFTRAIN_ASSIGN_OR_RETURN(auto weight_inverse,
                           FftwPlan::Create(D::kComplexToReal, fh, fw, layout.weight_maps()));
  return CpuFftConvPlan(std::move(layout), std::move(input_forward), std::move(weight_forward),
                        std::move(output_forward), std::move(output_inverse),
                        std::move(input_inverse), std::move(weight_inverse));
}

absl::Status CpuFftConvPlan::TransformWeights(const float* w, const LayerSpectra& spectra,
                                              MemorySpan workspace) const {
  FFTRAIN_RETURN_IF_ERROR(CheckTensors("TransformWeights", {{"w", w}}));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(workspace, WorkspaceBytes(), "workspace"));
  FFTRAIN_RETURN_IF_ERROR(
      CheckSpan(spectra.weights, WeightSpectrumBytes(), "weight spectrum (LayerSpectra::weights)"));
  const ConvShape& s = shape();
  TransformMaps(layout_, weight_forward_, w, layout_.weight_maps(), s.kh, s.kw, 0, 0,
                Carve(layout_, workspace).staging, static_cast<Complex*>(spectra.weights.data));
  return absl::OkStatus();
}

absl::Status CpuFftConvPlan::Forward(const float* x, const float* w, const float* bias,
                                     float* y, const LayerSpectra& spectra,
                                     MemorySpan workspace) const {
  FFTRAIN_RETURN_IF_ERROR(CheckTensors("Forward", {{"x", x}, {"w", w}, {"y", y}}));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(spectra.input, InputSpectrumBytes(),
                                    "input spectrum (LayerSpectra::input)"));
  FFTRAIN_RETURN_IF_ERROR(TransformWeights(w, spectra, workspace));
  const ConvShape& s = shape();
  const Regions r = Carve(layout_, workspace);
  Complex* x_hat = layout_.keep_input_spectrum() ? static_cast<Complex*>(spectra.input.data)
                                                 : r.input;
  TransformMaps(layout_, input_forward_, x, layout_.input_maps(), s.h, s.w, s.pad_h, s.pad_w,
                r.staging, x_hat);
  const auto* w_hat = static_cast<const Complex*>(spectra.weights.data);
  // Per bin: Y (N x K) = X (N x C) * W^H, W being K x C.
  const Complex one(1.0f, 0.0f), zero(0.0f, 0.0f);
  for (int64_t b = 0; b < layout_.bins(); ++b) {
    cblas_cgemm(CblasRowMajor, CblasNoTrans, CblasConjTrans, s.n, s.k, s.c, &one,
                x_hat + b * s.n * s.c, s.c, w_hat + b * s.k * s.c, s.c, &zero,
                r.output + b * s.n * s.k, s.k);
  }
  InverseAndCrop(layout_, output_inverse_, r.output, layout_.output_maps(), s.out_h(),
                 s.out_w(), 0, 0, bias, s.k, r.staging, y);
  return absl::OkStatus();
}

absl::Status CpuFftConvPlan::BackwardData(const float* gy, float* gx,
                                          const LayerSpectra& spectra,
                                          MemorySpan workspace) const {
  FFTRAIN_RETURN_IF_ERROR(CheckTensors("BackwardData", {{"gy", gy}, {"gx", gx}}));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(workspace, WorkspaceBytes(), "workspace"));
  FFTRAIN_RETURN_IF_ERROR(
      CheckSpan(spectra.weights, WeightSpectrumBytes(), "weight spectrum (LayerSpectra::weights)"));
  const ConvShape& s = shape();
  const Regions r = Carve(layout_, workspace);
  TransformMaps(layout_, output_forward_, gy, layout_.output_maps(), s.out_h(), s.out_w(), 0,
                0, r.staging, r.output);
  const auto* w_hat = static_cast<const Complex*>(spectra.weights.data);
  // Per bin: GX (N x C) = GY (N x K) * W (K x C).
  const Complex one(1.0f, 0.0f), zero(0.0f, 0.0f);
  for (int64_t b = 0; b < layout_.bins(); ++b) {
    cblas_cgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.n, s.c, s.k, &one,
                r.output + b * s.n * s.k, s.k, w_hat + b * s.k * s.c, s.c, &zero,
                r.input + b * s.n * s.c, s.c);
  }
  InverseAndCrop(layout_, input_inverse_, r.input, layout_.input_maps(), s.h, s.w, s.pad_h,
                 s.pad_w, nullptr, 1, r.staging, gx);
  return absl::OkStatus();
}

absl::Status CpuFftConvPlan::BackwardFilter(const float* x, const float* gy, float* gw,
                                            float* gb, const LayerSpectra& spectra,
                                            GradOutputSpectrum gy_source,
                                            MemorySpan workspace) const {
  FFTRAIN_RETURN_IF_ERROR(
      CheckTensors("BackwardFilter", {{"x", x}, {"gy", gy}, {"gw", gw}}));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(workspace, WorkspaceBytes(), "workspace"));
  FFTRAIN_RETURN_IF_ERROR(CheckSpan(spectra.input, InputSpectrumBytes(),
                                    "input spectrum (LayerSpectra::input)"));
  const ConvShape& s = shape();
  const Regions r = Carve(layout_, workspace);
  const Complex* x_hat = r.input;
  if (layout_.keep_input_spectrum()) {
    x_hat = static_cast<const Complex*>(spectra.input.data);
  } else {
    TransformMaps(layout_, input_forward_, x, layout_.input_maps(), s.h, s.w, s.pad_h,
                  s.pad_w, r.staging, r.input);
  }
  if (gy_source == GradOutputSpectrum::kTransform) {
    TransformMaps(layout_, output_forward_, gy, layout_.output_maps(), s.out_h(), s.out_w(),
                  0, 0, r.staging, r.output);
  }
  // Per bin: GW (K x C) = GY^H (K x N) * X (N x C).
  const Complex one(1.0f, 0.0f), zero(0.0f, 0.0f);
  for (int64_t b = 0; b < layout_.bins(); ++b) {
    cblas_cgemm(CblasRowMajor, CblasConjTrans, CblasNoTrans, s.k, s.c, s.n, &one,
                r.output + b * s.n * s.k, s.k, x_hat + b * s.n * s.c, s.c, &zero,
                r.filter + b * s.k * s.c, s.c);
  }
  InverseAndCrop(layout_, weight_inverse_, r.filter, layout_.weight_maps(), s.kh, s.kw, 0, 0,
                 nullptr, 1, r.staging, gw);
  if (gb != nullptr) {
    const int64_t plane = s.out_h() * s.out_w();
    for (int64_t k = 0; k < s.k; ++k) {
      double sum = 0.0;  // double, so the result does not depend on summation order.
      for (int64_t n = 0; n < s.n; ++n) {
        const float* g = gy + (n * s.k + k) * plane;
        for (int64_t e = 0; e < plane; ++e) sum += g[e];
      }
      gb[k] = static_cast<float>(sum);
    }
  }
  return absl::OkStatus();
}

}  // namespace fftrain::fftconv
