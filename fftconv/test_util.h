// Helpers shared by the fftconv tests: seeded inputs, error measures, the sweep of shapes.
#ifndef FFTRAIN_FFTCONV_TEST_UTIL_H_
#define FFTRAIN_FFTCONV_TEST_UTIL_H_

#include <cstdint>
#include <vector>

#include "fftconv/conv_shape.h"

namespace fftrain::fftconv::test_util {

// Uniform values in [-1, 1) from a seeded generator: the same seed, the same values.
std::vector<float> RandomVector(int64_t size, uint32_t seed);

// max|actual - expected| / max|expected|; 0 when both are all zero, and infinity when
// any value is NaN or the sizes differ, so a broken result never passes.
double RelativeError(const std::vector<float>& actual, const std::vector<float>& expected);

// The sweep the issue asks for, deterministic: every size 1..33 with a non-square
// partner, kernels from 1 up to the input size, padding 0..k-1, N, C, K cycling through
// {1, 2, 3, 5, 16}; plus every (N, C, K) in {1, 2, 3, 5, 16}^3 at one odd size. Chosen so
// the double-precision reference stays within seconds.
//
// FFTRAIN_SWEEP_EVERY=N in the environment keeps every Nth shape only (the first, the
// N+1st, ...): the bundle's compute-sanitizer pass (tools/gpu_bundle/run_sanitizers.sh)
// runs the sweeps this way, since the sanitizers slow every launch tens of times.
std::vector<ConvShape> SweepShapes();

// The convnet-benchmarks layers L1..L5 (batch 128), valid convolution.
std::vector<ConvShape> PaperLayers();

// Seeded inputs of one training step of a layer.
struct StepInputs {
  std::vector<float> x, w, bias, gy;
};
StepInputs MakeStepInputs(const ConvShape& shape, uint32_t seed);

// The three passes' outputs: y (with bias), dL/dx, dL/dw and the bias gradient.
struct StepOutputs {
  std::vector<float> y, gx, gw, gb;
};
StepOutputs EmptyStepOutputs(const ConvShape& shape);  // sized, zero-filled

// The CPU reference's outputs for `inputs` (double accumulation).
StepOutputs ReferenceStep(const ConvShape& shape, const StepInputs& inputs);

}  // namespace fftrain::fftconv::test_util

#endif  // FFTRAIN_FFTCONV_TEST_UTIL_H_
