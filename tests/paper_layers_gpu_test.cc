// L1..L5 of convnet-benchmarks at full size (batch 128): the FFT passes on the GPU
// against the direct GPU reference with double accumulation.
#include <cstdio>
#include <tuple>
#include <vector>

#include "fftconv/cost_model.h"
#include "fftconv/cuda/gpu_test_util.h"
#include "fftconv/cuda/cuda_fft_conv.h"
#include "fftconv/cuda/gpu_reference_conv.h"
#include "fftconv/test_util.h"
#include "fftconv/transform_size.h"
#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

using ::fftrain::base::DeviceBuffer;
using test_util::Download;
using test_util::Poisoned;
using test_util::RandomVector;
using test_util::RelativeError;
using test_util::Upload;

// Why 5e-5 holds: the error of a float32 FFT grows like eps*log2(points) (eps = 6e-8;
// 128x128 points: 14 stages, ~1e-6 per transform); each output is a sum over the
// accumulation length (C = 3..384 forward, K = 96..384 backward data, N = 128 backward
// filter, per frequency) whose rounding adds about eps*sqrt(length) relative to the sum's
// scale; and max|ref| normalises by the largest output, which for random inputs is a few
// standard deviations above typical. Together that is a few 1e-6; 5e-5 leaves an order
// of magnitude for the worst element among up to 10^8.
constexpr double kTolerance = 5e-5;

// Options for `engine`: cuFFT at the planner's smooth sizes, the batched kernels at powers
// of two (L5's 13x13 then runs on 16x16).
FftConvOptions OptionsFor(const ConvShape& s, TransformEngine engine, ProductEngine product) {
  FftConvOptions options;
  options.transform = engine;
  options.product = product;
  if (engine == TransformEngine::kBatchedKernels) {
    options.fft_h = NextPowerOfTwo(s.padded_h());
    options.fft_w = NextPowerOfTwo(s.padded_w());
  }
  return options;
}

// Layer `index` (0 for L1) run with `options` against the GPU reference, all passes.
void ExpectLayerMatchesReference(int index, const FftConvOptions& options) {
  const ConvShape s = ConvnetBenchmarkLayers()[index];
  const uint32_t seed = 100 + index;
  SCOPED_TRACE("L" + std::to_string(index + 1) + " " + s.ToString() + " seed " +
               std::to_string(seed));
  auto plan = CudaFftConvPlan::Create(s, options);
  ASSERT_TRUE(plan.ok()) << plan.status();

  DeviceBuffer x = Upload(RandomVector(s.input_elements(), seed));
  DeviceBuffer w = Upload(RandomVector(s.weight_elements(), seed + 1));
  DeviceBuffer bias = Upload(RandomVector(s.k, seed + 2));
  DeviceBuffer gy = Upload(RandomVector(s.output_elements(), seed + 3));
  DeviceBuffer y = Poisoned(s.output_elements()), gx = Poisoned(s.input_elements()),
               gw = Poisoned(s.weight_elements()), gb = Poisoned(s.k);
  auto workspace = DeviceBuffer::Allocate(plan->WorkspaceBytes());
  auto weight_spectrum = DeviceBuffer::Allocate(plan->WeightSpectrumBytes());
  ASSERT_TRUE(workspace.ok() && weight_spectrum.ok());
  const LayerSpectra spectra{weight_spectrum->span(), {}};
  ASSERT_TRUE(plan->Forward(x.as<float>(), w.as<float>(), bias.as<float>(), y.as<float>(),
                            spectra, workspace->span(), nullptr)
                  .ok());
  ASSERT_TRUE(plan->BackwardData(gy.as<float>(), gx.as<float>(), spectra, workspace->span(),
                                 nullptr)
                  .ok());
  ASSERT_TRUE(plan->BackwardFilter(x.as<float>(), gy.as<float>(), gw.as<float>(),
                                   gb.as<float>(), spectra,
                                   GradOutputSpectrum::kFromBackwardData, workspace->span(),
                                   nullptr)
                  .ok());
  const auto got_y = Download(y, s.output_elements());
  const auto got_gx = Download(gx, s.input_elements());
  const auto got_gw = Download(gw, s.weight_elements());
  const auto got_gb = Download(gb, s.k);
  // Free the FFT path's memory before the reference runs.
  *workspace = DeviceBuffer();

  DeviceBuffer ref = Poisoned(std::max(s.output_elements(), s.input_elements()));
  auto scratch = DeviceBuffer::Allocate(GpuReferenceBackwardFilterWorkspaceBytes(s));
  ASSERT_TRUE(scratch.ok());
  ASSERT_TRUE(GpuReferenceForward(s, x.as<float>(), w.as<float>(), bias.as<float>(),
                                  ref.as<float>(), nullptr)
                  .ok());
  const double forward = RelativeError(got_y, Download(ref, s.output_elements()));
  ASSERT_TRUE(
      GpuReferenceBackwardData(s, gy.as<float>(), w.as<float>(), ref.as<float>(), nullptr).ok());
  const double backward_data = RelativeError(got_gx, Download(ref, s.input_elements()));
  DeviceBuffer ref_gb = Poisoned(s.k);
  ASSERT_TRUE(GpuReferenceBackwardFilter(s, x.as<float>(), gy.as<float>(), ref.as<float>(),
                                         ref_gb.as<float>(), scratch->span(), nullptr)
                  .ok());
  const double backward_filter = RelativeError(got_gw, Download(ref, s.weight_elements()));
  const double bias_gradient = RelativeError(got_gb, Download(ref_gb, s.k));
  std::printf("L%d %s (%s): relative error forward %.2e, backward data %.2e, "
              "backward filter %.2e, bias gradient %.2e\n",
              index + 1, s.ToString().c_str(), plan->method_name().c_str(), forward,
              backward_data, backward_filter, bias_gradient);
  EXPECT_LE(forward, kTolerance);
  EXPECT_LE(backward_data, kTolerance);
  EXPECT_LE(backward_filter, kTolerance);
  EXPECT_LE(bias_gradient, kTolerance);
}

