// The tiled (overlap-save) method of CudaFftConvPlan, on its own: every pass against the
// GPU and CPU references with the whole-image tolerance, across the sweep's shapes.
// (The engine itself, fftconv/cuda/tiled_conv.h, is internal: it is tested through the plan.)

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "fftconv/conv_tiling.h"
#include "fftconv/cuda/gpu_test_util.h"
#include "fftconv/cuda/cuda_fft_conv.h"
#include "fftconv/cuda/cuda_plan_test_util.h"
#include "fftconv/test_util.h"
#include "fftconv/transform_size.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

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

// Tiles that rarely divide the output: about half its rows and a third of its columns
// (a third rounds to 0, the whole width, for outputs narrower than 3).
std::pair<int64_t, int64_t> SweepTiles(const ConvShape& s) {
  return {(s.out_h() + 1) / 2, s.out_w() / 3};
}

struct TiledCase {
  const char* name;
  TransformEngine engine;
  ProductEngine product;
};

class CudaTiledConvSweepTest : public ::testing::TestWithParam<TiledCase> {};

TEST_P(CudaTiledConvSweepTest, SweepMatchesGpuAndCpuReferences) {
  const TiledCase& c = GetParam();
  if (c.product == ProductEngine::kTf32x3Wgmma) {
    FFTRAIN_SKIP_WITHOUT_WGMMA();
  } else {
    FFTRAIN_SKIP_WITHOUT_GPU();
  }
  double worst_gpu[4] = {0, 0, 0, 0}, worst_cpu[4] = {0, 0, 0, 0};
  uint32_t seed = 7000;
  int64_t shapes = 0;
  const std::vector<ConvShape> sweep = test_util::SweepShapes();
  for (const ConvShape& s : sweep) {
    if (c.product == ProductEngine::kThin && s.c > kMaxThinChannels) continue;
    FftConvOptions options;
    options.transform = c.engine;
    options.product = c.product;
    std::tie(options.tile_h, options.tile_w) = SweepTiles(s);
    auto tiling = ConvTiling::Create(s, options.tile_h, options.tile_w);
    ASSERT_TRUE(tiling.ok()) << tiling.status();
    if (c.engine == TransformEngine::kBatchedKernels) {
      // The batched kernels take square powers of two.
      options.fft_h = options.fft_w = NextPowerOfTwo(
          std::max(tiling->input_tile_h(), tiling->input_tile_w()));
      if (options.fft_h > 128) continue;
    }
    SCOPED_TRACE(s.ToString() + " " + tiling->ToString() + " seed " + std::to_string(seed) +
                 " " + c.name);
    auto plan = CudaFftConvPlan::Create(s, options);
    ASSERT_TRUE(plan.ok()) << plan.status();
    ASSERT_NE(plan->tiling(), nullptr);
    EXPECT_EQ(plan->shape(), s);
    const HostTensors t = MakeTensors(s, seed);
    seed += 10;
    DeviceStep d(*plan, t);
    RunStep(*plan, d);
    const HostResults got = d.Download(s);
    ExpectClose(got, GpuReference(s, d), kTolerance, worst_gpu);
    ExpectClose(got, CpuReference(s, t), kTolerance, worst_cpu);
    ++shapes;
  }
  // Most of the sweep runs (all 284 shapes; 259 for the thin products), also when the
  // sanitizer pass thins it (FFTRAIN_SWEEP_EVERY).
  EXPECT_GT(2 * shapes, static_cast<int64_t>(sweep.size()));
  std::printf("worst relative error, tiled %s, over %ld shapes (fwd, bwd data, bwd filter, "
              "bias): vs GPU reference %.2e %.2e %.2e %.2e; vs CPU reference %.2e %.2e %.2e "
              "%.2e\n",
              c.name, static_cast<long>(shapes), worst_gpu[0], worst_gpu[1], worst_gpu[2],
              worst_gpu[3], worst_cpu[0], worst_cpu[1], worst_cpu[2], worst_cpu[3]);
}

INSTANTIATE_TEST_SUITE_P(
    Methods, CudaTiledConvSweepTest,
    ::testing::Values(TiledCase{"cufft", TransformEngine::kCufft, ProductEngine::kCgemm},
                      TiledCase{"batched", TransformEngine::kBatchedKernels,
                                ProductEngine::kCgemm},
                      TiledCase{"batched_cgemm3m", TransformEngine::kBatchedKernels,
                                ProductEngine::kCgemm3m},
                      TiledCase{"batched_thin", TransformEngine::kBatchedKernels,
                                ProductEngine::kThin},
                      TiledCase{"batched_tf32x3", TransformEngine::kBatchedKernels,
                                ProductEngine::kTf32x3},
                      TiledCase{"batched_tf32x3_wgmma", TransformEngine::kBatchedKernels,
                                ProductEngine::kTf32x3Wgmma}),
    [](const ::testing::TestParamInfo<TiledCase>& info) { return std::string(info.param.name); });

