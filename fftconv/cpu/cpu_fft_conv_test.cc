#include "fftconv/cpu/cpu_fft_conv.h"

#include <cstring>
#include <vector>

#include "base/host_buffer.h"
#include "fftconv/reference_conv.h"
#include "fftconv/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

using ::fftrain::base::HostBuffer;
using ::fftrain::base::MemorySpan;
using test_util::RandomVector;
using test_util::RelativeError;
using ::testing::HasSubstr;

// The bound, max|out - ref| / max|ref| <= 1e-5. A float32 transform of n points
// has a relative error of about eps*log2(n) (eps = 6e-8, n <= 100 here: ~4e-7 per
// transform); two transforms and a per-bin sum of at most 16 terms stay well inside 1e-5.
constexpr double kTolerance = 1e-5;

using Tensors = test_util::StepInputs;
using Results = test_util::StepOutputs;

Tensors MakeTensors(const ConvShape& s, uint32_t seed) { return test_util::MakeStepInputs(s, seed); }

struct Buffers {
  HostBuffer workspace, weight_spectrum, input_spectrum;
  LayerSpectra spectra() const { return {weight_spectrum.span(), input_spectrum.span()}; }
};

Buffers AllocateFor(const CpuFftConvPlan& plan) {
  return {*HostBuffer::Allocate(plan.WorkspaceBytes()),
          *HostBuffer::Allocate(plan.WeightSpectrumBytes()),
          *HostBuffer::Allocate(plan.InputSpectrumBytes())};
}

// One training step the way the trainer runs it: Forward, then BackwardData, then
// BackwardFilter reusing GY^ (and X^ when kept).
Results RunStep(const CpuFftConvPlan& plan, const Tensors& t) {
  const ConvShape& s = plan.shape();
  Buffers b = AllocateFor(plan);
  Results r = test_util::EmptyStepOutputs(s);
  EXPECT_TRUE(plan.Forward(t.x.data(), t.w.data(), t.bias.data(), r.y.data(), b.spectra(),
                           b.workspace.span())
                  .ok());
  EXPECT_TRUE(plan.BackwardData(t.gy.data(), r.gx.data(), b.spectra(), b.workspace.span()).ok());
  EXPECT_TRUE(plan.BackwardFilter(t.x.data(), t.gy.data(), r.gw.data(), r.gb.data(),
                                  b.spectra(), GradOutputSpectrum::kFromBackwardData,
                                  b.workspace.span())
                  .ok());
  return r;
}

Results RunReference(const ConvShape& s, const Tensors& t) {
  return test_util::ReferenceStep(s, t);
}

TEST(CpuFftConvTest, SweepMatchesReference) {
  const std::vector<ConvShape> shapes = test_util::SweepShapes();
  ASSERT_GT(shapes.size(), 200u);
  double worst[4] = {0, 0, 0, 0};
  uint32_t seed = 1000;
  for (const ConvShape& s : shapes) {
    SCOPED_TRACE(s.ToString() + " seed " + std::to_string(seed));
    auto plan = CpuFftConvPlan::Create(s);
    ASSERT_TRUE(plan.ok()) << plan.status();
    const Tensors t = MakeTensors(s, seed);
    seed += 10;
    const Results got = RunStep(*plan, t);
    const Results want = RunReference(s, t);
    const double errors[4] = {RelativeError(got.y, want.y), RelativeError(got.gx, want.gx),
                              RelativeError(got.gw, want.gw), RelativeError(got.gb, want.gb)};
    const char* names[4] = {"forward", "backward data", "backward filter", "bias gradient"};
    for (int p = 0; p < 4; ++p) {
      EXPECT_LE(errors[p], kTolerance) << names[p];
      worst[p] = std::max(worst[p], errors[p]);
    }
  }
  std::printf("worst relative error over %zu shapes: forward %.2e, backward data %.2e, "
              "backward filter %.2e, bias gradient %.2e\n",
              shapes.size(), worst[0], worst[1], worst[2], worst[3]);
}

ConvShape MidShape() {
  ConvShape s;
  s.n = 3;
  s.c = 5;
  s.h = 13;
  s.w = 10;
  s.k = 2;
  s.kh = 5;
  s.kw = 3;
  s.pad_h = 2;
  s.pad_w = 1;
  return s;
}

TEST(CpuFftConvTest, SameInputsGiveBitwiseSameOutputs) {
  auto plan = CpuFftConvPlan::Create(MidShape());
  ASSERT_TRUE(plan.ok());
  const Tensors t = MakeTensors(MidShape(), 7);
  const Results a = RunStep(*plan, t);
  const Results b = RunStep(*plan, t);
  EXPECT_EQ(std::memcmp(a.y.data(), b.y.data(), a.y.size() * 4), 0);
  EXPECT_EQ(std::memcmp(a.gx.data(), b.gx.data(), a.gx.size() * 4), 0);
  EXPECT_EQ(std::memcmp(a.gw.data(), b.gw.data(), a.gw.size() * 4), 0);
  EXPECT_EQ(std::memcmp(a.gb.data(), b.gb.data(), a.gb.size() * 4), 0);
}

