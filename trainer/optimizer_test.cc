#include "trainer/optimizer.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace fftrain::trainer {
namespace {

TEST(LearningRateScheduleTest, Constant) {
  LearningRateSchedule s;
  s.kind = ScheduleKind::kConstant;
  s.base = 0.1f;
  ASSERT_TRUE(s.Validate().ok());
  EXPECT_FLOAT_EQ(s.At(0), 0.1f);
  EXPECT_FLOAT_EQ(s.At(12345), 0.1f);
}

TEST(LearningRateScheduleTest, StepDecaysEveryStepEpochs) {
  LearningRateSchedule s;
  s.kind = ScheduleKind::kStep;
  s.base = 1.0f;
  s.gamma = 0.5f;
  s.step_epochs = 2;
  s.steps_per_epoch = 10;
  ASSERT_TRUE(s.Validate().ok());
  EXPECT_FLOAT_EQ(s.At(0), 1.0f);
  EXPECT_FLOAT_EQ(s.At(19), 1.0f);   // epoch 1
  EXPECT_FLOAT_EQ(s.At(20), 0.5f);   // epoch 2
  EXPECT_FLOAT_EQ(s.At(45), 0.25f);  // epoch 4
}

TEST(LearningRateScheduleTest, CosineFromBaseToFinal) {
  LearningRateSchedule s;
  s.kind = ScheduleKind::kCosine;
  s.base = 0.2f;
  s.final_rate = 0.02f;
  s.total_steps = 100;
  ASSERT_TRUE(s.Validate().ok());
  EXPECT_FLOAT_EQ(s.At(0), 0.2f);
  EXPECT_NEAR(s.At(50), 0.11f, 1e-6);
  EXPECT_NEAR(s.At(100), 0.02f, 1e-7);
  EXPECT_NEAR(s.At(1000), 0.02f, 1e-7);  // past the end: stays at the final rate
  for (int step = 1; step <= 100; ++step) EXPECT_LE(s.At(step), s.At(step - 1));
}

TEST(LearningRateScheduleTest, WarmupRampsFromATenth) {
  LearningRateSchedule s;
  s.kind = ScheduleKind::kConstant;
  s.base = 1.0f;
  s.warmup_steps = 10;
  EXPECT_FLOAT_EQ(s.At(0), 0.1f);
  EXPECT_FLOAT_EQ(s.At(5), 0.55f);
  EXPECT_FLOAT_EQ(s.At(10), 1.0f);
}

TEST(LearningRateScheduleTest, RefusesBadSettings) {
  LearningRateSchedule s;
  s.base = 0;
  EXPECT_FALSE(s.Validate().ok());
  s.base = 0.1f;
  s.final_rate = 0.2f;
  EXPECT_FALSE(s.Validate().ok());
  s.final_rate = 0;
  s.kind = ScheduleKind::kStep;
  s.gamma = 1.5f;
  EXPECT_FALSE(s.Validate().ok());
  EXPECT_EQ(ParseScheduleKind("linear").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*ParseScheduleKind("cosine"), ScheduleKind::kCosine);
}

TEST(SgdOptimizerTest, TwoStepsByHand) {
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  auto sgd = SgdOptimizer::Create(**backend, 2, 0.9f, 0.1f);
  ASSERT_TRUE(sgd.ok()) << sgd.status();
  auto params = (*backend)->Allocate(8), grads = (*backend)->Allocate(8);
  ASSERT_TRUE(params.ok() && grads.ok());
  float* p = params->floats();
  float* g = grads->floats();
  p[0] = 1.0f;
  p[1] = -2.0f;
  g[0] = 0.5f;
  g[1] = 0.25f;
  ASSERT_TRUE(sgd->Step(p, g, 0.1f).ok());
  // v = 0.9*0 + (g + 0.1 p) = (0.6, 0.05); p -= 0.1 v
  EXPECT_FLOAT_EQ(p[0], 1.0f - 0.06f);
  EXPECT_FLOAT_EQ(p[1], -2.0f - 0.005f);
  ASSERT_TRUE(sgd->Step(p, g, 0.1f).ok());
  // v = 0.9 * 0.6 + (0.5 + 0.1 * 0.94) = 1.134
  EXPECT_NEAR(p[0], 0.94f - 0.1134f, 1e-6);
}

TEST(SgdOptimizerTest, RefusesBadHyperparameters) {
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  EXPECT_FALSE(SgdOptimizer::Create(**backend, 2, 1.0f, 0.0f).ok());
  EXPECT_FALSE(SgdOptimizer::Create(**backend, 2, 0.5f, -1.0f).ok());
}

}  // namespace
}  // namespace fftrain::trainer
