// Times the three passes of CudaFftConvPlan on the layers of the performance work, each
// next to the FFT method's roofline bound (tools/bench/roofline.h). One case per layer and
// pass, named "L3/forward", "S32k5/backward_filter", ...
//
//   fft_conv_benchmark [--layers=REGEX] [--peak_tflops=67 --peak_tbps=3.0
//                       --peak_tf32_tflops=494.7]
//                      [--benchmark_filter=...] [--benchmark_repetitions=3 ...]
//
// Each timed iteration is one call of the pass on its own stream between two CUDA events
// (manual time), after a few untimed calls. Plans, buffers (seeded random data, never
// zeros: zeros would flatter the GPU's power draw and clocks) and the weight spectrum for
// backward data are made before the timed loop. Counters per case:
//   ms             median milliseconds per call within the run (Google Benchmark's own
//                  time is the mean; --benchmark_repetitions aggregates both)
//   TFLOPs         effective rate: direct-method flops 2*N*C*K*oh*ow*kh*kw / median time
//   bound_ms       the FFT roofline bound on this GPU (the cost model's peaks for its name,
//                  or --peak_tflops/--peak_tbps/--peak_tf32_tflops), the products at the
//                  rate of the units the plan's product engine runs on
//   x_bound        median time / bound
//   workspace_MiB  the plan's workspace
// The label is the layer's shape (ConvShape::ToString), which cudnn_baseline.py also
// writes, so make_benchmarks_md.py can check that both timed the same layers.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "base/cuda/cuda_resources.h"
#include "base/status_macros.h"
#include "benchmark/benchmark.h"
#include "fftconv/conv_shape.h"
#include "fftconv/cost_model.h"
#include "fftconv/cuda/cuda_fft_conv.h"
#include "fftconv/spectral_layout.h"
#include "fftconv/cuda/tuner.h"
#include "tools/bench/roofline.h"

ABSL_FLAG(std::string, layers, "",
          "ECMAScript regular expression searched in each layer's name (L1..L5, S32k3.."
          "S32k13, S64k9, K31, R56k3, T256k5); anchor it for an exact name, e.g. '^L1$'. "
          "Empty: all layers.");
ABSL_FLAG(double, peak_tflops, 0,
          "Peak fp32 rate of the GPU (CUDA cores), in TFLOP/s, for the roofline bound (0: the "
          "GPU's, from the cost model's table by its name; H100 SXM for a GPU not in it).");
ABSL_FLAG(double, peak_tbps, 0,
          "Peak memory bandwidth of the GPU, in TB/s, for the roofline bound (0: the GPU's).");
ABSL_FLAG(double, peak_tf32_tflops, 0,
          "Dense TF32 tensor-core rate of the GPU, in TFLOP/s, for the bound of tf32x3 "
          "products (0: the GPU's).");
ABSL_FLAG(std::string, method, "tuned",
          "How each layer runs: tuned (the tuner measures every candidate method once and "
          "the fastest is benchmarked), cost (the tuner's cost model picks), or default "
          "(the plan's own choice, no tuning)");
ABSL_FLAG(std::string, tuner_cache, "", "The tuner's on-disk cache (empty: none)");
ABSL_FLAG(bool, print_tuning, false,
          "Print every candidate the tuner considered for a layer (step ms, or the cost "
          "model's estimate, and workspace) to stderr: whole against tiled side by side.");
ABSL_FLAG(int, warmup, 3, "Untimed calls of the pass before each timed loop.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the random data in every buffer.");
ABSL_FLAG(bool, list_layers, false,
          "Print each selected layer's name and shape, then exit (needs no GPU).");

