// Test helpers for CudaFftConvPlan: one training step on seeded inputs, run by a plan and
// by the references (GPU and CPU), compared pass by pass with a stated tolerance.
#ifndef FFTRAIN_FFTCONV_CUDA_CUDA_PLAN_TEST_UTIL_H_
#define FFTRAIN_FFTCONV_CUDA_CUDA_PLAN_TEST_UTIL_H_

#include <cstdint>

#include "base/cuda/cuda_resources.h"
#include "fftconv/conv_shape.h"
#include "fftconv/cuda/cuda_fft_conv.h"
#include "fftconv/spectral_layout.h"
#include "fftconv/test_util.h"

namespace fftrain::fftconv::test_util {

// The bound for the sweep, as on the CPU (see cpu_fft_conv_test.cc): float32
// transforms of at most ~100 points and per-bin sums of at most 16 terms.
inline constexpr double kTolerance = 1e-5;

using HostTensors = StepInputs;
using HostResults = StepOutputs;

inline HostTensors MakeTensors(const ConvShape& s, uint32_t seed) {
  return MakeStepInputs(s, seed);
}

// Device copies of the inputs, poisoned outputs, and the plan's memory.
struct DeviceStep {
  DeviceStep(const CudaFftConvPlan& plan, const HostTensors& t);
  LayerSpectra spectra() const { return {weight_spectrum.span(), input_spectrum.span()}; }
  HostResults Download(const ConvShape& s) const;

  base::DeviceBuffer x, w, bias, gy, y, gx, gw, gb, workspace, weight_spectrum, input_spectrum;
};

// Forward, BackwardData, then BackwardFilter reusing GY^, as the trainer runs a step.
void RunStep(CudaFftConvPlan& plan, DeviceStep& d);

// The passes a step reuses spectra between, each alone: TransformWeights, BackwardData,
// then BackwardFilter transforming x and dL/dy itself, the workspace poisoned before the
// last two so nothing can be read from an earlier pass.
void RunPassesAlone(CudaFftConvPlan& plan, DeviceStep& d);

// Two steps of `plan` on the same seeded inputs give bitwise the same results.
void ExpectBitwiseDeterministic(CudaFftConvPlan& plan, uint32_t seed);

HostResults CpuReference(const ConvShape& s, const HostTensors& t);
HostResults GpuReference(const ConvShape& s, DeviceStep& d);

// n images of c square size x size maps to k maps, kernel x kernel, no padding.
ConvShape SquareShape(int64_t n, int64_t c, int64_t k, int64_t size, int64_t kernel);

// Expects each pass within `tolerance` (relative error) and raises worst[pass] to it.
void ExpectClose(const HostResults& got, const HostResults& want, double tolerance,
                 double worst[4]);

// One step of `plan` on seeded inputs, every pass against the GPU reference.
void ExpectStepMatchesGpuReference(CudaFftConvPlan& plan, uint32_t seed);

}  // namespace fftrain::fftconv::test_util

#endif  // FFTRAIN_FFTCONV_CUDA_CUDA_PLAN_TEST_UTIL_H_