// What the tuner's tiled candidates look like at scale: 3x3 on 56x56 in 16x16 transforms
// (4x4 tiles of 14, the last partly past the edge), and 5x5 on a 200x200 image, which
// whole would need a 200-point cuFFT, in 32x32 batched transforms.
TEST(CudaTiledConvTest, LargeImagesInSmallTransformsMatchTheReference) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  for (auto [shape, tile] : {std::pair{SquareShape(4, 16, 8, 56, 3), int64_t{14}},
                             std::pair{SquareShape(2, 4, 6, 200, 5), int64_t{28}}}) {
    FftConvOptions options;
    options.transform = TransformEngine::kBatchedKernels;
    options.tile_h = options.tile_w = tile;
    options.fft_h = options.fft_w = NextPowerOfTwo(tile + shape.kh - 1);
    auto plan = CudaFftConvPlan::Create(shape, options);
    ASSERT_TRUE(plan.ok()) << plan.status();
    SCOPED_TRACE(plan->method_name());
    ExpectStepMatchesGpuReference(*plan, 31);
  }
}

ConvShape PaddedShape() {
  ConvShape s;
  s.n = 3;
  s.c = 5;
  s.h = 23;
  s.w = 19;
  s.k = 6;
  s.kh = 5;
  s.kw = 3;
  s.pad_h = 2;
  s.pad_w = 1;
  return s;
}

// Each pass alone, with the workspace poisoned in between, against a step that reuses the
// weights' spectrum, dL/dy's spectrum and (kept) the input's.
TEST(CudaTiledConvTest, PassesAloneMatchAStepThatReusesSpectra) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  const ConvShape s = PaddedShape();
  FftConvOptions options;
  options.tile_h = 6;
  options.tile_w = 5;
  FftConvOptions keep = options;
  keep.keep_input_spectrum = true;
  auto kept = CudaFftConvPlan::Create(s, keep);
  auto plain = CudaFftConvPlan::Create(s, options);
  ASSERT_TRUE(kept.ok() && plain.ok()) << kept.status() << plain.status();
  const HostTensors t = MakeTensors(s, 41);
  DeviceStep reused(*kept, t);
  RunStep(*kept, reused);

  DeviceStep fresh(*plain, t);
  RunPassesAlone(*plain, fresh);
  const HostResults a = reused.Download(s), b = fresh.Download(s), want = CpuReference(s, t);
  EXPECT_LE(RelativeError(a.y, want.y), kTolerance);
  for (const HostResults* got : {&a, &b}) {
    EXPECT_LE(RelativeError(got->gx, want.gx), kTolerance);
    EXPECT_LE(RelativeError(got->gw, want.gw), kTolerance);
    EXPECT_LE(RelativeError(got->gb, want.gb), kTolerance);
  }
}

TEST(CudaTiledConvTest, SameInputsGiveBitwiseSameOutputs) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  FftConvOptions options;
  options.tile_h = options.tile_w = 4;
  auto plan = CudaFftConvPlan::Create(PaddedShape(), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ExpectBitwiseDeterministic(*plan, 5);
}

TEST(CudaTiledConvTest, ReportsTheTilesAndTheirWorkspace) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  const ConvShape s = SquareShape(2, 3, 4, 56, 3);
  FftConvOptions options;
  options.transform = TransformEngine::kBatchedKernels;
  options.tile_h = options.tile_w = 14;
  options.fft_h = options.fft_w = 16;
  auto plan = CudaFftConvPlan::Create(s, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_NE(plan->tiling(), nullptr);
  EXPECT_EQ(plan->tiling()->tiles(), 16);
  EXPECT_EQ(plan->tiling()->TileShape().n, 2 * 16);
  EXPECT_EQ(plan->shape(), s);
  EXPECT_EQ(plan->method_name(), "batched 16x16 cgemm tiles 14x14 (4x4)");
  FftConvOptions whole_tile = options;
  whole_tile.tile_h = whole_tile.tile_w = 0;
  auto tile_plan = CudaFftConvPlan::Create(plan->tiling()->TileShape(), whole_tile);
  ASSERT_TRUE(tile_plan.ok());
  // The tiles' plan, plus the tiled input (N*T*C maps of 16x16) and output (N*T*K of 14x14).
  EXPECT_GE(plan->WorkspaceBytes(),
            tile_plan->WorkspaceBytes() + 4 * (32 * 3 * 256 + 32 * 4 * 196));
  EXPECT_EQ(plan->WeightSpectrumBytes(), tile_plan->WeightSpectrumBytes());
  auto whole = CudaFftConvPlan::Create(s);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->tiling(), nullptr);
  EXPECT_EQ(whole->method_name().find("tiles"), std::string::npos);
}

TEST(CudaTiledConvTest, RefusesTilesThatDoNotFit) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  const ConvShape s = SquareShape(2, 3, 4, 20, 5);  // 16x16 output
  auto message = [&](int64_t tile, int64_t fft) {
    FftConvOptions options;
    options.tile_h = options.tile_w = tile;
    options.fft_h = options.fft_w = fft;
    return std::string(CudaFftConvPlan::Create(s, options).status().message());
  };
  EXPECT_THAT(message(17, 0), HasSubstr("tile_h=17"));
  EXPECT_THAT(message(-1, 0), HasSubstr("tile_h=-1"));
  // An 8-row tile reads 12 input rows, which an 8-point transform would wrap.
  EXPECT_THAT(message(8, 8), HasSubstr("fft_h=8"));
}

}  // namespace
}  // namespace fftrain::fftconv