namespace fftrain::bench {
namespace {

using base::CudaEvent;
using base::CudaStream;
using base::DeviceBuffer;
using fftconv::ConvShape;
using fftconv::CudaFftConvPlan;
using fftconv::GradOutputSpectrum;
using fftconv::LayerSpectra;
using fftconv::ConvTuner;
using fftconv::FftConvOptions;
using fftconv::TunedConv;
using fftconv::TunerOptions;
using fftconv::TuningMode;

constexpr char kUsage[] =
    "fft_conv_benchmark: times CudaFftConvPlan's passes on the performance work's layers\n"
    "against the FFT roofline bound.\n\n"
    "Flags of this benchmark:\n"
    "  --layers=REGEX        pick layers by name (searched; '^L1$' for one), default all\n"
    "  --peak_tflops=67      the GPU's fp32 peak in TFLOP/s for the bound (default: the\n"
    "                        GPU's, from fftconv/cost_model.cc's table; H100 SXM: 67)\n"
    "  --peak_tbps=3.0       the GPU's memory bandwidth in TB/s (H100: 3.0, H200: 4.8)\n"
    "  --peak_tf32_tflops=494.7  dense TF32 tensor-core rate, for tf32x3 products\n"
    "  --warmup=3            untimed calls before each timed loop\n"
    "  --seed=1              seed of the buffers' random data\n"
    "  --print_tuning        print each tuning candidate's step time to stderr\n"
    "  --list_layers         print the selected layers and exit\n\n"
    "Google Benchmark's flags:\n";

struct Layer {
  std::string name;
  ConvShape shape;
};

// Stride 1, valid convolution (no padding).
ConvShape ValidConv(int64_t n, int64_t c, int64_t size, int64_t k, int64_t kernel) {
  ConvShape s;
  s.n = n;
  s.c = c;
  s.h = s.w = size;
  s.k = k;
  s.kh = s.kw = kernel;
  return s;
}

// The layers of the performance issue; tools/bench/cudnn_baseline.py has the same list.
std::vector<Layer> AllLayers() {
  std::vector<Layer> layers;
  const std::vector<ConvShape> convnet = fftconv::ConvnetBenchmarkLayers();
  for (size_t i = 0; i < convnet.size(); ++i) {
    layers.push_back({absl::StrCat("L", i + 1), convnet[i]});
  }
  // The paper's sweep: 96 -> 256 planes.
  for (int64_t kernel : {3, 5, 7, 9, 11, 13}) {
    layers.push_back({absl::StrCat("S32k", kernel), ValidConv(128, 96, 32, 256, kernel)});
  }
  layers.push_back({"S64k9", ValidConv(64, 96, 64, 256, 9)});
  layers.push_back({"K31", ValidConv(32, 128, 64, 128, 31)});
  layers.push_back({"R56k3", ValidConv(128, 64, 56, 64, 3)});
  // Beyond the list: a large image with a small kernel, where tiles let 32x32
  // batched transforms replace one 256x256 cuFFT per map (252 = 9 tiles of 28).
  layers.push_back({"T256k5", ValidConv(16, 64, 256, 64, 5)});
  return layers;
}

absl::StatusOr<std::vector<Layer>> SelectLayers(const std::string& pattern) {
  std::vector<Layer> all = AllLayers();
  if (pattern.empty()) return all;
  std::regex re;
  try {
    re = std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("--layers='", pattern, "' is not a regular expression: ", e.what()));
  }
  std::vector<Layer> picked;
  std::vector<std::string> names;
  for (Layer& layer : all) {
    names.push_back(layer.name);
    if (std::regex_search(layer.name, re)) picked.push_back(std::move(layer));
  }
  if (picked.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--layers='", pattern,
                                                   "' matches no layer; the layers are ",
                                                   absl::StrJoin(names, ", ")));
  }
  return picked;
}

// SplitMix64: fast enough to fill gigabytes of buffers at setup, and seeded so runs are
// repeatable.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1), never exactly 0 (24 random bits, offset by half a step).
  float NextNonZero() {
    const int32_t bits = static_cast<int32_t>(Next() >> 40) - (1 << 23);
    return (static_cast<float>(bits) + 0.5f) / static_cast<float>(1 << 23);
  }

 private:
  uint64_t state_;
};

