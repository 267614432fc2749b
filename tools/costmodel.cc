// Prints the paper's operation counts and memory formula for a list of layers, next to
// our plans' workspace, then each pass's roofline bound on a GPU (fftconv/cost_model.h,
// the model the tuner and the benchmarks use). Default: L1..L5 of convnet-benchmarks,
// batch 128, on an H100 SXM.
//
//   bazel run //tools:costmodel
//   bazel run //tools:costmodel -- --layers="128,96,32,32,256,5;64,96,64,64,256,9,4"
//   bazel run //tools:costmodel -- --gpu="NVIDIA H200"
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "fftconv/cost_model.h"

ABSL_FLAG(std::string, layers, "",
          "Layers separated by ';', each 'N,C,H,W,K,k[,pad]' (square kernel and padding) or "
          "'N,C,H,W,K,kh,kw,pad_h,pad_w'. Empty: L1..L5 of convnet-benchmarks.");
ABSL_FLAG(std::string, gpu, "NVIDIA H100 80GB HBM3",
          "The GPU of the roofline bounds, by its CUDA name (\"NVIDIA H200\"); one not in "
          "fftconv/cost_model.cc's table gets the H100 SXM's peaks.");

namespace fftrain::fftconv {
namespace {

absl::StatusOr<ConvShape> ParseLayer(absl::string_view text) {
  std::vector<int64_t> v;
  for (absl::string_view field : absl::StrSplit(text, ',')) {
    int64_t value;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(field), &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer '", text, "': '", field, "' is not an integer"));
    }
    v.push_back(value);
  }
  ConvShape s;
  if (v.size() == 6 || v.size() == 7) {
    s = {v[0], v[1], v[2], v[3], v[4], v[5], v[5], v.size() == 7 ? v[6] : 0,
         v.size() == 7 ? v[6] : 0};
  } else if (v.size() == 9) {
    s = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]};
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "layer '", text, "' has ", v.size(),
        " numbers; expected 6 or 7 (N,C,H,W,K,k[,pad]) or 9 (N,C,H,W,K,kh,kw,pad_h,pad_w)"));
  }
  if (absl::Status status = s.Validate(); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("layer '", text, "': ", status.message()));
  }
  return s;
}

// Each pass's bound at the transform size with the fewest bins, with the products on the
// CUDA cores (CGEMM) and on the tensor cores (tf32x3).
int PrintBounds(const std::vector<ConvShape>& layers, const std::vector<std::string>& names) {
  std::string source;
  const GpuPeaks peaks = GpuPeaksForDevice(absl::GetFlag(FLAGS_gpu), &source);
  std::printf("\nRoofline bound per pass in ms, products on the CUDA cores (CGEMM) / on the "
              "tensor cores (tf32x3), backward data from the forward pass's W^:\n"
              "%s: %g TFLOP/s fp32, %g TFLOP/s dense TF32, %g TB/s (%s)\n\n",
              absl::GetFlag(FLAGS_gpu).c_str(), peaks.flops_per_second / 1e12,
              peaks.tf32_tensor_flops_per_second / 1e12, peaks.bytes_per_second / 1e12,
              source.c_str());
  std::printf("%-4s %-19s %-19s %-19s\n", "", "forward", "backward data", "backward filter");
  for (size_t i = 0; i < layers.size(); ++i) {
    std::printf("%-4s", names[i].c_str());
    for (ConvPass pass :
         {ConvPass::kForward, ConvPass::kBackwardData, ConvPass::kBackwardFilter}) {
      double ms[2];
      int j = 0;
      for (ProductEngine products : {ProductEngine::kCgemm, ProductEngine::kTf32x3}) {
        auto bound = FftRooflineBound(layers[i], pass, peaks, WeightSpectrum::kGiven, products);
        if (!bound.ok()) {
          std::fprintf(stderr, "costmodel: %s\n",
                       std::string(bound.status().message()).c_str());
          return 1;
        }
        ms[j++] = bound->seconds() * 1e3;
      }
      std::printf(" %8.3f / %-8.3f", ms[0], ms[1]);
    }
    std::printf("\n");
  }
  return 0;
}

int Run() {
  std::vector<ConvShape> layers;
  std::vector<std::string> names;
  const std::string spec = absl::GetFlag(FLAGS_layers);
  if (spec.empty()) {
    layers = ConvnetBenchmarkLayers();
    for (size_t i = 0; i < layers.size(); ++i) names.push_back(absl::StrCat("L", i + 1));
  } else {
    for (absl::string_view text : absl::StrSplit(spec, ';', absl::SkipWhitespace())) {
      auto layer = ParseLayer(text);
      if (!layer.ok()) {
        std::fprintf(stderr, "costmodel: %s\n", std::string(layer.status().message()).c_str());
        return 1;
      }
      layers.push_back(*layer);
      names.push_back(absl::StrCat("#", layers.size()));
    }
    if (layers.empty()) {
      std::fprintf(stderr, "costmodel: --layers names no layer\n");
      return 1;
    }
  }
  std::printf("Per pass (forward, backward data and backward filter cost the same). GFLOP "
              "counts a multiply-add as 2.\n"
              "FFT = the paper's count: 5 n^2 log2(n) (NK+NC+KC) for transforms + "
              "4 N C K n^2 for products, n^2 = fft_h*fft_w.\n"
              "Memory: paper 4 n (n+1) (NC+NK+KC) bytes; ours = CPU workspace (the CUDA "
              "backend adds cuFFT's and cuBLAS's work areas) + the layer's weight spectrum.\n\n");
  std::printf("%-4s %-44s %-9s %10s %10s %10s %8s %11s %11s %11s\n", "", "shape", "fft",
              "direct GF", "FFT-xf GF", "FFT-mul GF", "dir/FFT", "paper MiB", "wksp MiB",
              "W^ MiB");
  constexpr double kMiB = 1 << 20;
  for (size_t i = 0; i < layers.size(); ++i) {
    auto e = EstimateCost(layers[i]);
    if (!e.ok()) {
      std::fprintf(stderr, "costmodel: %s\n", std::string(e.status().message()).c_str());
      return 1;
    }
    std::printf("%-4s %-44s %4dx%-4d %10.1f %10.1f %10.1f %8.2f %11.1f %11.1f %11.1f\n",
                names[i].c_str(), layers[i].ToString().c_str(), static_cast<int>(e->fft_h),
                static_cast<int>(e->fft_w), e->direct_flops / 1e9,
                e->fft_transform_flops / 1e9, e->fft_product_flops / 1e9, e->direct_over_fft(),
                e->paper_memory_bytes / kMiB, e->workspace_bytes / kMiB,
                e->weight_spectrum_bytes / kMiB);
  }
  return PrintBounds(layers, names);
}

}  // namespace
}  // namespace fftrain::fftconv

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Prints the paper's cost model for convolution layers (default L1..L5).");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "costmodel: unexpected argument '%s'\n", rest[1]);
    return 1;
  }
  return fftrain::fftconv::Run();
}
