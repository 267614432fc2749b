#include "fftconv/conv_shape.h"

#include <cstdint>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

using ::testing::HasSubstr;

ConvShape Valid() {
  ConvShape s;
  s.n = 2;
  s.c = 3;
  s.h = 10;
  s.w = 7;
  s.k = 4;
  s.kh = 3;
  s.kw = 5;
  s.pad_h = 1;
  s.pad_w = 2;
  return s;
}

TEST(ConvShapeTest, DerivesOutputSize) {
  const ConvShape s = Valid();
  ASSERT_TRUE(s.Validate().ok());
  EXPECT_EQ(s.out_h(), 10 + 2 - 3 + 1);
  EXPECT_EQ(s.out_w(), 7 + 4 - 5 + 1);
  EXPECT_EQ(s.output_elements(), 2 * 4 * 10 * 7);
  EXPECT_EQ(s.DirectMacs(), 2.0 * 3 * 4 * 10 * 7 * 3 * 5);
}

TEST(ConvShapeTest, KernelAsLargeAsPaddedInputIsAccepted) {
  ConvShape s = Valid();
  s.kh = s.h + 2 * s.pad_h;
  s.kw = s.w + 2 * s.pad_w;
  EXPECT_TRUE(s.Validate().ok());
  EXPECT_EQ(s.out_h(), 1);
  EXPECT_EQ(s.out_w(), 1);
}

struct Refusal {
  const char* field;
  void (*spoil)(ConvShape&);
};

TEST(ConvShapeTest, RefusesBadFieldsByName) {
  const Refusal refusals[] = {
      {"N must be positive", [](ConvShape& s) { s.n = 0; }},
      {"C must be positive", [](ConvShape& s) { s.c = -1; }},
      {"H must be positive", [](ConvShape& s) { s.h = 0; }},
      {"W must be positive", [](ConvShape& s) { s.w = -5; }},
      {"K must be positive", [](ConvShape& s) { s.k = 0; }},
      {"kh must be positive", [](ConvShape& s) { s.kh = 0; }},
      {"kw must be positive", [](ConvShape& s) { s.kw = -2; }},
      {"pad_h must be >= 0", [](ConvShape& s) { s.pad_h = -1; }},
      {"pad_w must be >= 0", [](ConvShape& s) { s.pad_w = -3; }},
      {"kernel height kh=13", [](ConvShape& s) { s.kh = 13; }},
      {"kernel width kw=12", [](ConvShape& s) { s.kw = 12; }},
      {"H + 2*pad_h overflows",
       [](ConvShape& s) { s.pad_h = std::numeric_limits<int64_t>::max() / 2; }},
      {"size of input N*C*H*W", [](ConvShape& s) { s.n = s.c = int64_t{1} << 30; }},
      {"size of weights", [](ConvShape& s) { s.k = int64_t{1} << 60; }},
      {"input spectra", [](ConvShape& s) { s.h = int64_t{1} << 28; s.w = int64_t{1} << 28; }},
  };
  for (const Refusal& r : refusals) {
    ConvShape s = Valid();
    r.spoil(s);
    const absl::Status status = s.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << r.field;
    EXPECT_THAT(std::string(status.message()), HasSubstr(r.field));
  }
}

TEST(ConvShapeTest, ToStringNamesEveryField) {
  EXPECT_EQ(Valid().ToString(), "N=2 C=3 H=10 W=7 K=4 k=3x5 pad=1x2");
}

}  // namespace
}  // namespace fftrain::fftconv