absl::StatusOr<DeviceBuffer> RandomDeviceBuffer(size_t bytes, Random& random) {
  FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer buffer, DeviceBuffer::Allocate(bytes));
  std::vector<float> host((bytes + sizeof(float) - 1) / sizeof(float));
  for (float& v : host) v = random.NextNonZero();
  FFTRAIN_RETURN_IF_ERROR(buffer.CopyFromHost(host.data(), bytes));
  return buffer;
}

// Everything the cases of one layer use, made before any timing.
struct LayerResources {
  LayerResources(CudaFftConvPlan plan, CudaStream stream, CudaEvent start, CudaEvent stop)
      : plan(std::move(plan)),
        stream(std::move(stream)),
        start(std::move(start)),
        stop(std::move(stop)) {}

  CudaFftConvPlan plan;
  CudaStream stream;
  CudaEvent start;
  CudaEvent stop;
  DeviceBuffer x, w, bias, y, gy, gx, gw, gb, weight_spectrum, workspace;

  LayerSpectra spectra() const { return {weight_spectrum.span(), {}}; }
};

absl::StatusOr<std::unique_ptr<LayerResources>> CreateLayerResources(
    const ConvShape& shape, const FftConvOptions& options, uint64_t seed) {
  FFTRAIN_ASSIGN_OR_RETURN(CudaFftConvPlan plan, CudaFftConvPlan::Create(shape, options));
  FFTRAIN_ASSIGN_OR_RETURN(CudaStream stream, CudaStream::Create());
  FFTRAIN_ASSIGN_OR_RETURN(CudaEvent start, CudaEvent::Create());
  FFTRAIN_ASSIGN_OR_RETURN(CudaEvent stop, CudaEvent::Create());
  auto r = std::make_unique<LayerResources>(std::move(plan), std::move(stream),
                                            std::move(start), std::move(stop));
  Random random(seed);
  const size_t f = sizeof(float);
  const size_t x_bytes = f * shape.input_elements();
  const size_t w_bytes = f * shape.weight_elements();
  const size_t y_bytes = f * shape.output_elements();
  const size_t bias_bytes = f * shape.k;
  // Outputs, the spectrum and the workspace get random data too: the passes overwrite
  // them, but the first calls must not see zeros either.
  std::pair<DeviceBuffer*, size_t> buffers[] = {
      {&r->x, x_bytes},
      {&r->w, w_bytes},
      {&r->bias, bias_bytes},
      {&r->y, y_bytes},
      {&r->gy, y_bytes},
      {&r->gx, x_bytes},
      {&r->gw, w_bytes},
      {&r->gb, bias_bytes},
      {&r->weight_spectrum, r->plan.WeightSpectrumBytes()},
      {&r->workspace, r->plan.WorkspaceBytes()},
  };
  for (auto& [buffer, bytes] : buffers) {
    FFTRAIN_ASSIGN_OR_RETURN(*buffer, RandomDeviceBuffer(bytes, random));
  }
  return r;
}

// The engine a plan reports by name (CudaFftConvPlan::product_name).
fftconv::ProductEngine ProductEngineNamed(absl::string_view name) {
  for (fftconv::ProductEngine engine :
       {fftconv::ProductEngine::kCgemm, fftconv::ProductEngine::kCgemm3m,
        fftconv::ProductEngine::kThin, fftconv::ProductEngine::kTf32x3,
        fftconv::ProductEngine::kTf32x3Wgmma}) {
    if (name == fftconv::ProductEngineName(engine)) return engine;
  }
  return fftconv::ProductEngine::kAuto;
}

// The cost model's peaks for the GPU called `gpu`, with each --peak_* flag that is set
// in their place; *note says where the GPU's come from.
GpuPeaks PeaksFor(absl::string_view gpu, std::string* note) {
  GpuPeaks peaks = fftconv::GpuPeaksForDevice(gpu, note);
  if (const double tflops = absl::GetFlag(FLAGS_peak_tflops); tflops != 0) {
    peaks.flops_per_second = tflops * 1e12;
  }
  if (const double tbps = absl::GetFlag(FLAGS_peak_tbps); tbps != 0) {
    peaks.bytes_per_second = tbps * 1e12;
  }
  if (const double tf32 = absl::GetFlag(FLAGS_peak_tf32_tflops); tf32 != 0) {
    peaks.tf32_tensor_flops_per_second = tf32 * 1e12;
  }
  return peaks;
}

