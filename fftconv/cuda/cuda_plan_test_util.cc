#include "fftconv/cuda/cuda_plan_test_util.h"

#include <algorithm>
#include <utility>

#include "fftconv/cuda/gpu_test_util.h"
#include "fftconv/cuda/gpu_reference_conv.h"
#include "gtest/gtest.h"

namespace fftrain::fftconv::test_util {

using ::fftrain::base::DeviceBuffer;

DeviceStep::DeviceStep(const CudaFftConvPlan& plan, const HostTensors& t)
    : x(Upload(t.x)), w(Upload(t.w)), bias(Upload(t.bias)), gy(Upload(t.gy)) {
  const ConvShape& s = plan.shape();
  y = Poisoned(s.output_elements());
  gx = Poisoned(s.input_elements());
  gw = Poisoned(s.weight_elements());
  gb = Poisoned(s.k);
  workspace = std::move(DeviceBuffer::Allocate(plan.WorkspaceBytes()).value());
  weight_spectrum = std::move(DeviceBuffer::Allocate(plan.WeightSpectrumBytes()).value());
  input_spectrum = std::move(DeviceBuffer::Allocate(plan.InputSpectrumBytes()).value());
}

HostResults DeviceStep::Download(const ConvShape& s) const {
  return {test_util::Download(y, s.output_elements()), test_util::Download(gx, s.input_elements()),
          test_util::Download(gw, s.weight_elements()), test_util::Download(gb, s.k)};
}

void RunStep(CudaFftConvPlan& plan, DeviceStep& d) {
  ASSERT_TRUE(plan.Forward(d.x.as<float>(), d.w.as<float>(), d.bias.as<float>(),
                           d.y.as<float>(), d.spectra(), d.workspace.span(), nullptr)
                  .ok());
  ASSERT_TRUE(plan.BackwardData(d.gy.as<float>(), d.gx.as<float>(), d.spectra(),
                                d.workspace.span(), nullptr)
                  .ok());
  ASSERT_TRUE(plan.BackwardFilter(d.x.as<float>(), d.gy.as<float>(), d.gw.as<float>(),
                                  d.gb.as<float>(), d.spectra(),
                                  GradOutputSpectrum::kFromBackwardData, d.workspace.span(),
                                  nullptr)
                  .ok());
  // Results are read back with synchronous copies, which wait for this work.
}

void RunPassesAlone(CudaFftConvPlan& plan, DeviceStep& d) {
  ASSERT_TRUE(plan.TransformWeights(d.w.as<float>(), d.spectra(), d.workspace.span(), nullptr)
                  .ok());
  ASSERT_TRUE(d.workspace.Fill(0xff, nullptr).ok());
  ASSERT_TRUE(plan.BackwardData(d.gy.as<float>(), d.gx.as<float>(), d.spectra(),
                                d.workspace.span(), nullptr)
                  .ok());
  ASSERT_TRUE(d.workspace.Fill(0xff, nullptr).ok());
  ASSERT_TRUE(plan.BackwardFilter(d.x.as<float>(), d.gy.as<float>(), d.gw.as<float>(),
                                  d.gb.as<float>(), d.spectra(), GradOutputSpectrum::kTransform,
                                  d.workspace.span(), nullptr)
                  .ok());
}

void ExpectBitwiseDeterministic(CudaFftConvPlan& plan, uint32_t seed) {
  const ConvShape& s = plan.shape();
  const HostTensors t = MakeTensors(s, seed);
  DeviceStep first(plan, t), second(plan, t);
  RunStep(plan, first);
  RunStep(plan, second);
  const HostResults a = first.Download(s), b = second.Download(s);
  EXPECT_EQ(a.y, b.y);
  EXPECT_EQ(a.gx, b.gx);
  EXPECT_EQ(a.gw, b.gw);
  EXPECT_EQ(a.gb, b.gb);
}

HostResults CpuReference(const ConvShape& s, const HostTensors& t) {
  return ReferenceStep(s, t);
}

HostResults GpuReference(const ConvShape& s, DeviceStep& d) {
  DeviceBuffer y = Poisoned(s.output_elements()), gx = Poisoned(s.input_elements()),
               gw = Poisoned(s.weight_elements()), gb = Poisoned(s.k);
  auto scratch = DeviceBuffer::Allocate(GpuReferenceBackwardFilterWorkspaceBytes(s));
  EXPECT_TRUE(scratch.ok());
  EXPECT_TRUE(GpuReferenceForward(s, d.x.as<float>(), d.w.as<float>(), d.bias.as<float>(),
                                  y.as<float>(), nullptr)
                  .ok());
  EXPECT_TRUE(
      GpuReferenceBackwardData(s, d.gy.as<float>(), d.w.as<float>(), gx.as<float>(), nullptr)
          .ok());
  EXPECT_TRUE(GpuReferenceBackwardFilter(s, d.x.as<float>(), d.gy.as<float>(), gw.as<float>(),
                                         gb.as<float>(), scratch->span(), nullptr)
                  .ok());
  return {Download(y, s.output_elements()), Download(gx, s.input_elements()),
          Download(gw, s.weight_elements()), Download(gb, s.k)};
}

ConvShape SquareShape(int64_t n, int64_t c, int64_t k, int64_t size, int64_t kernel) {
  ConvShape s;
  s.n = n;
  s.c = c;
  s.k = k;
  s.h = s.w = size;
  s.kh = s.kw = kernel;
  return s;
}

void ExpectClose(const HostResults& got, const HostResults& want, double tolerance,
                 double worst[4]) {
  const double errors[4] = {RelativeError(got.y, want.y), RelativeError(got.gx, want.gx),
                            RelativeError(got.gw, want.gw), RelativeError(got.gb, want.gb)};
  const char* names[4] = {"forward", "backward data", "backward filter", "bias gradient"};
  for (int p = 0; p < 4; ++p) {
    EXPECT_LE(errors[p], tolerance) << names[p];
    worst[p] = std::max(worst[p], errors[p]);
  }
}

void ExpectStepMatchesGpuReference(CudaFftConvPlan& plan, uint32_t seed) {
  const ConvShape& s = plan.shape();
  const HostTensors t = MakeTensors(s, seed);
  DeviceStep d(plan, t);
  RunStep(plan, d);
  double worst[4] = {0, 0, 0, 0};
  ExpectClose(d.Download(s), GpuReference(s, d), kTolerance, worst);
}

}  // namespace fftrain::fftconv::test_util
