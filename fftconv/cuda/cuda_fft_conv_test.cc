#include "fftconv/cuda/cuda_fft_conv.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "fftconv/cuda/gpu_test_util.h"
#include "fftconv/cuda/cuda_plan_test_util.h"
#include "fftconv/test_util.h"
#include "fftconv/transform_size.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

using ::fftrain::base::MemorySpan;
using test_util::CpuReference;
using test_util::DeviceStep;
using test_util::ExpectBitwiseDeterministic;
using test_util::ExpectClose;
using test_util::ExpectStepMatchesGpuReference;
using test_util::GpuReference;
using test_util::HostResults;
using test_util::HostTensors;
using test_util::MakeTensors;
using test_util::RelativeError;
using test_util::RunPassesAlone;
using test_util::RunStep;
using test_util::SquareShape;
using test_util::kTolerance;
using ::testing::HasSubstr;

// How a sweep case sizes its transforms.
enum class Sizes {
  kPlanner,      // the planner's smallest 7-smooth size per dimension (odd ones too)
  kPowerOfTwo,   // the next power of two per dimension
  kRegisterSide  // the register kernels' smallest square side (13x13 for 13x11, ...)
};

// Each transform engine on its own, at the sizes it takes: cuFFT at the planner's smooth
// sizes, the batched kernels at powers of two and at the register kernels' smooth square
// sides, and the default choice (mixed).
struct EngineCase {
  const char* name;
  TransformEngine engine;
  Sizes sizes;
  ProductEngine product = ProductEngine::kAuto;
};

class CudaFftConvEngineTest : public ::testing::TestWithParam<EngineCase> {};

TEST_P(CudaFftConvEngineTest, SweepMatchesGpuAndCpuReferences) {
  const EngineCase& c = GetParam();
  if (c.product == ProductEngine::kTf32x3Wgmma) {
    FFTRAIN_SKIP_WITHOUT_WGMMA();
  } else {
    FFTRAIN_SKIP_WITHOUT_GPU();
  }
  double worst_gpu[4] = {0, 0, 0, 0}, worst_cpu[4] = {0, 0, 0, 0};
  uint32_t seed = 9000;
  std::vector<ConvShape> shapes;
  for (const ConvShape& s : test_util::SweepShapes()) {
    // The thin products take only layers with few input channels.
    if (c.product != ProductEngine::kThin || s.c <= kMaxThinChannels) shapes.push_back(s);
  }
  for (const ConvShape& s : shapes) {
    SCOPED_TRACE(s.ToString() + " seed " + std::to_string(seed) + " engine " + c.name);
    FftConvOptions options;
    options.transform = c.engine;
    options.product = c.product;
    if (c.sizes == Sizes::kPowerOfTwo) {
      options.fft_h = NextPowerOfTwo(s.padded_h());
      options.fft_w = NextPowerOfTwo(s.padded_w());
    } else if (c.sizes == Sizes::kRegisterSide) {
      options.fft_h = options.fft_w =
          RegisterFftSideAtLeast(std::max(s.padded_h(), s.padded_w()));
      ASSERT_GT(options.fft_h, 0);  // the sweep's padded inputs are below 128
    }
    auto plan = CudaFftConvPlan::Create(s, options);
    ASSERT_TRUE(plan.ok()) << plan.status();
    if (c.engine != TransformEngine::kAuto) {
      EXPECT_STREQ(plan->transform_name(),
                   c.engine == TransformEngine::kCufft ? "cufft" : "batched");
    }
    EXPECT_STREQ(plan->product_name(), ProductEngineName(c.product));
    const HostTensors t = MakeTensors(s, seed);
    seed += 10;
    DeviceStep d(*plan, t);
    RunStep(*plan, d);
    const HostResults got = d.Download(s);
    ExpectClose(got, GpuReference(s, d), kTolerance, worst_gpu);
    ExpectClose(got, CpuReference(s, t), kTolerance, worst_cpu);
  }
  std::printf("worst relative error, %s transforms, over %zu shapes (fwd, bwd data, bwd "
              "filter, bias): vs GPU reference %.2e %.2e %.2e %.2e; vs CPU reference %.2e "
              "%.2e %.2e %.2e\n",
              c.name, shapes.size(), worst_gpu[0], worst_gpu[1], worst_gpu[2], worst_gpu[3],
              worst_cpu[0], worst_cpu[1], worst_cpu[2], worst_cpu[3]);
}

