#include "base/key_value_lines.h"

#include "gtest/gtest.h"

namespace fftrain::base {
namespace {

TEST(ParseKeyValueLinesTest, SplitsAtTheFirstEqualsSign) {
  const auto values = ParseKeyValueLines("network=conv5x8,fc10\n\nformula=a=b\nbare\nseed=1\nseed=2\n");
  EXPECT_EQ(values.at("network"), "conv5x8,fc10");
  EXPECT_EQ(values.at("formula"), "a=b");
  EXPECT_EQ(values.at("bare"), "");
  EXPECT_EQ(values.at("seed"), "2");
  EXPECT_EQ(values.size(), 4u);
}

}  // namespace
}  // namespace fftrain::base