double Median(std::vector<double> values) {
  const size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + mid, values.end());
  if (values.size() % 2 == 1) return values[mid];
  const double upper = values[mid];
  return 0.5 * (upper + *std::max_element(values.begin(), values.begin() + mid));
}

class Suite {
 public:
  // With a tuner, each layer runs the method the tuner picks; without, the plan's default.
  Suite(std::vector<Layer> layers, GpuPeaks peaks, int warmup, uint64_t seed,
        std::unique_ptr<ConvTuner> tuner)
      : layers_(std::move(layers)), peaks_(peaks), warmup_(warmup), seed_(seed),
        tuner_(std::move(tuner)) {}

  const std::vector<Layer>& layers() const { return layers_; }
  bool failed() const { return failed_; }

  void Run(benchmark::State& state, size_t layer, ConvPass pass) {
    if (absl::Status status = RunCase(state, layer, pass); !status.ok()) {
      failed_ = true;
      const std::string message = status.ToString();
      std::fprintf(stderr, "fft_conv_benchmark: %s/%s: %s\n", layers_[layer].name.c_str(),
                   std::string(ConvPassName(pass)).c_str(), message.c_str());
      state.SkipWithError(message.c_str());
    }
  }

 private:
  // One layer's resources at a time: the cases run layer by layer, and all the layers'
  // buffers together would not fit every GPU.
  absl::StatusOr<LayerResources*> Resources(size_t layer) {
    if (resources_ == nullptr || resources_layer_ != layer) {
      resources_.reset();
      FftConvOptions options;
      if (tuner_ != nullptr) {
        FFTRAIN_ASSIGN_OR_RETURN(TunedConv tuned,
                                 tuner_->Tune(layers_[layer].shape, false, nullptr));
        options = tuned.method.ToOptions(false);
        if (absl::GetFlag(FLAGS_print_tuning)) PrintTuning(layers_[layer].name, tuned);
      }
      FFTRAIN_ASSIGN_OR_RETURN(resources_,
                               CreateLayerResources(layers_[layer].shape, options, seed_ + layer));
      resources_layer_ = layer;
    }
    return resources_.get();
  }

  static void PrintTuning(const std::string& layer, const TunedConv& tuned) {
    for (const fftconv::MethodTiming& t : tuned.timings) {
      std::fprintf(stderr, "tuning %s: %-36s %9.4f ms a step, workspace %8.1f MiB%s\n",
                   layer.c_str(), t.method.ToString().c_str(), t.milliseconds,
                   t.workspace_bytes / 1048576.0, t.method == tuned.method ? "  <- picked" : "");
    }
  }

  static absl::Status CallPass(LayerResources& r, ConvPass pass) {
    switch (pass) {
      case ConvPass::kForward:
        return r.plan.Forward(r.x.as<float>(), r.w.as<float>(), r.bias.as<float>(),
                              r.y.as<float>(), r.spectra(), r.workspace.span(),
                              r.stream.get());
      case ConvPass::kBackwardData:
        return r.plan.BackwardData(r.gy.as<float>(), r.gx.as<float>(), r.spectra(),
                                   r.workspace.span(), r.stream.get());
      case ConvPass::kBackwardFilter:
        // kTransform: the pass transforms dL/dy itself, so it is complete on its own.
        return r.plan.BackwardFilter(r.x.as<float>(), r.gy.as<float>(), r.gw.as<float>(),
                                     r.gb.as<float>(), r.spectra(),
                                     GradOutputSpectrum::kTransform, r.workspace.span(),
                                     r.stream.get());
    }
    return absl::InternalError("unknown pass");
  }

