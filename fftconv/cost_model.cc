#include "fftconv/cost_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "fftconv/conv_tiling.h"
#include "fftconv/transform_size.h"

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

double SpectrumBytesPerMap(int64_t fft_h, int64_t fft_w) {
  return 8.0 * static_cast<double>(HalfSpectrumBins(fft_h, fft_w));
}

// --- GPU peaks ---

namespace {

constexpr KnownGpu kKnownGpus[] = {
    {"NVIDIA H100 80GB HBM3", GpuPeaks{},
     "H100 SXM5: NVIDIA's datasheet for fp32 (67 TFLOP/s) and dense TF32 tensor cores "
     "(494.7 TFLOP/s); memory 3.0 TB/s as the benchmarks have used (datasheet: 3.35)"},
    // The H200 is an H100 SXM's chip with HBM3e: the same fp32 and tensor-core rates.
    {"NVIDIA H200",
     GpuPeaks{kH100SxmFp32FlopsPerSecond, 4.8e12, kH100SxmTf32TensorFlopsPerSecond},
     "H200 SXM: NVIDIA's datasheet (67 TFLOP/s fp32, 494.7 TFLOP/s dense TF32 tensor "
     "cores, 4.8 TB/s)"},
};

}  // namespace

absl::Span<const KnownGpu> KnownGpus() { return kKnownGpus; }

GpuPeaks GpuPeaksForDevice(absl::string_view device_name, std::string* note) {
  // CurrentDeviceDescription: "NVIDIA H200 (sm_90, 132 SMs, 139.8 GiB)".
  const absl::string_view name = device_name.substr(0, device_name.find(" ("));
  for (const KnownGpu& gpu : kKnownGpus) {
    if (name == gpu.device_name) {
      if (note != nullptr) *note = gpu.source;
      return gpu.peaks;
    }
  }
  if (note != nullptr) {
    *note = absl::StrCat("'", name,
                         "' is not in the table of GPU peaks (fftconv/cost_model.cc); "
                         "taking the H100 SXM's");
  }
  return GpuPeaks{};
}

double ProductFlopsPerSecond(const GpuPeaks& peaks, ProductEngine engine) {
  switch (engine) {
    case ProductEngine::kTf32x3:
    case ProductEngine::kTf32x3Wgmma:
      return peaks.tf32_tensor_flops_per_second / 3;
    default:
      return peaks.flops_per_second;
  }
}

// --- The roofline ---

namespace {

// The plans' default sizes, or the register kernels' square side where it has fewer bins
// (L5: 13x13, 91 bins, against the default 14x14's 112).
FftConvOptions FewestBinsTransform(const ConvShape& shape) {
  FftConvOptions options;
  const int64_t side = RegisterFftSideWithFewerBins(shape.padded_h(), shape.padded_w(),
                                                    NextSmoothSize(shape.padded_h()),
                                                    NextSmoothSize(shape.padded_w()));
  if (side != 0) options.fft_h = options.fft_w = side;
  return options;
}

}  // namespace

absl::StatusOr<RooflineBound> FftRooflineBound(const ConvShape& shape, ConvPass pass,
                                               const GpuPeaks& peaks, WeightSpectrum weights,
                                               ProductEngine products) {
  for (const auto& [name, value] :
       {std::pair<const char*, double>{"flops_per_second", peaks.flops_per_second},
        {"bytes_per_second", peaks.bytes_per_second},
        {"tf32_tensor_flops_per_second", peaks.tf32_tensor_flops_per_second}}) {
    if (!(std::isfinite(value) && value > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("FftRooflineBound: peak ", name, " must be positive, got ", value));
    }
  }
  FFTRAIN_RETURN_IF_ERROR(shape.Validate());
  FFTRAIN_ASSIGN_OR_RETURN(const CostEstimate cost,
                           EstimateCost(shape, FewestBinsTransform(shape)));

  const double input_maps = static_cast<double>(shape.n) * shape.c;
  const double weight_maps = static_cast<double>(shape.k) * shape.c;
  const double output_maps = static_cast<double>(shape.n) * shape.k;
  const double spectrum_bytes_per_map = SpectrumBytesPerMap(cost.fft_h, cost.fft_w);
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
  bound.product_flops = cost.fft_product_flops;
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
  const double product_rate = ProductFlopsPerSecond(peaks, products);
  bound.compute_seconds =
      product_rate == peaks.flops_per_second
          ? bound.flops / peaks.flops_per_second
          : (bound.flops - bound.product_flops) / peaks.flops_per_second +
                bound.product_flops / product_rate;
  bound.memory_seconds = bound.bytes / peaks.bytes_per_second;
  return bound;
}