INSTANTIATE_TEST_SUITE_P(
    Engines, CudaFftConvEngineTest,
    ::testing::Values(EngineCase{"cufft", TransformEngine::kCufft, Sizes::kPlanner},
                      EngineCase{"batched", TransformEngine::kBatchedKernels, Sizes::kPowerOfTwo},
                      EngineCase{"register_sides", TransformEngine::kBatchedKernels,
                                 Sizes::kRegisterSide},
                      EngineCase{"auto", TransformEngine::kAuto, Sizes::kPlanner},
                      EngineCase{"cgemm3m", TransformEngine::kAuto, Sizes::kPlanner,
                                 ProductEngine::kCgemm3m},
                      // Our tensor-core products, after cuFFT at odd sizes and after our
                      // kernels at the register sides.
                      EngineCase{"tf32x3", TransformEngine::kAuto, Sizes::kPlanner,
                                 ProductEngine::kTf32x3},
                      EngineCase{"tf32x3_register_sides", TransformEngine::kBatchedKernels,
                                 Sizes::kRegisterSide, ProductEngine::kTf32x3},
                      // The same on wgmma (compute capability 9.0 only).
                      EngineCase{"tf32x3_wgmma", TransformEngine::kAuto, Sizes::kPlanner,
                                 ProductEngine::kTf32x3Wgmma},
                      EngineCase{"tf32x3_wgmma_register_sides", TransformEngine::kBatchedKernels,
                                 Sizes::kRegisterSide, ProductEngine::kTf32x3Wgmma},
                      // Thin products on map-major spectra, from each transform engine.
                      EngineCase{"thin_cufft", TransformEngine::kCufft, Sizes::kPlanner,
                                 ProductEngine::kThin},
                      EngineCase{"thin_batched", TransformEngine::kBatchedKernels,
                                 Sizes::kPowerOfTwo, ProductEngine::kThin},
                      EngineCase{"thin_register_sides", TransformEngine::kBatchedKernels,
                                 Sizes::kRegisterSide, ProductEngine::kThin}),
    [](const ::testing::TestParamInfo<EngineCase>& info) { return std::string(info.param.name); });

// Plans of different sizes live side by side in a network; making a small one must not
// break a large one made before it (the kernels' shared-memory limit is per kernel).
TEST(CudaFftConvTest, BatchedPlansOfDifferentSizesCoexist) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  const ConvShape large = SquareShape(2, 3, 4, 120, 9);  // 128x128 transforms
  ConvShape small = large;
  small.h = small.w = 30;  // 32x32
  FftConvOptions batched;
  batched.transform = TransformEngine::kBatchedKernels;
  batched.fft_h = batched.fft_w = 128;
  auto first = CudaFftConvPlan::Create(large, batched);
  ASSERT_TRUE(first.ok()) << first.status();
  batched.fft_h = batched.fft_w = 32;
  auto second = CudaFftConvPlan::Create(small, batched);
  ASSERT_TRUE(second.ok()) << second.status();
  ExpectStepMatchesGpuReference(*first, 55);
}

// 128x128 map-major transforms (one map a block) are beyond the sweep's sizes.
TEST(CudaFftConvTest, ThinProductsAt128MatchTheReference) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  FftConvOptions options;
  options.transform = TransformEngine::kBatchedKernels;
  options.product = ProductEngine::kThin;
  options.fft_h = options.fft_w = 128;
  auto plan = CudaFftConvPlan::Create(SquareShape(3, 3, 5, 120, 9), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectStepMatchesGpuReference(*plan, 66);
}

TEST(CudaFftConvTest, ThinProductsRefuseManyInputChannels) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  ConvShape s;
  s.c = kMaxThinChannels + 1;
  FftConvOptions options;
  options.product = ProductEngine::kThin;
  const auto plan = CudaFftConvPlan::Create(s, options);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("at most 8 input channels"));
}

TEST(CudaFftConvTest, BatchedKernelsRefuseSizesTheyDoNotTake) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  ConvShape s;
  s.h = s.w = 15;  // padded 15 -> smooth 15: odd, which neither kernel family takes
  FftConvOptions options;
  options.transform = TransformEngine::kBatchedKernels;
  const auto plan = CudaFftConvPlan::Create(s, options);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("15x15"));
  options.fft_h = options.fft_w = 256;  // a power of two, but too large
  EXPECT_EQ(CudaFftConvPlan::Create(s, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.transform = TransformEngine::kAuto;  // falls back to cuFFT
  auto fallback = CudaFftConvPlan::Create(s, options);
  ASSERT_TRUE(fallback.ok());
  EXPECT_STREQ(fallback->transform_name(), "cufft");
}

ConvShape MidShape() {
  ConvShape s;
  s.n = 6;
  s.c = 5;
  s.h = 21;
  s.w = 17;
  s.k = 7;
  s.kh = 5;
  s.kw = 3;
  s.pad_h = 2;
  s.pad_w = 1;
  return s;
}

TEST(CudaFftConvTest, ReuseAndKeptInputSpectrumMatchFreshTransforms) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  const ConvShape s = MidShape();
  FftConvOptions keep;
  keep.keep_input_spectrum = true;
  auto kept = CudaFftConvPlan::Create(s, keep);
  auto plain = CudaFftConvPlan::Create(s);
  ASSERT_TRUE(kept.ok() && plain.ok());
  const HostTensors t = MakeTensors(s, 77);
  DeviceStep reused(*kept, t);
  RunStep(*kept, reused);

  // Each pass alone on the plain plan: a different x to BackwardFilter for the kept plan
  // would be ignored; here the plain plan must transform x itself.
  DeviceStep fresh(*plain, t);
  RunPassesAlone(*plain, fresh);
  const HostResults a = reused.Download(s), b = fresh.Download(s);
  EXPECT_LE(RelativeError(a.gx, b.gx), 1e-6);
  EXPECT_LE(RelativeError(a.gw, b.gw), 1e-6);
  EXPECT_EQ(a.gb, b.gb);
  const HostResults want = CpuReference(s, t);
  EXPECT_LE(RelativeError(a.y, want.y), kTolerance);
  EXPECT_LE(RelativeError(a.gw, want.gw), kTolerance);
}