  absl::Status RunCase(benchmark::State& state, size_t layer, ConvPass pass) {
    const ConvShape& shape = layers_[layer].shape;
    state.SetLabel(shape.ToString());
    // Backward data of a training step reads the W^ that Forward made; the bound counts
    // the same work.
    const WeightSpectrum weights =
        pass == ConvPass::kBackwardData ? WeightSpectrum::kGiven : WeightSpectrum::kTransform;
    FFTRAIN_ASSIGN_OR_RETURN(LayerResources* r, Resources(layer));
    FFTRAIN_ASSIGN_OR_RETURN(const RooflineBound bound,
                             FftRooflineBound(shape, pass, peaks_, weights,
                                              ProductEngineNamed(r->plan.product_name())));
    state.SetLabel(absl::StrCat(shape.ToString(), "; ", r->plan.method_name()));
    if (pass == ConvPass::kBackwardData) {
      FFTRAIN_RETURN_IF_ERROR(r->plan.TransformWeights(r->w.as<float>(), r->spectra(),
                                                       r->workspace.span(), r->stream.get()));
    }
    for (int i = 0; i < warmup_; ++i) FFTRAIN_RETURN_IF_ERROR(CallPass(*r, pass));
    FFTRAIN_RETURN_IF_ERROR(r->stream.Synchronize());

    std::vector<double> ms;
    ms.reserve(static_cast<size_t>(std::min<benchmark::IterationCount>(state.max_iterations,
                                                                        1 << 16)));
    for (auto _ : state) {
      FFTRAIN_RETURN_IF_ERROR(r->start.Record(r->stream.get()));
      FFTRAIN_RETURN_IF_ERROR(CallPass(*r, pass));
      FFTRAIN_RETURN_IF_ERROR(r->stop.Record(r->stream.get()));
      FFTRAIN_RETURN_IF_ERROR(r->stop.Synchronize());
      FFTRAIN_ASSIGN_OR_RETURN(const float elapsed_ms, r->stop.MillisecondsSince(r->start));
      state.SetIterationTime(elapsed_ms * 1e-3);
      ms.push_back(elapsed_ms);
    }
    // Errors of the work itself surface here, not at the enqueue.
    FFTRAIN_RETURN_IF_ERROR(r->stream.Synchronize());
    if (ms.empty()) return absl::OkStatus();

    const double median_ms = Median(std::move(ms));
    const double direct_flops = 2.0 * shape.DirectMacs();
    state.counters["ms"] = median_ms;
    state.counters["TFLOPs"] = direct_flops / (median_ms * 1e-3) / 1e12;
    state.counters["bound_ms"] = bound.seconds() * 1e3;
    state.counters["x_bound"] = median_ms * 1e-3 / bound.seconds();
    state.counters["workspace_MiB"] =
        static_cast<double>(r->plan.WorkspaceBytes()) / (1 << 20);
    return absl::OkStatus();
  }

  std::vector<Layer> layers_;
  GpuPeaks peaks_;
  int warmup_;
  uint64_t seed_;
  std::unique_ptr<ConvTuner> tuner_;
  std::unique_ptr<LayerResources> resources_;
  size_t resources_layer_ = 0;
  bool failed_ = false;
};

void PrintHelp() {
  std::fputs(kUsage, stdout);
  benchmark::PrintDefaultHelp();
}

