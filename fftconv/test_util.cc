#include "fftconv/test_util.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <utility>

#include "fftconv/cost_model.h"
#include "fftconv/reference_conv.h"

namespace fftrain::fftconv::test_util {

std::vector<float> RandomVector(int64_t size, uint32_t seed) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(size);
  for (float& v : values) v = uniform(engine);
  return values;
}

double RelativeError(const std::vector<float>& actual, const std::vector<float>& expected) {
  if (actual.size() != expected.size()) return std::numeric_limits<double>::infinity();
  double max_diff = 0.0, max_ref = 0.0;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (!std::isfinite(actual[i]) || !std::isfinite(expected[i])) {
      return std::numeric_limits<double>::infinity();
    }
    max_diff = std::max(max_diff, std::abs(static_cast<double>(actual[i]) - expected[i]));
    max_ref = std::max(max_ref, std::abs(static_cast<double>(expected[i])));
  }
  if (max_ref == 0.0) return max_diff == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  return max_diff / max_ref;
}

namespace {

// Thins the sweep as FFTRAIN_SWEEP_EVERY asks (see SweepShapes); a value that is not a
// positive integer is a mistake in the caller's script, so it stops the test.
std::vector<ConvShape> EveryNthSweepShape(std::vector<ConvShape> shapes) {
  const char* every_text = std::getenv("FFTRAIN_SWEEP_EVERY");
  if (every_text == nullptr || *every_text == '\0') return shapes;
  char* end = nullptr;
  const long every = std::strtol(every_text, &end, 10);
  if (*end != '\0' || every < 1) {
    std::fprintf(stderr, "FFTRAIN_SWEEP_EVERY must be a positive integer, got '%s'\n",
                 every_text);
    std::abort();
  }
  std::vector<ConvShape> kept;
  for (size_t i = 0; i < shapes.size(); i += static_cast<size_t>(every)) {
    kept.push_back(shapes[i]);
  }
  return kept;
}

}  // namespace

std::vector<ConvShape> SweepShapes() {
  const int64_t counts[] = {1, 2, 3, 5, 16};
  std::vector<ConvShape> shapes;
  int64_t turn = 0;
  auto next_count = [&](int64_t salt) {
    // Large counts only on small maps keep the reference fast.
    return counts[(turn * 3 + salt) % 4];
  };
  for (int64_t h = 1; h <= 33; ++h) {
    const int64_t w = (h * 7 + 4) % 33 + 1;  // a non-square partner, primes included
    const int64_t smaller = std::min(h, w);
    // Kernels 1, 2, 3, the middle and the full input size; padding cycles 0..k-1.
    for (int64_t kernel : {int64_t{1}, int64_t{2}, int64_t{3}, (smaller + 1) / 2, smaller}) {
      if (kernel > smaller) continue;
      ++turn;
      ConvShape s;
      s.n = next_count(0);
      s.c = next_count(1);
      s.k = next_count(2);
      s.h = h;
      s.w = w;
      s.kh = kernel;
      s.kw = std::max<int64_t>(1, kernel - (turn % 2));  // non-square kernels too
      s.pad_h = turn % s.kh;
      s.pad_w = (turn / 2) % s.kw;
      shapes.push_back(s);
    }
  }
  for (int64_t n : counts) {
    for (int64_t c : counts) {
      for (int64_t k : counts) {
        ConvShape s;
        s.n = n;
        s.c = c;
        s.k = k;
        s.h = 7;
        s.w = 9;
        s.kh = 3;
        s.kw = 4;
        s.pad_h = 1;
        s.pad_w = 2;
        shapes.push_back(s);
      }
    }
  }
  return EveryNthSweepShape(std::move(shapes));
}

std::vector<ConvShape> PaperLayers() { return ConvnetBenchmarkLayers(); }

StepInputs MakeStepInputs(const ConvShape& s, uint32_t seed) {
  return {RandomVector(s.input_elements(), seed), RandomVector(s.weight_elements(), seed + 1),
          RandomVector(s.k, seed + 2), RandomVector(s.output_elements(), seed + 3)};
}

StepOutputs EmptyStepOutputs(const ConvShape& s) {
  return {std::vector<float>(s.output_elements()), std::vector<float>(s.input_elements()),
          std::vector<float>(s.weight_elements()), std::vector<float>(s.k)};
}

StepOutputs ReferenceStep(const ConvShape& s, const StepInputs& t) {
  StepOutputs r = EmptyStepOutputs(s);
  const bool ok =
      ReferenceForward(s, t.x.data(), t.w.data(), t.bias.data(), r.y.data()).ok() &&
      ReferenceBackwardData(s, t.gy.data(), t.w.data(), r.gx.data()).ok() &&
      ReferenceBackwardFilter(s, t.x.data(), t.gy.data(), r.gw.data(), r.gb.data()).ok();
  // A refused shape leaves NaN outputs, which no comparison accepts.
  if (!ok) r.y.assign(r.y.size(), std::nanf(""));
  return r;
}

}  // namespace fftrain::fftconv::test_util