// Each layer with each transform engine and CGEMM.
class PaperLayerTest : public ::testing::TestWithParam<std::tuple<int, TransformEngine>> {};

TEST_P(PaperLayerTest, AllPassesMatchTheGpuReference) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  const int index = std::get<0>(GetParam());
  ExpectLayerMatchesReference(
      index, OptionsFor(ConvnetBenchmarkLayers()[index], std::get<1>(GetParam()),
                        ProductEngine::kCgemm));
}

// L1 (3 input channels) is the layer the tuner gives the thin products, on map-major
// spectra: 128x128 batched transforms and cuFFT at 128x128 too.
TEST(PaperLayerThinTest, L1WithThinProductsMatchesTheGpuReference) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  const ConvShape l1 = ConvnetBenchmarkLayers()[0];
  ASSERT_LE(l1.c, kMaxThinChannels);
  for (TransformEngine engine : {TransformEngine::kBatchedKernels, TransformEngine::kCufft}) {
    ExpectLayerMatchesReference(0, OptionsFor(l1, engine, ProductEngine::kThin));
  }
}

// L5's 13x13 maps on the register kernels' smooth sides, which the tuner offers beside
// 16x16's 144 bins a map: 13x13 (one 13-point DFT a line, 91 bins; the side it picks) and
// 14x14 (mixed radix 2 x 7, 112 bins).
constexpr int64_t kL5RegisterSides[] = {13, 14};

TEST(PaperLayerSmoothSideTest, L5OnRegisterSidesMatchesTheGpuReference) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  const ConvShape l5 = ConvnetBenchmarkLayers()[4];
  for (int64_t side : kL5RegisterSides) {
    for (ProductEngine product :
         {ProductEngine::kCgemm, ProductEngine::kCgemm3m, ProductEngine::kTf32x3}) {
      SCOPED_TRACE(side);
      FftConvOptions options = OptionsFor(l5, TransformEngine::kBatchedKernels, product);
      options.fft_h = options.fft_w = side;
      ExpectLayerMatchesReference(4, options);
    }
  }
}

// The same on the wgmma products, which the tuner picks for L5 on Hopper.
TEST(PaperLayerSmoothSideTest, L5OnRegisterSidesWithWgmmaProductsMatchesTheGpuReference) {
  FFTRAIN_SKIP_WITHOUT_WGMMA();
  const ConvShape l5 = ConvnetBenchmarkLayers()[4];
  for (int64_t side : kL5RegisterSides) {
    SCOPED_TRACE(side);
    FftConvOptions options =
        OptionsFor(l5, TransformEngine::kBatchedKernels, ProductEngine::kTf32x3Wgmma);
    options.fft_h = options.fft_w = side;
    ExpectLayerMatchesReference(4, options);
  }
}

INSTANTIATE_TEST_SUITE_P(
    ConvnetBenchmarks, PaperLayerTest,
    ::testing::Combine(::testing::Range(0, 5),
                       ::testing::Values(TransformEngine::kCufft,
                                         TransformEngine::kBatchedKernels)),
    [](const ::testing::TestParamInfo<std::tuple<int, TransformEngine>>& info) {
      return "L" + std::to_string(std::get<0>(info.param) + 1) +
             (std::get<1>(info.param) == TransformEngine::kCufft ? "_cufft" : "_batched");
    });

}  // namespace
}  // namespace fftrain::fftconv