int Main(int argc, char** argv) {
  // Google Benchmark takes its --benchmark_* flags out of argv; Abseil parses the rest.
  benchmark::Initialize(&argc, argv, PrintHelp);
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    std::fprintf(stderr, "fft_conv_benchmark: unexpected argument '%s' (see --help)\n",
                 positional[1]);
    return 2;
  }

  auto layers = SelectLayers(absl::GetFlag(FLAGS_layers));
  if (!layers.ok()) {
    std::fprintf(stderr, "fft_conv_benchmark: %s\n",
                 std::string(layers.status().message()).c_str());
    return 2;
  }
  if (absl::GetFlag(FLAGS_list_layers)) {
    for (const Layer& layer : *layers) {
      std::printf("%s %s\n", layer.name.c_str(), layer.shape.ToString().c_str());
    }
    return 0;
  }
  // Checks the peaks given by flags (and every shape) before any GPU work.
  for (const Layer& layer : *layers) {
    std::string unused;
    auto bound = FftRooflineBound(layer.shape, ConvPass::kForward, PeaksFor("", &unused));
    if (!bound.ok()) {
      std::fprintf(stderr,
                   "fft_conv_benchmark: %s: %s (--peak_tflops, --peak_tbps, "
                   "--peak_tf32_tflops)\n",
                   layer.name.c_str(), std::string(bound.status().message()).c_str());
      return 2;
    }
  }
  const int warmup = absl::GetFlag(FLAGS_warmup);
  if (warmup < 0) {
    std::fprintf(stderr, "fft_conv_benchmark: --warmup must be >= 0, got %d\n", warmup);
    return 2;
  }

  std::string why_no_gpu;
  if (base::CudaDeviceCount(&why_no_gpu) == 0) {
    std::fprintf(stderr,
                 "fft_conv_benchmark: no CUDA GPU on this machine (%s); the benchmark times "
                 "GPU passes and needs one\n",
                 why_no_gpu.c_str());
    return 1;
  }
  auto gpu = base::CurrentDeviceDescription();
  if (!gpu.ok()) {
    std::fprintf(stderr, "fft_conv_benchmark: %s\n", gpu.status().ToString().c_str());
    return 1;
  }
  std::string peaks_note;
  const GpuPeaks peaks = PeaksFor(*gpu, &peaks_note);
  benchmark::AddCustomContext("gpu", *gpu);
  benchmark::AddCustomContext("peak_tflops", absl::StrFormat("%g", peaks.flops_per_second / 1e12));
  benchmark::AddCustomContext("peak_tbps", absl::StrFormat("%g", peaks.bytes_per_second / 1e12));
  benchmark::AddCustomContext("peak_tf32_tflops",
                              absl::StrFormat("%g", peaks.tf32_tensor_flops_per_second / 1e12));
  benchmark::AddCustomContext("peaks_source", peaks_note);
  benchmark::AddCustomContext("seed", absl::StrCat(absl::GetFlag(FLAGS_seed)));

  const std::string method = absl::GetFlag(FLAGS_method);
  std::unique_ptr<ConvTuner> tuner;
  if (method == "tuned" || method == "cost") {
    TunerOptions tuning;
    tuning.mode = method == "tuned" ? TuningMode::kMeasure : TuningMode::kCostModel;
    tuning.cache_path = absl::GetFlag(FLAGS_tuner_cache);
    tuning.peaks = peaks;
    auto created = ConvTuner::Create(tuning);
    if (!created.ok()) {
      std::fprintf(stderr, "fft_conv_benchmark: %s\n", created.status().ToString().c_str());
      return 1;
    }
    tuner = std::make_unique<ConvTuner>(*std::move(created));
  } else if (method != "default") {
    std::fprintf(stderr, "fft_conv_benchmark: --method must be tuned, cost or default; got '%s'\n",
                 method.c_str());
    return 1;
  }
  benchmark::AddCustomContext("method", method);
  Suite suite(*std::move(layers), peaks, warmup, absl::GetFlag(FLAGS_seed), std::move(tuner));
  for (size_t i = 0; i < suite.layers().size(); ++i) {
    for (ConvPass pass :
         {ConvPass::kForward, ConvPass::kBackwardData, ConvPass::kBackwardFilter}) {
      const std::string name = absl::StrCat(suite.layers()[i].name, "/", ConvPassName(pass));
      benchmark::RegisterBenchmark(name.c_str(),
                                   [&suite, i, pass](benchmark::State& state) {
                                     suite.Run(state, i, pass);
                                   })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  const size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (ran == 0) {
    std::fprintf(stderr, "fft_conv_benchmark: no case matched --benchmark_filter\n");
    return 1;
  }
  return suite.failed() ? 1 : 0;
}

}  // namespace
}  // namespace fftrain::bench

int main(int argc, char** argv) { return fftrain::bench::Main(argc, argv); }
