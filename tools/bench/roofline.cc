#include "tools/bench/roofline.h"

#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "fftconv/cost_model.h"
#include "fftconv/spectral_layout.h"
#include "fftconv/transform_size.h"

namespace fftrain::bench {
namespace {

// The plans' default sizes, or the register kernels' square side where it has fewer bins
// (L5: 13x13, 91 bins, against the default 14x14's 112).
fftconv::FftConvOptions FewestBinsTransform(const fftconv::ConvShape& shape) {
  fftconv::FftConvOptions options;
  const int64_t side = fftconv::RegisterFftSideWithFewerBins(
      shape.padded_h(), shape.padded_w(), fftconv::NextSmoothSize(shape.padded_h()),
      fftconv::NextSmoothSize(shape.padded_w()));
  if (side != 0) options.fft_h = options.fft_w = side;
  return options;
}

}  // namespace

absl::string_view ConvPassName(ConvPass pass) {
  switch (pass) {
    case ConvPass::kForward:
      return "forward";
    case ConvPass::kBackwardData:
      return "backward_data";
    case ConvPass::kBackwardFilter:
      return "backward_filter";
  }
  return "unknown";
}

absl::StatusOr<RooflineBound> FftRooflineBound(const fftconv::ConvShape& shape,
                                               ConvPass pass, const GpuPeaks& peaks,
                                               WeightSpectrum weights) {
  for (const auto& [name, value] : {std::pair<const char*, double>{"flops_per_second",
                                                                    peaks.flops_per_second},
                                    {"bytes_per_second", peaks.bytes_per_second}}) {
    if (!(std::isfinite(value) && value > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("FftRooflineBound: peak ", name, " must be positive, got ", value));
    }
  }
  FFTRAIN_RETURN_IF_ERROR(shape.Validate());
  FFTRAIN_ASSIGN_OR_RETURN(const fftconv::CostEstimate cost,
                           fftconv::EstimateCost(shape, FewestBinsTransform(shape)));

  const double input_maps = static_cast<double>(shape.n) * shape.c;
  const double weight_maps = static_cast<double>(shape.k) * shape.c;
  const double output_maps = static_cast<double>(shape.n) * shape.k;
  const double spectrum_bytes_per_map =
      8.0 * static_cast<double>(fftconv::HalfSpectrumBins(cost.fft_h, cost.fft_w));
  const double transform_flops_per_map =
      cost.fft_transform_flops / (input_maps + weight_maps + output_maps);
  // Every spectrum the pass makes is written once and read once.
  const double all_spectra_bytes =
      2.0 * spectrum_bytes_per_map * (input_maps + weight_maps + output_maps);

  const double x = 4.0 * static_cast<double>(shape.input_elements());
  const double w = 4.0 * static_cast<double>(shape.weight_elements());
  const double y = 4.0 * static_cast<double>(shape.output_elements());
  const double bias = 4.0 * static_cast<double>(shape.k);

  RooflineBound bound;
  bound.flops = cost.fft_flops();
  switch (pass) {
    case ConvPass::kForward:
      bound.bytes = x + w + bias + y + all_spectra_bytes;
      break;
    case ConvPass::kBackwardData:
      if (weights == WeightSpectrum::kGiven) {
        // No w, no K*C transforms; W^ is only read.
        bound.flops -= transform_flops_per_map * weight_maps;
        bound.bytes = y + x + spectrum_bytes_per_map * weight_maps +
                      2.0 * spectrum_bytes_per_map * (output_maps + input_maps);
      } else {
        bound.bytes = y + w + x + all_spectra_bytes;
      }
      break;
    case ConvPass::kBackwardFilter:
      bound.bytes = x + y + w + bias + all_spectra_bytes;
      break;
  }
  bound.compute_seconds = bound.flops / peaks.flops_per_second;
  bound.memory_seconds = bound.bytes / peaks.bytes_per_second;
  return bound;
}

}  // namespace fftrain::bench
