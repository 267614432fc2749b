#include "fftconv/cost_model.h"

#include <cmath>
#include <string>

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

TEST(GpuPeaksTest, ByDeviceName) {
  std::string note;
  const GpuPeaks h200 = GpuPeaksForDevice("NVIDIA H200", &note);
  EXPECT_EQ(h200.bytes_per_second, 4.8e12);
  EXPECT_EQ(h200.flops_per_second, 67e12);
  EXPECT_EQ(h200.tf32_tensor_flops_per_second, 494.7e12);
  EXPECT_NE(note.find("datasheet"), std::string::npos) << note;
  // base::CurrentDeviceDescription's text names the same GPU.
  EXPECT_EQ(GpuPeaksForDevice("NVIDIA H200 (sm_90, 132 SMs, 139.8 GiB)").bytes_per_second,
            4.8e12);
  const GpuPeaks h100 = GpuPeaksForDevice("NVIDIA H100 80GB HBM3", &note);
  EXPECT_EQ(h100.flops_per_second, 67e12);
  EXPECT_EQ(h100.bytes_per_second, 3.0e12);
  EXPECT_EQ(h100.tf32_tensor_flops_per_second, 494.7e12);
  // Anything else gets the H100 SXM's, with a note that says so.
  const GpuPeaks other = GpuPeaksForDevice("NVIDIA GH200 480GB", &note);
  EXPECT_EQ(other.bytes_per_second, GpuPeaks{}.bytes_per_second);
  EXPECT_NE(note.find("not in the table"), std::string::npos) << note;
  for (const KnownGpu& gpu : KnownGpus()) {
    EXPECT_EQ(GpuPeaksForDevice(gpu.device_name).bytes_per_second, gpu.peaks.bytes_per_second);
  }
}

TEST(GpuPeaksTest, ProductEnginesRunAtTheRateOfTheirUnits) {
  const GpuPeaks peaks;
  EXPECT_EQ(ProductFlopsPerSecond(peaks, ProductEngine::kCgemm), 67e12);
  EXPECT_EQ(ProductFlopsPerSecond(peaks, ProductEngine::kCgemm3m), 67e12);
  EXPECT_EQ(ProductFlopsPerSecond(peaks, ProductEngine::kThin), 67e12);
  EXPECT_EQ(ProductFlopsPerSecond(peaks, ProductEngine::kAuto), 67e12);
  // Three TF32 tensor-core products per fp32 one.
  EXPECT_DOUBLE_EQ(ProductFlopsPerSecond(peaks, ProductEngine::kTf32x3), 494.7e12 / 3);
  EXPECT_DOUBLE_EQ(ProductFlopsPerSecond(peaks, ProductEngine::kTf32x3Wgmma), 494.7e12 / 3);
}

TEST(RooflineBoundTest, TensorCoreProductsCountAtTheirRate) {
  const ConvShape l5 = ConvnetBenchmarkLayers()[4];
  const GpuPeaks peaks;
  auto cuda_cores = FftRooflineBound(l5, ConvPass::kForward, peaks);
  auto tensor_cores = FftRooflineBound(l5, ConvPass::kForward, peaks, WeightSpectrum::kTransform,
                                       ProductEngine::kTf32x3Wgmma);
  ASSERT_TRUE(cuda_cores.ok() && tensor_cores.ok());
  EXPECT_DOUBLE_EQ(cuda_cores->compute_seconds, cuda_cores->flops / 67e12);
  EXPECT_DOUBLE_EQ(tensor_cores->flops, cuda_cores->flops);
  EXPECT_DOUBLE_EQ(tensor_cores->bytes, cuda_cores->bytes);
  EXPECT_DOUBLE_EQ(tensor_cores->compute_seconds,
                   (tensor_cores->flops - tensor_cores->product_flops) / 67e12 +
                       tensor_cores->product_flops / (494.7e12 / 3));
  EXPECT_LT(tensor_cores->compute_seconds, cuda_cores->compute_seconds);
}

TEST(StepEstimateTest, MorePeakBandwidthNeverSlowsAStep) {
  const ConvShape l3 = ConvnetBenchmarkLayers()[2];
  const ConvMethod method{32, 32, TransformEngine::kBatchedKernels, ProductEngine::kCgemm};
  const double h100 = EstimateStepMilliseconds(l3, method, GpuPeaks{});
  const double h200 = EstimateStepMilliseconds(l3, method, GpuPeaksForDevice("NVIDIA H200"));
  EXPECT_GT(h100, 0);
  EXPECT_LT(h200, h100);  // L3's transforms are memory-bound
}

}  // namespace
}  // namespace fftrain::fftconv
