#include "fftconv/cuda/tuner.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "fftconv/cost_model.h"
#include "fftconv/cuda/gpu_test_util.h"
#include "fftconv/cuda/kernels/tf32x3_wgmma_product_kernels.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

using ::testing::HasSubstr;

ConvShape Shape(int64_t size, int64_t kernel) {
  ConvShape s;
  s.n = 16;
  s.c = 8;
  s.k = 12;
  s.h = s.w = size;
  s.kh = s.kw = kernel;
  return s;
}

TEST(TunerTest, CandidatesCoverSizesEnginesAndProducts) {
  // 13 -> smooth 14, power of two 16: cuFFT at both sizes, batched at 16 and at the
  // register kernels' odd side 13, each with the four product variants (C = 8 admits the
  // thin products); and tiles of 6 (2x2 of them) in 8x8 transforms.
  const auto odd = CandidateMethods(Shape(13, 3), false);
  EXPECT_EQ(odd.size(), 16u + 4u);
  int batched_13 = 0;
  for (const ConvMethod& m : odd) {
    batched_13 += m.transform == TransformEngine::kBatchedKernels && m.fft_h == 13 && m.fft_w == 13;
  }
  EXPECT_EQ(batched_13, 4);
  // 32 is both: cuFFT and batched at 32; tiles of 12 in 16x16 (8x8 would give tiles of
  // 4, smaller than the 5x5 kernel).
  const auto even = CandidateMethods(Shape(32, 5), false);
  EXPECT_EQ(even.size(), 8u + 4u);
  // One channel more than the thin products take: CGEMM, CGEMM3M and TF32x3.
  ConvShape wide = Shape(32, 5);
  wide.c = kMaxThinChannels + 1;
  const auto no_thin = CandidateMethods(wide, false);
  EXPECT_EQ(no_thin.size(), 6u + 3u);
  for (const ConvMethod& m : no_thin) EXPECT_NE(m.product, ProductEngine::kThin);
  // On a Hopper GPU each size and tile also gets the wgmma products: 5 of 5 methods.
  const auto hopper = CandidateMethods(Shape(13, 3), true);
  EXPECT_EQ(hopper.size(), 20u + 5u);
  int wgmma = 0;
  for (const ConvMethod& m : hopper) wgmma += m.product == ProductEngine::kTf32x3Wgmma;
  EXPECT_EQ(wgmma, 5);
  // 200 > 128: no batched kernel on whole images.
  for (const ConvMethod& m : CandidateMethods(Shape(200, 5), false)) {
    if (!m.tiled()) {
      EXPECT_EQ(m.transform, TransformEngine::kCufft) << m.ToString();
    }
  }
}

TEST(TunerTest, TiledCandidatesUseSmallerBatchedTransforms) {
  // 56x56 with 3x3 (54x54 out): tiles of 30, 14 and 6 in 32, 16 and 8-point transforms;
  // 64 would hold the whole output in one tile.
  std::vector<int64_t> tiles;
  for (const ConvMethod& m : CandidateMethods(Shape(56, 3), false)) {
    if (!m.tiled()) continue;
    EXPECT_EQ(m.transform, TransformEngine::kBatchedKernels);
    EXPECT_EQ(m.tile_h, m.fft_h - 2) << m.ToString();
    EXPECT_EQ(m.tile_w, m.tile_h);
    if (m.product == ProductEngine::kCgemm) tiles.push_back(m.tile_h);
    // Each is a plan the CPU-side layouts accept.
    EXPECT_TRUE(EstimateWorkspaceBytes(Shape(56, 3), m, false).ok()) << m.ToString();
  }
  EXPECT_EQ(tiles, (std::vector<int64_t>{30, 14, 6}));
  // A tall narrow image is cut in one dimension only (0: the whole width).
  ConvShape tall = Shape(56, 3);
  tall.w = 20;
  for (const ConvMethod& m : CandidateMethods(tall, false)) {
    if (m.tiled() && m.fft_h == 32) {
      EXPECT_EQ(m.tile_w, 0) << m.ToString();
    }
  }
  EXPECT_EQ(ConvMethod({16, 16, TransformEngine::kBatchedKernels, ProductEngine::kCgemm, 14, 0})
                .ToString(),
            "batched 16x16 cgemm tiles 14x0");
}

