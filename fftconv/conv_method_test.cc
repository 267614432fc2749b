#include "fftconv/conv_method.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

using ::testing::HasSubstr;

TEST(ConvMethodTest, NamesItself) {
  EXPECT_EQ(
      ConvMethod({32, 32, TransformEngine::kBatchedKernels, ProductEngine::kCgemm3m}).ToString(),
      "batched 32x32 cgemm3m");
  EXPECT_EQ(ConvMethod({16, 16, TransformEngine::kBatchedKernels, ProductEngine::kThin, 14, 0})
                .ToString(),
            "batched 16x16 thin tiles 14x0");
  const FftConvOptions options =
      ConvMethod({14, 16, TransformEngine::kCufft, ProductEngine::kTf32x3, 0, 6}).ToOptions(true);
  EXPECT_EQ(options.fft_h, 14);
  EXPECT_EQ(options.fft_w, 16);
  EXPECT_EQ(options.product, ProductEngine::kTf32x3);
  EXPECT_TRUE(options.keep_input_spectrum);
  EXPECT_TRUE(options.tiled());
}

TEST(TunerCacheLineTest, FormatsAndParsesEveryEngineAndProduct) {
  for (TransformEngine transform : {TransformEngine::kCufft, TransformEngine::kBatchedKernels}) {
    for (ProductEngine product :
         {ProductEngine::kCgemm, ProductEngine::kCgemm3m, ProductEngine::kThin,
          ProductEngine::kTf32x3, ProductEngine::kTf32x3Wgmma}) {
      const TunerCacheEntry entry{"NVIDIA H200 (sm_90)|16,8,56,56,12,3,3,1,1|1|0",
                                  {16, 32, transform, product, 14, 0},
                                  0.125};
      const std::string line = FormatTunerCacheLine(entry);
      auto parsed = ParseTunerCacheLine(line);
      ASSERT_TRUE(parsed.ok()) << line << ": " << parsed.status();
      EXPECT_EQ(parsed->key, entry.key);
      EXPECT_EQ(parsed->method, entry.method) << line;
      EXPECT_EQ(parsed->milliseconds, 0.125);
    }
  }
  EXPECT_EQ(
      FormatTunerCacheLine({"cost model|1,2,3,4,5,3,3,0,0|0|4096",
                            {32, 32, TransformEngine::kBatchedKernels, ProductEngine::kCgemm, 0, 0},
                            1.0 / 3}),
      "cost model|1,2,3,4,5,3,3,0,0|0|4096|32 32 batched cgemm 0 0 0.3333");
}

// Version 1 lines (before tiles) are whole images.
TEST(TunerCacheLineTest, ReadsVersionOneLines) {
  auto parsed =
      ParseTunerCacheLine("cost model|16,8,21,21,12,5,5,0,0|0|0|32 32 batched cgemm3m 0.5");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->method.ToString(), "batched 32x32 cgemm3m");
  EXPECT_FALSE(parsed->method.tiled());
  EXPECT_EQ(parsed->milliseconds, 0.5);
}

TEST(TunerCacheLineTest, CommentsCarryNoChoice) {
  EXPECT_TRUE(IsTunerCacheComment(""));
  EXPECT_TRUE(IsTunerCacheComment(kTunerCacheHeader));
  EXPECT_FALSE(IsTunerCacheComment("d|1,1,1,1,1,1,1,0,0|0|0|8 8 cufft cgemm 0 0 1"));
}

TEST(TunerCacheLineTest, RefusesMalformedLinesSayingWhy) {
  const std::string key = "d|1,1,8,8,1,3,3,0,0|0|0|";
  struct Case {
    std::string line;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"garbage line", "5 fields"},
           {"a|b|c|d|e|f", "5 fields"},
           {key + "8 8 cufft cgemm 0 1", "7 method fields"},
           {key + "8 x cufft cgemm 0 0 1", "transform size"},
           {key + "8 8 vkfft cgemm 0 0 1", "unknown transform 'vkfft'"},
           {key + "8 8 cufft zgemm 0 0 1", "unknown product 'zgemm'"},
           {key + "8 8 batched thin -1 6 1", "tile"},
           {key + "8 8 batched thin 6 6 fast", "milliseconds 'fast'"},
       }) {
    auto parsed = ParseTunerCacheLine(c.line);
    ASSERT_FALSE(parsed.ok()) << c.line;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.why)) << c.line;
  }
}

}  // namespace
}  // namespace fftrain::fftconv
