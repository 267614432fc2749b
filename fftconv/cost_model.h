// The paper's operation counts and memory formula for a layer, next to what our plans
// use. It is the planner's model and what tools/costmodel prints.
#ifndef FFTRAIN_FFTCONV_COST_MODEL_H_
#define FFTRAIN_FFTCONV_COST_MODEL_H_

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "fftconv/conv_shape.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

// Per pass (forward, backward data and backward filter cost the same). Flops count a
// multiply-add as two.
struct CostEstimate {
  ConvShape shape;
  int64_t fft_h = 0;
  int64_t fft_w = 0;
  // Direct method: 2 * N*C*K * out_h*out_w * kh*kw.
  double direct_flops = 0;
  // The paper's FFT count, with n^2 = fft_h*fft_w and a real 2-D FFT of n^2 points
  // costing 2.5 n^2 log2(n^2) flops (its constant C = 2.5 with log base 2):
  //   transforms: 5 n^2 log2(n) * (N*K + N*C + K*C)
  //   products:   4 * N*C*K * n^2   (half spectra, 8 flops per complex multiply-add)
  double fft_transform_flops = 0;
  double fft_product_flops = 0;
  double fft_flops() const { return fft_transform_flops + fft_product_flops; }
  double direct_over_fft() const { return direct_flops / fft_flops(); }
  // The paper's memory for the frequency buffers, 4 n (n+1) (S f + S f' + f f') bytes,
  // with n x (n+1) read as fft_h x (fft_w+1) for rectangles.
  double paper_memory_bytes = 0;
  // Ours: the plan's workspace on the CPU backend (the CUDA backend adds its libraries'
  // work areas), and the per-layer weight spectrum kept between passes.
  size_t workspace_bytes = 0;
  size_t weight_spectrum_bytes = 0;
};

absl::StatusOr<CostEstimate> EstimateCost(const ConvShape& shape,
                                          const FftConvOptions& options = {});

// L1..L5 of convnet-benchmarks, batch 128, valid convolution:
// 3->96 128x128 k11; 64->128 64x64 k9; 128->128 32x32 k9; 128->128 16x16 k7;
// 384->384 13x13 k3.
std::vector<ConvShape> ConvnetBenchmarkLayers();

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_COST_MODEL_H_
