#include "fftconv/cost_model.h"

#include <cmath>

#include "base/status_macros.h"

namespace fftrain::fftconv {

absl::StatusOr<CostEstimate> EstimateCost(const ConvShape& shape,
                                          const FftConvOptions& options) {
  FFTRAIN_ASSIGN_OR_RETURN(SpectralLayout layout, SpectralLayout::Create(shape, options));
  CostEstimate e;
  e.shape = shape;
  e.fft_h = layout.fft_h();
  e.fft_w = layout.fft_w();
  const double n2 = static_cast<double>(e.fft_h) * e.fft_w;
  const double log2_n = 0.5 * std::log2(n2);
  const double nn = shape.n, c = shape.c, k = shape.k;
  e.direct_flops = 2.0 * shape.DirectMacs();
  e.fft_transform_flops = 5.0 * n2 * log2_n * (nn * k + nn * c + k * c);
  e.fft_product_flops = 4.0 * nn * c * k * n2;
  e.paper_memory_bytes =
      4.0 * e.fft_h * (e.fft_w + 1.0) * (nn * c + nn * k + c * k);
  e.workspace_bytes = layout.backend_offset();
  e.weight_spectrum_bytes = layout.WeightSpectrumBytes();
  return e;
}

std::vector<ConvShape> ConvnetBenchmarkLayers() {
  auto layer = [](int64_t c, int64_t k, int64_t size, int64_t kernel) {
    ConvShape s;
    s.n = 128;
    s.c = c;
    s.k = k;
    s.h = s.w = size;
    s.kh = s.kw = kernel;
    return s;
  };
  return {layer(3, 96, 128, 11), layer(64, 128, 64, 9), layer(128, 128, 32, 9),
          layer(128, 128, 16, 7), layer(384, 384, 13, 3)};
}

}  // namespace fftrain::fftconv
