// fftrain's one cost model of a convolution layer, CPU-only (no GPU needed), in three
// parts that share their counts and one table of GPU peaks:
//   - the paper's operation counts and memory formula (EstimateCost), next to what our
//     plans use: what tools/costmodel prints;
//   - the roofline: the least work of one pass of the FFT method and the time no
//     implementation can beat on a given GPU (FftRooflineBound): what the benchmarks
//     report their times against (tools/bench/roofline.h);
//   - the step estimate: what one training step with a given method costs on our kernels
//     (EstimateStepMilliseconds): what the tuner ranks by in its cost-model mode.
#ifndef FFTRAIN_FFTCONV_COST_MODEL_H_
#define FFTRAIN_FFTCONV_COST_MODEL_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "fftconv/conv_method.h"
#include "fftconv/conv_shape.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

// ---------------------------------------------------------------------------------------
// The paper's counts.

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

// Bytes of one map's half spectrum: fft_h x (fft_w/2+1) complex values of 8 bytes.
double SpectrumBytesPerMap(int64_t fft_h, int64_t fft_w);

// ---------------------------------------------------------------------------------------
// GPU peaks, one table for the roofline, the step estimate and the benchmarks.

// The H100 SXM's (NVIDIA's H100 datasheet, SXM5 column), the defaults everywhere:
// fp32 on the CUDA cores, 67 TFLOP/s;
inline constexpr double kH100SxmFp32FlopsPerSecond = 67e12;
// device memory: 3.0 TB/s, the figure the benchmarks have always used (docs/benchmarks.md,
// shared/DESIGN.md section 6), about what HBM3 sustains; the datasheet says 3.35 TB/s.
inline constexpr double kH100SxmBytesPerSecond = 3.0e12;
// TF32 on the tensor cores, dense: 494.7 TFLOP/s (the datasheet's 989 is with sparsity).
inline constexpr double kH100SxmTf32TensorFlopsPerSecond = 494.7e12;

struct GpuPeaks {
  double flops_per_second = kH100SxmFp32FlopsPerSecond;  // fp32 on the CUDA cores
  double bytes_per_second = kH100SxmBytesPerSecond;      // device memory
  double tf32_tensor_flops_per_second = kH100SxmTf32TensorFlopsPerSecond;  // dense
};

struct KnownGpu {
  // cudaDeviceProp::name exactly, e.g. "NVIDIA H200".
  const char* device_name;
  GpuPeaks peaks;
  // Where the numbers come from.
  const char* source;
};

// The GPUs whose peaks we know: the H100 SXM and the H200.
absl::Span<const KnownGpu> KnownGpus();

// The peaks of the GPU called `device_name`: cudaDeviceProp::name ("NVIDIA H200",
// "NVIDIA H100 80GB HBM3"), or base::CurrentDeviceDescription's text, whose " (sm_90, ...)"
// is ignored. A name not in KnownGpus gets the H100 SXM's peaks, and *note (where given)
// says so; for a known name *note is its entry's source.
GpuPeaks GpuPeaksForDevice(absl::string_view device_name, std::string* note = nullptr);

// The rate the products of `engine` run at, in fp32 flops a second: tf32x3 and
// tf32x3_wgmma do three TF32 tensor-core products per fp32 one, so a third of the
// tensor cores' TF32 rate; CGEMM, CGEMM3M and the thin kernels run on the CUDA cores at
// the fp32 rate.
double ProductFlopsPerSecond(const GpuPeaks& peaks, ProductEngine engine);

// ---------------------------------------------------------------------------------------
// The roofline of the FFT method for one pass: the time no implementation of the paper's
// algorithm can beat on a GPU with the given peaks. The benchmarks report measured time
// / bound, so "3x the bound" means the same on every layer, however compute- or
// memory-heavy it is.
//
//   bound = max(transform flops / fp32 rate + product flops / the product engine's rate,
//               bytes / bandwidth)
//
// flops: the FFT method's count for the pass (EstimateCost, the paper's model):
//   transforms 5 n^2 log2(n) per map transformed, products 4 N*C*K n^2, n^2 = fft_h*fft_w.
//   A pass transforms N*C + K*C + N*K maps; backward data given a ready W^ transforms
//   N*K + N*C (see WeightSpectrum). The products run at ProductFlopsPerSecond of the
//   engine (CUDA cores unless told otherwise), the transforms at the fp32 rate. The count
//   is the paper's four real multiplies per complex one; Gauss's form (CGEMM3M, tf32x3)
//   does three, so the bound keeps one count for every engine and compares them on it.
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

enum class ConvPass { kForward, kBackwardData, kBackwardFilter };

// Where backward data gets the weights' spectrum. Training transforms the weights once per
// step, in Forward, so a backward data pass of a training step starts from W^.
enum class WeightSpectrum {
  kTransform,  // the pass transforms w itself: complete on its own
  kGiven,      // W^ is ready (Forward or TransformWeights made it)
};

struct RooflineBound {
  double flops = 0;          // FFT method: transforms + products
  double product_flops = 0;  // the products' part of it
  double bytes = 0;          // least traffic, as above
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
// `weights` only matters for kBackwardData; `products` says which units the products run
// on (kAuto: CGEMM's, the CUDA cores).
absl::StatusOr<RooflineBound> FftRooflineBound(
    const ConvShape& shape, ConvPass pass, const GpuPeaks& peaks,
    WeightSpectrum weights = WeightSpectrum::kTransform,
    ProductEngine products = ProductEngine::kAuto);

// ---------------------------------------------------------------------------------------
// The step estimate: milliseconds of one training step with `method` on our kernels.
// For each kernel, the larger of its flops over the fp32 rate and its device-memory bytes
// over the bandwidth, plus a launch overhead, summed over the kernels of the three passes
// with the reuse the plans do; counting the padding and cropping passes cuFFT needs and
// our batched kernels fuse, and for tiled methods the tiles' layer plus the tile gathers,
// scatters and overlap-adds. The product engines' costs are in fp32-flop equivalents per
// complex multiply-add measured against CGEMM on an H100 (cost_model.cc), not the
// roofline's unit rates: an estimate of what our kernels achieve, not a bound.
double EstimateStepMilliseconds(const ConvShape& shape, const ConvMethod& method,
                                const GpuPeaks& peaks);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_COST_MODEL_H_