TEST(CudaFftConvTest, SameInputsGiveBitwiseSameOutputs) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  auto plan = CudaFftConvPlan::Create(MidShape());
  ASSERT_TRUE(plan.ok());
  ExpectBitwiseDeterministic(*plan, 3);
}

// The bias gradient comes from dL/dy's DC bins, summed over images in groups per block of
// 32 channels: channel and image counts that fill neither a block nor a group, with each
// transform engine and both spectrum orders.
TEST(CudaFftConvTest, BiasGradientFromDcBinsCoversPartialBlocks) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  const ConvShape s = SquareShape(19, 2, 70, 9, 3);
  for (auto [engine, product] :
       {std::pair{TransformEngine::kCufft, ProductEngine::kCgemm},
        std::pair{TransformEngine::kBatchedKernels, ProductEngine::kCgemm},
        std::pair{TransformEngine::kBatchedKernels, ProductEngine::kThin}}) {
    FftConvOptions options;
    options.transform = engine;
    options.product = product;
    options.fft_h = options.fft_w = 16;
    auto plan = CudaFftConvPlan::Create(s, options);
    ASSERT_TRUE(plan.ok()) << plan.status();
    SCOPED_TRACE(std::string(plan->transform_name()) + " " + plan->product_name());
    const HostTensors t = MakeTensors(s, 123);
    DeviceStep d(*plan, t);
    RunStep(*plan, d);
    EXPECT_LE(RelativeError(d.Download(s).gb, CpuReference(s, t).gb), kTolerance);
  }
}

TEST(CudaFftConvTest, WorkspaceCoversLayoutAndLibraryWorkAreas) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  auto plan = CudaFftConvPlan::Create(MidShape());
  ASSERT_TRUE(plan.ok());
  // The plan lays its spectra out as SpectralLayout does for the same shape and options.
  auto layout = SpectralLayout::Create(MidShape(), {});
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_GT(plan->WorkspaceBytes(), layout->backend_offset());
  EXPECT_EQ(plan->WeightSpectrumBytes(), 8u * layout->bins() * 7 * 5);
  EXPECT_EQ(plan->InputSpectrumBytes(), layout->InputSpectrumBytes());
}

TEST(CudaFftConvTest, RefusesBadArguments) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  const ConvShape s = MidShape();
  auto plan = CudaFftConvPlan::Create(s);
  ASSERT_TRUE(plan.ok());
  DeviceStep d(*plan, MakeTensors(s, 1));
  auto message = [](const absl::Status& status) { return std::string(status.message()); };
  std::vector<float> host_x(s.input_elements());
  EXPECT_THAT(message(plan->Forward(host_x.data(), d.w.as<float>(), nullptr, d.y.as<float>(),
                                    d.spectra(), d.workspace.span(), nullptr)),
              HasSubstr("tensor x is not in device memory"));
  EXPECT_THAT(message(plan->Forward(d.x.as<float>(), nullptr, nullptr, d.y.as<float>(),
                                    d.spectra(), d.workspace.span(), nullptr)),
              HasSubstr("tensor w is null"));
  MemorySpan small = d.workspace.span();
  small.bytes = plan->WorkspaceBytes() - 1;
  EXPECT_THAT(message(plan->BackwardData(d.gy.as<float>(), d.gx.as<float>(), d.spectra(), small,
                                         nullptr)),
              HasSubstr("workspace holds"));
  EXPECT_THAT(message(plan->BackwardData(d.gy.as<float>(), d.gx.as<float>(), LayerSpectra{},
                                         d.workspace.span(), nullptr)),
              HasSubstr("weight spectrum"));
  ConvShape bad = s;
  bad.pad_w = -1;
  EXPECT_THAT(message(CudaFftConvPlan::Create(bad).status()), HasSubstr("pad_w"));
}

}  // namespace
}  // namespace fftrain::fftconv