TEST(TunerTest, CostModelPrefersSmallTilesOnLargeImagesWithSmallKernels) {
  TunerOptions options;
  const ConvShape s = Shape(256, 5);  // 252x252 out: 9x9 tiles of 28 fill it exactly
  const double whole =
      EstimateMethodMilliseconds(s, {256, 256, TransformEngine::kCufft, ProductEngine::kCgemm},
                                 options);
  const double tiled = EstimateMethodMilliseconds(
      s, {32, 32, TransformEngine::kBatchedKernels, ProductEngine::kCgemm, 28, 28}, options);
  EXPECT_LT(tiled, whole);
  // The tiles' workspace: their layout plus the tiled input (16*81 images of 8 32x32 maps)
  // and output (of 12 28x28 maps).
  auto bytes = EstimateWorkspaceBytes(
      s, {32, 32, TransformEngine::kBatchedKernels, ProductEngine::kCgemm, 28, 28}, false);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_GT(*bytes, 4u * 16 * 81 * (8 * 32 * 32 + 12 * 28 * 28));
}

TEST(TunerTest, CostModelPrefersFusedTransformsAndSmallerSizes) {
  TunerOptions options;
  options.mode = TuningMode::kCostModel;
  const ConvShape s = ConvnetBenchmarkLayers()[2];  // L3, 32x32
  const double cufft = EstimateMethodMilliseconds(s, {32, 32, TransformEngine::kCufft, ProductEngine::kCgemm}, options);
  const double batched = EstimateMethodMilliseconds(s, {32, 32, TransformEngine::kBatchedKernels, ProductEngine::kCgemm}, options);
  const double larger = EstimateMethodMilliseconds(s, {64, 64, TransformEngine::kBatchedKernels, ProductEngine::kCgemm}, options);
  EXPECT_LT(batched, cufft);
  EXPECT_LT(batched, larger);
  auto tuner = ConvTuner::Create(options);
  ASSERT_TRUE(tuner.ok()) << tuner.status();
  auto tuned = tuner->Tune(s, false, nullptr);
  ASSERT_TRUE(tuned.ok()) << tuned.status();
  EXPECT_EQ(tuned->timings.size(), CandidateMethods(s, CurrentDeviceRunsTf32x3Wgmma()).size());
  for (const MethodTiming& t : tuned->timings) {
    EXPECT_GE(t.milliseconds, EstimateMethodMilliseconds(s, tuned->method, options));
  }
}

TEST(TunerTest, WorkspaceCapRestrictsTheChoice) {
  TunerOptions options;
  options.mode = TuningMode::kCostModel;
  const ConvShape s = Shape(13, 3);
  auto free_tuner = ConvTuner::Create(options);
  ASSERT_TRUE(free_tuner.ok());
  auto free_choice = free_tuner->Tune(s, false, nullptr);
  ASSERT_TRUE(free_choice.ok());
  size_t smallest = SIZE_MAX, largest = 0;
  for (const MethodTiming& t : free_choice->timings) {
    smallest = std::min(smallest, t.workspace_bytes);
    largest = std::max(largest, t.workspace_bytes);
  }
  ASSERT_LT(smallest, largest);
  options.workspace_cap = smallest;
  auto capped_tuner = ConvTuner::Create(options);
  ASSERT_TRUE(capped_tuner.ok());
  auto capped = capped_tuner->Tune(s, false, nullptr);
  ASSERT_TRUE(capped.ok());
  auto capped_bytes = EstimateWorkspaceBytes(s, capped->method, false);
  ASSERT_TRUE(capped_bytes.ok());
  EXPECT_LE(*capped_bytes, smallest);
  options.workspace_cap = smallest - 1;
  auto none_tuner = ConvTuner::Create(options);
  ASSERT_TRUE(none_tuner.ok());
  auto none = none_tuner->Tune(s, false, nullptr);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("the smallest needs"));
}

