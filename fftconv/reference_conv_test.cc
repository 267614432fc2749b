#include "fftconv/reference_conv.h"

#include <numeric>
#include <vector>

#include "fftconv/test_util.h"
#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

TEST(ReferenceConvTest, HandComputedForwardWithPaddingAndBias) {
  // One 2x2 input, one 2x2 kernel, padding 1: a 3x3 output computed by hand.
  ConvShape s;
  s.h = s.w = 2;
  s.kh = s.kw = 2;
  s.pad_h = s.pad_w = 1;
  const std::vector<float> x = {1, 2, 3, 4};
  const std::vector<float> w = {1, 10, 100, 1000};
  const float bias = 0.5f;
  std::vector<float> y(9);
  ASSERT_TRUE(ReferenceForward(s, x.data(), w.data(), &bias, y.data()).ok());
  // xp = [[0 0 0 0], [0 1 2 0], [0 3 4 0], [0 0 0 0]];
  // y[i][j] = sum_uv xp[i+u][j+v] w[u][v] + 0.5, e.g. y[1][1] = 1 + 20 + 300 + 4000.5.
  const std::vector<float> expected = {1000.5f, 2100.5f, 200.5f, 3010.5f, 4321.5f,
                                       402.5f,  30.5f,   43.5f,  4.5f};
  for (int i = 0; i < 9; ++i) EXPECT_FLOAT_EQ(y[i], expected[i]) << i;
}

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

// The backward passes are the adjoints of the forward map: for any x, w, gy,
// <conv(x, w), gy> = <x, backward_data(gy, w)> = <w, backward_filter(x, gy)>.
TEST(ReferenceConvTest, BackwardPassesAreAdjointsOfForward) {
  ConvShape s;
  s.n = 2;
  s.c = 3;
  s.h = 6;
  s.w = 5;
  s.k = 4;
  s.kh = 3;
  s.kw = 2;
  s.pad_h = 2;
  s.pad_w = 1;
  const auto x = test_util::RandomVector(s.input_elements(), 1);
  const auto w = test_util::RandomVector(s.weight_elements(), 2);
  const auto gy = test_util::RandomVector(s.output_elements(), 3);
  std::vector<float> y(s.output_elements()), gx(s.input_elements()), gw(s.weight_elements());
  std::vector<float> gb(s.k);
  ASSERT_TRUE(ReferenceForward(s, x.data(), w.data(), nullptr, y.data()).ok());
  ASSERT_TRUE(ReferenceBackwardData(s, gy.data(), w.data(), gx.data()).ok());
  ASSERT_TRUE(ReferenceBackwardFilter(s, x.data(), gy.data(), gw.data(), gb.data()).ok());
  const double forward = Dot(y, gy);
  EXPECT_NEAR(Dot(x, gx), forward, 1e-4 * std::abs(forward));
  EXPECT_NEAR(Dot(w, gw), forward, 1e-4 * std::abs(forward));
  for (int64_t k = 0; k < s.k; ++k) {
    double sum = 0;
    for (int64_t n = 0; n < s.n; ++n) {
      for (int64_t e = 0; e < s.out_h() * s.out_w(); ++e) {
        sum += gy[(n * s.k + k) * s.out_h() * s.out_w() + e];
      }
    }
    EXPECT_NEAR(gb[k], sum, 1e-5);
  }
}

TEST(ReferenceConvTest, RefusesBadShapesAndNullTensors) {
  ConvShape s;
  s.kh = 2;  // larger than the 1x1 input
  float v = 0;
  EXPECT_FALSE(ReferenceForward(s, &v, &v, nullptr, &v).ok());
  s.kh = 1;
  EXPECT_FALSE(ReferenceForward(s, nullptr, &v, nullptr, &v).ok());
  EXPECT_FALSE(ReferenceBackwardData(s, &v, &v, nullptr).ok());
  EXPECT_FALSE(ReferenceBackwardFilter(s, &v, nullptr, &v, nullptr).ok());
}

}  // namespace
}  // namespace fftrain::fftconv
