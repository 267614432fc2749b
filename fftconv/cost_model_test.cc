#include "fftconv/cost_model.h"

#include <cmath>

#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

TEST(CostModelTest, PaperFormulasForL3) {
  // L3: 128->128 at 32x32, k9, batch 128. Transform 32x32 (already smooth).
  const ConvShape l3 = ConvnetBenchmarkLayers()[2];
  auto e = EstimateCost(l3);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->fft_h, 32);
  EXPECT_EQ(e->fft_w, 32);
  const double direct = 2.0 * 128 * 128 * 128 * 24 * 24 * 81;
  EXPECT_DOUBLE_EQ(e->direct_flops, direct);
  const double maps = 128.0 * 128 * 3;
  EXPECT_DOUBLE_EQ(e->fft_transform_flops, 5.0 * 1024 * 5 * maps);
  EXPECT_DOUBLE_EQ(e->fft_product_flops, 4.0 * 128 * 128 * 128 * 1024);
  EXPECT_DOUBLE_EQ(e->paper_memory_bytes, 4.0 * 32 * 33 * maps);
  // Ours stores fft_h x (fft_w/2+1) bins of 8 bytes: 4*32*34 per map, plus staging.
  EXPECT_GT(e->workspace_bytes, 4.0 * 32 * 34 * maps);
  EXPECT_EQ(e->weight_spectrum_bytes, 8u * 32 * 17 * 128 * 128);
  EXPECT_GT(e->direct_over_fft(), 1.0);
}

TEST(CostModelTest, FftCostDoesNotDependOnKernelSize) {
  ConvShape small = ConvnetBenchmarkLayers()[2];
  ConvShape large = small;
  small.kh = small.kw = 3;
  large.kh = large.kw = 15;
  auto a = EstimateCost(small), b = EstimateCost(large);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_DOUBLE_EQ(a->fft_flops(), b->fft_flops());
  EXPECT_LT(a->direct_flops, b->direct_flops);
}

TEST(CostModelTest, RefusesBadShape) {
  ConvShape s;
  s.k = 0;
  EXPECT_EQ(EstimateCost(s).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fftrain::fftconv