TEST(TunerTest, CacheOnDiskIsReusedAndMalformedLinesAreRefused) {
  TunerOptions options;
  options.mode = TuningMode::kCostModel;
  options.cache_path = ::testing::TempDir() + "tuner_cache.txt";
  std::remove(options.cache_path.c_str());
  const ConvShape s = Shape(21, 5);
  ConvMethod first_choice;
  {
    auto tuner = ConvTuner::Create(options);
    ASSERT_TRUE(tuner.ok());
    auto tuned = tuner->Tune(s, true, nullptr);
    ASSERT_TRUE(tuned.ok());
    EXPECT_FALSE(tuned->from_cache);
    first_choice = tuned->method;
    auto again = tuner->Tune(s, true, nullptr);  // in memory
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->from_cache);
  }
  auto reloaded = ConvTuner::Create(options);
  ASSERT_TRUE(reloaded.ok());
  auto from_disk = reloaded->Tune(s, true, nullptr);
  ASSERT_TRUE(from_disk.ok());
  EXPECT_TRUE(from_disk->from_cache);
  EXPECT_EQ(from_disk->method, first_choice);
  auto other_keep = reloaded->Tune(s, false, nullptr);  // another key: tuned afresh
  ASSERT_TRUE(other_keep.ok());
  EXPECT_FALSE(other_keep->from_cache);

  std::ofstream(options.cache_path, std::ios::app) << "garbage line\n";
  auto broken = ConvTuner::Create(options);
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(broken.status().message()), HasSubstr("line 4"));
}

// Lines name tiles since v2; v1 lines (whole images, no tile fields) still load.
TEST(TunerTest, CacheKeepsTilesAndReadsVersionOneLines) {
  TunerOptions options;
  options.mode = TuningMode::kCostModel;
  options.cache_path = ::testing::TempDir() + "tuner_cache_v2.txt";
  std::remove(options.cache_path.c_str());
  const ConvShape tiled_shape = Shape(56, 3), old_shape = Shape(21, 5);
  std::ofstream(options.cache_path)
      << "# fftrain tuner cache v1: device|shape|keep|cap|fft_h fft_w transform product ms\n"
      << "cost model|16,8,21,21,12,5,5,0,0|0|0|32 32 batched cgemm3m 0.5\n"
      << "cost model|16,8,56,56,12,3,3,0,0|0|0|16 16 batched thin 14 14 0.25\n";
  auto tuner = ConvTuner::Create(options);
  ASSERT_TRUE(tuner.ok()) << tuner.status();
  auto old = tuner->Tune(old_shape, false, nullptr);
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->from_cache);
  EXPECT_EQ(old->method.ToString(), "batched 32x32 cgemm3m");
  auto tiled = tuner->Tune(tiled_shape, false, nullptr);
  ASSERT_TRUE(tiled.ok());
  EXPECT_TRUE(tiled->from_cache);
  EXPECT_EQ(tiled->method.ToString(), "batched 16x16 thin tiles 14x14");

  std::ofstream(options.cache_path, std::ios::app)
      << "cost model|16,8,9,9,12,3,3,0,0|0|0|16 16 batched thin -1 14 0.25\n";
  EXPECT_THAT(std::string(ConvTuner::Create(options).status().message()), HasSubstr("line 4"));
}

