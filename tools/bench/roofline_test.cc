#include "tools/bench/roofline.h"

#include <cmath>
#include <limits>

#include "fftconv/cost_model.h"
#include "gtest/gtest.h"

namespace fftrain::bench {
namespace {

using fftconv::ConvShape;

// N=2, C=3, 8x8 input, K=4, 3x3 kernel: 8x8 transforms, bins = 8 * 5 = 40, so 320 bytes
// per spectrum map; maps N*C = 6, K*C = 12, N*K = 8 (26 in all).
ConvShape SmallShape() {
  ConvShape s;
  s.n = 2;
  s.c = 3;
  s.h = s.w = 8;
  s.k = 4;
  s.kh = s.kw = 3;
  return s;
}

// Peaks of 1 flop/s and 1 byte/s make the bound's two terms equal to the counts.
constexpr GpuPeaks kUnitPeaks{1.0, 1.0};

// Transforms: 5 * 64 * log2(8) = 960 flops per map, 26 maps = 24960; products:
// 4 * 2*3*4 * 64 = 6144.
constexpr double kAllFlops = 24960 + 6144;
// x 2*3*64 floats = 1536 bytes, w 4*3*9 = 432, y 2*4*6*6 = 1152, bias 16; every spectrum
// written and read once: 2 * 320 * 26 = 16640.
constexpr double kX = 1536, kW = 432, kY = 1152, kBias = 16, kAllSpectra = 16640;

TEST(RooflineTest, ForwardCountsInputsOutputAndEverySpectrum) {
  auto bound = FftRooflineBound(SmallShape(), ConvPass::kForward, kUnitPeaks);
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_DOUBLE_EQ(bound->flops, kAllFlops);
  EXPECT_DOUBLE_EQ(bound->bytes, kX + kW + kBias + kY + kAllSpectra);
}

TEST(RooflineTest, FlopsAreTheCostModelsFftCount) {
  auto cost = fftconv::EstimateCost(SmallShape());
  ASSERT_TRUE(cost.ok()) << cost.status();
  for (ConvPass pass :
       {ConvPass::kForward, ConvPass::kBackwardData, ConvPass::kBackwardFilter}) {
    auto bound = FftRooflineBound(SmallShape(), pass, kUnitPeaks);
    ASSERT_TRUE(bound.ok()) << bound.status();
    EXPECT_DOUBLE_EQ(bound->flops, cost->fft_flops()) << ConvPassName(pass);
  }
}

// L5's 13x13 input: the register kernels' 13x13 (91 bins) has fewer bins than the
// default 14x14 (112), so the bound counts 13x13; 12x12 inputs stay at 12x12.
TEST(RooflineTest, TakesTheSizeWithFewestBinsTheTunerOffers) {
  ConvShape l5 = SmallShape();
  l5.h = l5.w = 13;
  fftconv::FftConvOptions side_13;
  side_13.fft_h = side_13.fft_w = 13;
  auto at_13 = fftconv::EstimateCost(l5, side_13);
  auto at_14 = fftconv::EstimateCost(l5);
  ASSERT_TRUE(at_13.ok() && at_14.ok());
  ASSERT_EQ(at_14->fft_h, 14);
  auto bound = FftRooflineBound(l5, ConvPass::kForward, kUnitPeaks);
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_DOUBLE_EQ(bound->flops, at_13->fft_flops());
  EXPECT_LT(bound->flops, at_14->fft_flops());

  ConvShape even = SmallShape();
  even.h = even.w = 12;
  auto at_12 = fftconv::EstimateCost(even);
  ASSERT_TRUE(at_12.ok());
  ASSERT_EQ(at_12->fft_h, 12);
  auto even_bound = FftRooflineBound(even, ConvPass::kForward, kUnitPeaks);
  ASSERT_TRUE(even_bound.ok());
  EXPECT_DOUBLE_EQ(even_bound->flops, at_12->fft_flops());
}

TEST(RooflineTest, BackwardDataTransformingTheWeights) {
  auto bound = FftRooflineBound(SmallShape(), ConvPass::kBackwardData, kUnitPeaks,
                                WeightSpectrum::kTransform);
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_DOUBLE_EQ(bound->flops, kAllFlops);
  EXPECT_DOUBLE_EQ(bound->bytes, kY + kW + kX + kAllSpectra);
}

TEST(RooflineTest, BackwardDataWithAGivenWeightSpectrum) {
  auto bound = FftRooflineBound(SmallShape(), ConvPass::kBackwardData, kUnitPeaks,
                                WeightSpectrum::kGiven);
  ASSERT_TRUE(bound.ok()) << bound.status();
  // 12 weight maps fewer to transform; W^ read once (12 * 320), GY^ and GX^ (8 + 6 maps)
  // written and read.
  EXPECT_DOUBLE_EQ(bound->flops, kAllFlops - 12 * 960);
  EXPECT_DOUBLE_EQ(bound->bytes, kY + kX + 12 * 320 + 2 * 320 * 14);
}

TEST(RooflineTest, BackwardFilterWritesWeightAndBiasGradients) {
  auto bound = FftRooflineBound(SmallShape(), ConvPass::kBackwardFilter, kUnitPeaks);
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_DOUBLE_EQ(bound->flops, kAllFlops);
  EXPECT_DOUBLE_EQ(bound->bytes, kX + kY + kW + kBias + kAllSpectra);
}

TEST(RooflineTest, BoundIsTheSlowerOfComputeAndMemory) {
  const double bytes = kX + kW + kBias + kY + kAllSpectra;
  auto compute = FftRooflineBound(SmallShape(), ConvPass::kForward, {1e3, 1e3});
  ASSERT_TRUE(compute.ok()) << compute.status();
  EXPECT_DOUBLE_EQ(compute->compute_seconds, kAllFlops / 1e3);
  EXPECT_DOUBLE_EQ(compute->memory_seconds, bytes / 1e3);
  EXPECT_DOUBLE_EQ(compute->seconds(), kAllFlops / 1e3);
  EXPECT_FALSE(compute->memory_bound());

  auto memory = FftRooflineBound(SmallShape(), ConvPass::kForward, {1e6, 1e3});
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_DOUBLE_EQ(memory->seconds(), bytes / 1e3);
  EXPECT_TRUE(memory->memory_bound());
}

TEST(RooflineTest, DefaultPeaksAreTheH100s) {
  GpuPeaks peaks;
  EXPECT_EQ(peaks.flops_per_second, 67e12);
  EXPECT_EQ(peaks.bytes_per_second, 3.0e12);
  // L3 (128->128, 32x32, k9, 32x32 transforms of 32*17 bins) is memory-bound on an H100:
  // 9.8 GFLOP (0.15 ms) against 0.54 GB (0.18 ms), most of it the spectra.
  auto bound = FftRooflineBound(fftconv::ConvnetBenchmarkLayers()[2], ConvPass::kForward,
                                peaks);
  ASSERT_TRUE(bound.ok()) << bound.status();
  const double maps = 3 * 128 * 128;
  EXPECT_DOUBLE_EQ(bound->flops, 5.0 * 1024 * 5 * maps + 4.0 * 128 * 128 * 128 * 1024);
  const double bytes = 4.0 * (128 * 128 * 32 * 32 + 128 * 128 * 9 * 9 + 128 +
                              128 * 128 * 24 * 24) +
                       2 * 8.0 * 32 * 17 * maps;
  EXPECT_DOUBLE_EQ(bound->bytes, bytes);
  EXPECT_TRUE(bound->memory_bound());
  EXPECT_DOUBLE_EQ(bound->seconds(), bytes / 3.0e12);
}

TEST(RooflineTest, RefusesBadPeaks) {
  for (GpuPeaks peaks : {GpuPeaks{0, 1}, GpuPeaks{1, -1},
                         GpuPeaks{std::numeric_limits<double>::quiet_NaN(), 1},
                         GpuPeaks{1, std::numeric_limits<double>::infinity()}}) {
    auto bound = FftRooflineBound(SmallShape(), ConvPass::kForward, peaks);
    ASSERT_FALSE(bound.ok());
    EXPECT_EQ(bound.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(bound.status().message().find("must be positive"), std::string::npos)
        << bound.status();
  }
}

TEST(RooflineTest, RefusesBadShapes) {
  ConvShape shape = SmallShape();
  shape.kh = 9;  // larger than the 8-row input
  auto bound = FftRooflineBound(shape, ConvPass::kForward, GpuPeaks{});
  ASSERT_FALSE(bound.ok());
  EXPECT_EQ(bound.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bound.status().message().find("kh=9"), std::string::npos) << bound.status();
}

TEST(RooflineTest, PassNames) {
  EXPECT_EQ(ConvPassName(ConvPass::kForward), "forward");
  EXPECT_EQ(ConvPassName(ConvPass::kBackwardData), "backward_data");
  EXPECT_EQ(ConvPassName(ConvPass::kBackwardFilter), "backward_filter");
}

}  // namespace
}  // namespace fftrain::bench
