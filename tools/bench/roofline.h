// The roofline lower bound of the FFT method for one pass of a convolution layer: the
// time no implementation of the paper's algorithm can beat on a GPU with the given peak
// arithmetic rate and memory bandwidth. The benchmarks report measured time / bound, so
// "3x the bound" means the same on every layer, however compute- or memory-heavy it is.
//
//   bound = max(flops / peak_flops_per_second, bytes / peak_bytes_per_second)
//
// flops: the FFT method's count for the pass (fftconv::EstimateCost, the paper's model):
//   transforms 5 n^2 log2(n) per map transformed, products 4 N*C*K n^2, n^2 = fft_h*fft_w.
//   A pass transforms N*C + K*C + N*K maps; backward data given a ready W^ transforms
//   N*K + N*C (see WeightSpectrum).
//
// bytes: the least traffic of the pass in fp32, with every tensor read once and written
// once, and every intermediate spectrum (bins = fft_h*(fft_w/2+1) complex values of
// 8 bytes per map) written once and read once:
//   forward          x, w, bias in; y out;       X^ (N*C), W^ (K*C), Y^ (N*K) maps
//   backward data    gy, w in; gx out;           GY^ (N*K), W^ (K*C), GX^ (N*C) maps
//                    given W^: W^ read once instead of w read and W^ written and read
//   backward filter  x, gy in; gw, gb out;       X^ (N*C), GY^ (N*K), GW^ (K*C) maps
// Staging buffers, padding and library work areas are not counted: a fused
// implementation need not have them.
#ifndef FFTRAIN_TOOLS_BENCH_ROOFLINE_H_
#define FFTRAIN_TOOLS_BENCH_ROOFLINE_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fftconv/conv_shape.h"

namespace fftrain::bench {

// One H100 SXM (shared/DESIGN.md section 6): fp32 without tensor cores, and HBM3.
inline constexpr double kH100Fp32FlopsPerSecond = 67e12;
inline constexpr double kH100BytesPerSecond = 3.0e12;

struct GpuPeaks {
  double flops_per_second = kH100Fp32FlopsPerSecond;
  double bytes_per_second = kH100BytesPerSecond;
};

enum class ConvPass { kForward, kBackwardData, kBackwardFilter };

// "forward", "backward_data", "backward_filter": the names the benchmarks and reports use.
absl::string_view ConvPassName(ConvPass pass);

// Where backward data gets the weights' spectrum. Training transforms the weights once per
// step, in Forward, so a backward data pass of a training step starts from W^.
enum class WeightSpectrum {
  kTransform,  // the pass transforms w itself: complete on its own
  kGiven,      // W^ is ready (Forward or TransformWeights made it)
};

struct RooflineBound {
  double flops = 0;  // FFT method: transforms + products
  double bytes = 0;  // least traffic, as above
  double compute_seconds = 0;
  double memory_seconds = 0;
  double seconds() const {
    return compute_seconds > memory_seconds ? compute_seconds : memory_seconds;
  }
  bool memory_bound() const { return memory_seconds > compute_seconds; }
};

// At the whole-image transform size with the fewest bins that the tuner offers: the
// plans' default (the smallest 7-smooth sizes >= the padded input), or the register
// kernels' square side where it has fewer (13x13 for L5's 13x13 input, against 14x14).
// InvalidArgument for a bad shape or peaks that are not positive and finite.
// `weights` only matters for kBackwardData.
absl::StatusOr<RooflineBound> FftRooflineBound(
    const fftconv::ConvShape& shape, ConvPass pass, const GpuPeaks& peaks,
    WeightSpectrum weights = WeightSpectrum::kTransform);

}  // namespace fftrain::bench

#endif  // FFTRAIN_TOOLS_BENCH_ROOFLINE_H_
