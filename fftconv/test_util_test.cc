#include "fftconv/test_util.h"

#include <cstdlib>
#include <vector>

#include "gtest/gtest.h"

namespace fftrain::fftconv::test_util {
namespace {

bool SameShape(const ConvShape& a, const ConvShape& b) { return a.ToString() == b.ToString(); }

// The compute-sanitizer pass thins the sweeps with FFTRAIN_SWEEP_EVERY; unset, every shape
// runs. Every Nth means the first, the N+1st, ...
TEST(SweepShapesTest, EveryNthShapeWhenAsked) {
  ASSERT_EQ(unsetenv("FFTRAIN_SWEEP_EVERY"), 0);
  const std::vector<ConvShape> all = SweepShapes();
  ASSERT_GT(all.size(), 200u);
  ASSERT_EQ(setenv("FFTRAIN_SWEEP_EVERY", "40", 1), 0);
  const std::vector<ConvShape> some = SweepShapes();
  ASSERT_EQ(some.size(), (all.size() + 39) / 40);
  for (size_t i = 0; i < some.size(); ++i) EXPECT_TRUE(SameShape(some[i], all[40 * i])) << i;
  ASSERT_EQ(setenv("FFTRAIN_SWEEP_EVERY", "1", 1), 0);
  EXPECT_EQ(SweepShapes().size(), all.size());
  ASSERT_EQ(unsetenv("FFTRAIN_SWEEP_EVERY"), 0);
}

TEST(SweepShapesDeathTest, ABadSettingStopsTheTest) {
  ASSERT_EQ(setenv("FFTRAIN_SWEEP_EVERY", "0", 1), 0);
  EXPECT_DEATH(SweepShapes(), "FFTRAIN_SWEEP_EVERY must be a positive integer, got '0'");
  ASSERT_EQ(setenv("FFTRAIN_SWEEP_EVERY", "4x", 1), 0);
  EXPECT_DEATH(SweepShapes(), "got '4x'");
  ASSERT_EQ(unsetenv("FFTRAIN_SWEEP_EVERY"), 0);
}

}  // namespace
}  // namespace fftrain::fftconv::test_util