// What rank 0 tunes, the other ranks import and then run, without tuning themselves;
// choices of another device (a shared cache file) are not exported.
TEST(TunerTest, ChoicesExportedByOneTunerAreTakenByAnother) {
  TunerOptions options;
  options.mode = TuningMode::kCostModel;
  options.cache_path = ::testing::TempDir() + "tuner_cache_export.txt";
  std::remove(options.cache_path.c_str());
  std::ofstream(options.cache_path)
      << kTunerCacheHeader << "\n"
      << "NVIDIA A100|16,8,21,21,12,5,5,0,0|0|0|32 32 batched cgemm3m 0 0 0.5\n";
  const std::vector<ConvShape> shapes = {Shape(21, 5), Shape(56, 3), Shape(13, 3)};
  auto exporter = ConvTuner::Create(options);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  std::vector<ConvMethod> chosen;
  for (const ConvShape& s : shapes) {
    auto tuned = exporter->Tune(s, s.h == 56, nullptr);
    ASSERT_TRUE(tuned.ok()) << tuned.status();
    chosen.push_back(tuned->method);
  }
  const std::string text = exporter->ExportChoices();
  EXPECT_THAT(text, ::testing::StartsWith(std::string(kTunerCacheHeader) + "\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("A100")));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1 + 3);

  TunerOptions importing;
  importing.mode = TuningMode::kCostModel;
  auto importer = ConvTuner::Create(importing);
  ASSERT_TRUE(importer.ok());
  ASSERT_TRUE(importer->ImportChoices(text).ok());
  for (size_t i = 0; i < shapes.size(); ++i) {
    auto tuned = importer->Tune(shapes[i], shapes[i].h == 56, nullptr);
    ASSERT_TRUE(tuned.ok()) << tuned.status();
    EXPECT_TRUE(tuned->from_cache) << shapes[i].ToString();
    EXPECT_EQ(tuned->method, chosen[i]) << shapes[i].ToString();
  }
  // Re-exported, the same text: a round trip.
  EXPECT_EQ(importer->ExportChoices(), text);

  // Another GPU's choices are taken as this one's: every rank runs the same methods.
  auto foreign = ConvTuner::Create(importing);
  ASSERT_TRUE(foreign.ok());
  ASSERT_TRUE(foreign
                  ->ImportChoices("NVIDIA B200|16,8,9,9,12,3,3,0,0|0|0|16 16 batched thin 0 0 "
                                  "0.25\n")
                  .ok());
  auto taken = foreign->Tune(Shape(9, 3), false, nullptr);
  ASSERT_TRUE(taken.ok());
  EXPECT_TRUE(taken->from_cache);
  EXPECT_EQ(taken->method.ToString(), "batched 16x16 thin");

  // A malformed line is refused, naming it, and nothing of the text is taken.
  auto refusing = ConvTuner::Create(importing);
  ASSERT_TRUE(refusing.ok());
  const absl::Status bad = refusing->ImportChoices(
      "d|16,8,9,9,12,3,3,0,0|0|0|16 16 batched thin 0 0 0.25\n\nd|x|0|0|16 16 nope\n");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("line 3"));
  auto untouched = refusing->Tune(Shape(9, 3), false, nullptr);
  ASSERT_TRUE(untouched.ok());
  EXPECT_FALSE(untouched->from_cache);
}

// The round trip where the choices are measured: the key's device is the GPU's name.
TEST(TunerTest, MeasuredChoicesRoundTrip) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  TunerOptions options;
  options.iterations = 1;
  auto exporter = ConvTuner::Create(options);
  ASSERT_TRUE(exporter.ok()) << exporter.status();
  auto tuned = exporter->Tune(Shape(13, 3), false, nullptr);
  ASSERT_TRUE(tuned.ok()) << tuned.status();
  const std::string text = exporter->ExportChoices();
  EXPECT_THAT(text, HasSubstr("sm_"));
  auto importer = ConvTuner::Create(options);
  ASSERT_TRUE(importer.ok());
  ASSERT_TRUE(importer->ImportChoices(text).ok());
  auto imported = importer->Tune(Shape(13, 3), false, nullptr);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_TRUE(imported->from_cache);
  EXPECT_EQ(imported->method, tuned->method);
}

TEST(TunerTest, MeasuresEveryCandidateOnTheGpuAndPicksTheFastest) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  auto tuner = ConvTuner::Create({});
  ASSERT_TRUE(tuner.ok()) << tuner.status();
  const ConvShape s = Shape(27, 5);
  auto tuned = tuner->Tune(s, false, nullptr);
  ASSERT_TRUE(tuned.ok()) << tuned.status();
  ASSERT_EQ(tuned->timings.size(), CandidateMethods(s, CurrentDeviceRunsTf32x3Wgmma()).size());
  double best = 1e30;
  for (const MethodTiming& t : tuned->timings) {
    EXPECT_GT(t.milliseconds, 0.0) << t.method.ToString();
    EXPECT_GT(t.workspace_bytes, 0u);
    best = std::min(best, t.milliseconds);
    std::printf("tuner: %-24s %.4f ms\n", t.method.ToString().c_str(), t.milliseconds);
  }
  for (const MethodTiming& t : tuned->timings) {
    if (t.method == tuned->method) {
      EXPECT_EQ(t.milliseconds, best);
    }
  }
}

}  // namespace
}  // namespace fftrain::fftconv