// --- The step estimate ---

namespace {

// Each kernel's fixed cost: a launch and its ramp.
constexpr double kLaunchSeconds = 4e-6;

// One batch of transforms: seconds from flops and bytes, plus launch overhead.
double TransformSeconds(int64_t maps, int64_t window, const ConvMethod& m, const GpuPeaks& p) {
  const double real = static_cast<double>(m.fft_h) * m.fft_w;
  const bool batched = m.transform == TransformEngine::kBatchedKernels;
  // The paper's 2.5 R log2 R a real FFT; ours runs complex rows and half the columns:
  // ~1.5x that.
  const double flops = maps * (batched ? 3.75 : 2.5) * real * std::log2(std::max(real, 2.0));
  // cuFFT needs a padded (or uncropped) copy written and read around the transform.
  const double bytes = maps * (4.0 * window + SpectrumBytesPerMap(m.fft_h, m.fft_w) +
                               (batched ? 0.0 : 8.0 * real));
  const double launches = batched ? 1 : 3;
  return std::max(flops / p.flops_per_second, bytes / p.bytes_per_second) +
         launches * kLaunchSeconds;
}

double ProductSeconds(const ConvShape& s, const ConvMethod& m, const GpuPeaks& p) {
  const double bins = static_cast<double>(HalfSpectrumBins(m.fft_h, m.fft_w));
  const double macs = bins * s.n * s.c * s.k;
  // fp32-flop equivalents per complex multiply-add: CGEMM 8, Gauss's form 6; the TF32
  // split products measure about 1.3x CGEMM's speed on an H100 with mma.sync (tf32x3), so
  // 6.25, and 1.3-1.7x with wgmma (tf32x3_wgmma), so 5 (docs/profiling.md, seventh round).
  const double per_mac = m.product == ProductEngine::kCgemm3m       ? 6.0
                         : m.product == ProductEngine::kTf32x3      ? 6.25
                         : m.product == ProductEngine::kTf32x3Wgmma ? 5.0
                                                                    : 8.0;
  const double flops = macs * per_mac;
  const double bytes = SpectrumBytesPerMap(m.fft_h, m.fft_w) *
                       (s.n * s.c + s.k * s.c + s.n * s.k);
  return std::max(flops / p.flops_per_second, bytes / p.bytes_per_second) + kLaunchSeconds;
}

// The same method on whole images: how a tiled method runs its tiles' layer.
ConvMethod WithoutTiles(ConvMethod m) {
  m.tile_h = m.tile_w = 0;
  return m;
}

// A training step's tile copies: input tiles gathered twice (forward, backward filter),
// output tiles scattered once, dL/dy cut once (backward data; backward filter reuses its
// spectrum), input-tile gradients overlap-added once. Each reads one side, writes the other.
double TileCopySeconds(const ConvTiling& t, const GpuPeaks& p) {
  const ConvShape& s = t.shape();
  const ConvShape tiles = t.TileShape();
  const double input = 4.0 * (s.input_elements() + tiles.input_elements());
  const double output = 4.0 * (s.output_elements() + tiles.output_elements());
  return (3 * input + 2 * output) / p.bytes_per_second + 5 * kLaunchSeconds;
}

}  // namespace

double EstimateStepMilliseconds(const ConvShape& s, const ConvMethod& m, const GpuPeaks& p) {
  if (m.tiled()) {
    auto tiling = ConvTiling::Create(s, m.tile_h, m.tile_w);
    if (!tiling.ok()) return std::numeric_limits<double>::infinity();
    return EstimateStepMilliseconds(tiling->TileShape(), WithoutTiles(m), p) +
           1e3 * TileCopySeconds(*tiling, p);
  }
  const int64_t nc = s.n * s.c, kc = s.k * s.c, nk = s.n * s.k;
  const int64_t in = s.h * s.w, out = s.out_h() * s.out_w(), kernel = s.kh * s.kw;
  const double product = ProductSeconds(s, m, p);
  // A training step with the reuse the plans do: W^ from forward serves backward data,
  // GY^ from backward data serves backward filter; x is transformed again.
  const double forward = TransformSeconds(kc, kernel, m, p) + TransformSeconds(nc, in, m, p) +
                         product + TransformSeconds(nk, out, m, p);
  const double backward_data = TransformSeconds(nk, out, m, p) + product +
                               TransformSeconds(nc, in, m, p);
  const double backward_filter = TransformSeconds(nc, in, m, p) + product +
                                 TransformSeconds(kc, kernel, m, p);
  return 1e3 * (forward + backward_data + backward_filter);
}

}  // namespace fftrain::fftconv
