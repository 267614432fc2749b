#include "fftconv/transform_size.h"

#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

TEST(TransformSizeTest, SmoothNumbers) {
  for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 49, 98, 100, 128, 210, 2187}) {
    EXPECT_TRUE(IsSmooth(n)) << n;
  }
  for (int64_t n : {0, -4, 11, 13, 22, 26, 33, 97, 121, 2 * 101}) {
    EXPECT_FALSE(IsSmooth(n)) << n;
  }
}

TEST(TransformSizeTest, NextSmoothSizeIsSmallestSmoothAtLeastN) {
  for (int64_t n = 1; n <= 2000; ++n) {
    const int64_t m = NextSmoothSize(n);
    ASSERT_GE(m, n);
    ASSERT_TRUE(IsSmooth(m)) << n;
    for (int64_t between = n; between < m; ++between) ASSERT_FALSE(IsSmooth(between));
  }
  EXPECT_EQ(NextSmoothSize(11), 12);
  EXPECT_EQ(NextSmoothSize(13), 14);
  EXPECT_EQ(NextSmoothSize(97), 98);
  EXPECT_EQ(NextSmoothSize(128), 128);
}

TEST(TransformSizeTest, NextPowerOfTwo) {
  EXPECT_EQ(NextPowerOfTwo(1), 1);
  EXPECT_EQ(NextPowerOfTwo(13), 16);
  EXPECT_EQ(NextPowerOfTwo(64), 64);
  EXPECT_EQ(NextPowerOfTwo(65), 128);
}

TEST(TransformSizeTest, RegisterFftSideAtLeastIsTheSmallestListedSide) {
  EXPECT_EQ(RegisterFftSideAtLeast(1), 8);
  EXPECT_EQ(RegisterFftSideAtLeast(13), 13);  // L5's side, odd
  EXPECT_EQ(RegisterFftSideAtLeast(14), 14);
  EXPECT_EQ(RegisterFftSideAtLeast(15), 16);
  EXPECT_EQ(RegisterFftSideAtLeast(56), 56);
  EXPECT_EQ(RegisterFftSideAtLeast(57), 64);
  EXPECT_EQ(RegisterFftSideAtLeast(128), 128);
  EXPECT_EQ(RegisterFftSideAtLeast(129), 0);
}

}  // namespace
}  // namespace fftrain::fftconv