TEST(CpuFftConvTest, ReusedSpectraGiveTheSameResultsAsFreshTransforms) {
  const ConvShape s = MidShape();
  FftConvOptions keep;
  keep.keep_input_spectrum = true;
  auto plain = CpuFftConvPlan::Create(s);
  auto kept = CpuFftConvPlan::Create(s, keep);
  ASSERT_TRUE(plain.ok() && kept.ok());
  EXPECT_EQ(kept->InputSpectrumBytes(), 8u * plain->layout().bins() * s.n * s.c);
  const Tensors t = MakeTensors(s, 11);
  const Results reused = RunStep(*kept, t);

  // Each pass on its own: weights transformed by TransformWeights, dL/dy and x
  // transformed again by BackwardFilter.
  Buffers b = AllocateFor(*plain);
  std::vector<float> gx(s.input_elements()), gw(s.weight_elements()), gb(s.k);
  ASSERT_TRUE(plain->TransformWeights(t.w.data(), b.spectra(), b.workspace.span()).ok());
  ASSERT_TRUE(plain->BackwardData(t.gy.data(), gx.data(), b.spectra(), b.workspace.span()).ok());
  std::memset(b.workspace.data(), 0xff, b.workspace.bytes());  // poison: nothing may be reused
  ASSERT_TRUE(plain->BackwardFilter(t.x.data(), t.gy.data(), gw.data(), gb.data(), b.spectra(),
                                    GradOutputSpectrum::kTransform, b.workspace.span())
                  .ok());
  EXPECT_LE(RelativeError(reused.gx, gx), 1e-6);
  EXPECT_LE(RelativeError(reused.gw, gw), 1e-6);
  EXPECT_EQ(reused.gb, gb);
}

TEST(CpuFftConvTest, KeptInputSpectrumIsWhatBackwardFilterReads) {
  // With keep_input_spectrum, BackwardFilter must use X^ from Forward and not x: pass a
  // different x to BackwardFilter and the result must still match the original x.
  const ConvShape s = MidShape();
  FftConvOptions keep;
  keep.keep_input_spectrum = true;
  auto plan = CpuFftConvPlan::Create(s, keep);
  ASSERT_TRUE(plan.ok());
  const Tensors t = MakeTensors(s, 21);
  Buffers b = AllocateFor(*plan);
  std::vector<float> y(s.output_elements()), gw(s.weight_elements()), want(s.weight_elements());
  ASSERT_TRUE(plan->Forward(t.x.data(), t.w.data(), nullptr, y.data(), b.spectra(),
                            b.workspace.span())
                  .ok());
  const std::vector<float> other_x = RandomVector(s.input_elements(), 99);
  ASSERT_TRUE(plan->BackwardFilter(other_x.data(), t.gy.data(), gw.data(), nullptr,
                                   b.spectra(), GradOutputSpectrum::kTransform,
                                   b.workspace.span())
                  .ok());
  ASSERT_TRUE(ReferenceBackwardFilter(s, t.x.data(), t.gy.data(), want.data(), nullptr).ok());
  EXPECT_LE(RelativeError(gw, want), kTolerance);
}

TEST(CpuFftConvTest, ExplicitLargerTransformSizeGivesTheSameResult) {
  const ConvShape s = MidShape();
  FftConvOptions options;
  options.fft_h = 32;
  options.fft_w = 16;
  auto plan = CpuFftConvPlan::Create(s, options);
  ASSERT_TRUE(plan.ok());
  const Tensors t = MakeTensors(s, 31);
  const Results got = RunStep(*plan, t);
  const Results want = RunReference(s, t);
  EXPECT_LE(RelativeError(got.y, want.y), kTolerance);
  EXPECT_LE(RelativeError(got.gx, want.gx), kTolerance);
  EXPECT_LE(RelativeError(got.gw, want.gw), kTolerance);
}

TEST(CpuFftConvTest, RefusesBadShapesAndArguments) {
  ConvShape bad = MidShape();
  bad.kh = 100;
  const auto refused = CpuFftConvPlan::Create(bad);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("kh=100"));

  const ConvShape s = MidShape();
  auto plan = CpuFftConvPlan::Create(s);
  ASSERT_TRUE(plan.ok());
  const Tensors t = MakeTensors(s, 41);
  Buffers b = AllocateFor(*plan);
  std::vector<float> y(s.output_elements());
  auto message = [](const absl::Status& status) { return std::string(status.message()); };
  EXPECT_THAT(message(plan->Forward(nullptr, t.w.data(), nullptr, y.data(), b.spectra(),
                                    b.workspace.span())),
              HasSubstr("tensor x is null"));
  MemorySpan small = b.workspace.span();
  small.bytes -= 1;
  EXPECT_THAT(message(plan->Forward(t.x.data(), t.w.data(), nullptr, y.data(), b.spectra(),
                                    small)),
              HasSubstr("workspace holds"));
  EXPECT_THAT(message(plan->BackwardData(t.gy.data(), y.data(), LayerSpectra{},
                                         b.workspace.span())),
              HasSubstr("weight spectrum"));
  FftConvOptions keep;
  keep.keep_input_spectrum = true;
  auto kept = CpuFftConvPlan::Create(s, keep);
  ASSERT_TRUE(kept.ok());
  EXPECT_THAT(message(kept->Forward(t.x.data(), t.w.data(), nullptr, y.data(), b.spectra(),
                                    b.workspace.span())),
              HasSubstr("input spectrum"));
}

}  // namespace
}  // namespace fftrain::fftconv
