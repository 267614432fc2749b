// tools/checkpoint_diff: compares the parameters of two trainer checkpoints, or describes
// one.
//
//   checkpoint_diff [--tolerance=1e-4] [--check_counters=true] REFERENCE.ckpt OTHER.ckpt
//   checkpoint_diff ONE.ckpt
//
// With two files it prints each one's network, counters and size, then
//
//   max |a-b| = X over N parameters (largest |a| = Y)
//
// where a are REFERENCE's parameters and b OTHER's, and the momentum's largest difference
// for the record. It exits 0 when X <= tolerance * Y (the tolerance is relative to the
// largest parameter of REFERENCE), 1 when X is above that, a difference is NaN, or the
// checkpoints are not comparable (other networks or parameter counts; other epoch or step
// counters unless --check_counters=false), and 2 when a file cannot be read or the
// arguments are wrong. With one file it prints the description alone (the epoch and step
// a resumed run continues from) and exits 0.
//
// Used by tools/gpu_bundle/run_multigpu.sh: G ranks with batch b against one rank with
// batch G*b must end with the same parameters up to the order of floating-point sums.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "trainer/checkpoint/checkpoint.h"

ABSL_FLAG(double, tolerance, 1e-4,
          "Largest allowed |a-b|, relative to the largest |a| of the first checkpoint");
ABSL_FLAG(bool, check_counters, true,
          "Fail when the two checkpoints' epoch or step counters differ");

namespace fftrain::trainer {
namespace {

struct Difference {
  double max_abs = 0;  // +inf when some difference is NaN
  int64_t index = -1;  // where it is (-1: every difference is 0)
};

// Largest |a[i] - b[i]|; a NaN on either side counts as an infinite difference, unless
// both are NaN (a checkpoint compared with itself).
Difference MaxDifference(const std::vector<float>& a, const std::vector<float>& b) {
  Difference d;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double x = a[i], y = b[i];
    double diff = std::fabs(x - y);
    if (std::isnan(x) && std::isnan(y)) diff = 0;
    if (std::isnan(diff)) diff = INFINITY;
    if (diff > d.max_abs) {
      d.max_abs = diff;
      d.index = static_cast<int64_t>(i);
    }
  }
  return d;
}

double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) {
    if (std::isfinite(x)) m = std::fmax(m, std::fabs(static_cast<double>(x)));
  }
  return m;
}

void Describe(const char* label, const std::string& path, const TrainingState& s) {
  std::printf("%s %s: network %s, epoch %lld, step %lld, %zu parameters, largest |p| = %.6g\n",
              label, path.c_str(), s.network_spec.c_str(), static_cast<long long>(s.epoch),
              static_cast<long long>(s.step), s.parameters.size(), MaxAbs(s.parameters));
}

int Main(const std::vector<std::string>& paths) {
  const double tolerance = absl::GetFlag(FLAGS_tolerance);
  if (!(tolerance >= 0) || !std::isfinite(tolerance)) {
    std::fprintf(stderr, "checkpoint_diff: --tolerance must be a finite number >= 0, got %g\n",
                 tolerance);
    return 2;
  }
  if (paths.empty() || paths.size() > 2) {
    std::fprintf(stderr,
                 "usage: checkpoint_diff [--tolerance=1e-4] REFERENCE.ckpt OTHER.ckpt\n"
                 "       checkpoint_diff ONE.ckpt\n");
    return 2;
  }
  std::vector<TrainingState> states;
  for (const std::string& path : paths) {
    absl::StatusOr<TrainingState> state = ReadCheckpoint(path);
    if (!state.ok()) {
      std::fprintf(stderr, "checkpoint_diff: %s\n", state.status().ToString().c_str());
      return 2;
    }
    states.push_back(*std::move(state));
  }
  if (states.size() == 1) {
    Describe("checkpoint", paths[0], states[0]);
    return 0;
  }
  const TrainingState& a = states[0];
  const TrainingState& b = states[1];
  Describe("a:", paths[0], a);
  Describe("b:", paths[1], b);
  if (a.network_spec != b.network_spec) {
    std::printf("not comparable: the networks differ (%s against %s)\n", a.network_spec.c_str(),
                b.network_spec.c_str());
    return 1;
  }
  if (a.parameters.size() != b.parameters.size()) {
    std::printf("not comparable: %zu parameters against %zu\n", a.parameters.size(),
                b.parameters.size());
    return 1;
  }
  const Difference params = MaxDifference(a.parameters, b.parameters);
  const Difference momentum = MaxDifference(a.momentum, b.momentum);
  const double largest = MaxAbs(a.parameters);
  const double bound = tolerance * largest;
  std::printf("max |a-b| = %.6g over %zu parameters (largest |a| = %.6g)\n", params.max_abs,
              a.parameters.size(), largest);
  if (params.index >= 0) {
    std::printf("  at parameter %lld: a = %.9g, b = %.9g; relative to the largest |a|: %.3g\n",
                static_cast<long long>(params.index), a.parameters[params.index],
                b.parameters[params.index], largest > 0 ? params.max_abs / largest : INFINITY);
  }
  std::printf("momentum: max |a-b| = %.6g (largest |a| = %.6g)\n", momentum.max_abs,
              MaxAbs(a.momentum));
  int status = 0;
  if (absl::GetFlag(FLAGS_check_counters) && (a.epoch != b.epoch || a.step != b.step)) {
    std::printf("not comparable: epoch %lld step %lld against epoch %lld step %lld "
                "(--check_counters=false to compare anyway)\n",
                static_cast<long long>(a.epoch), static_cast<long long>(a.step),
                static_cast<long long>(b.epoch), static_cast<long long>(b.step));
    status = 1;
  }
  if (params.max_abs <= bound) {
    std::printf("within tolerance: %.6g <= %.3g x %.6g = %.6g\n", params.max_abs, tolerance,
                largest, bound);
  } else {
    std::printf("ABOVE tolerance: %.6g > %.3g x %.6g = %.6g\n", params.max_abs, tolerance,
                largest, bound);
    status = 1;
  }
  return status;
}

}  // namespace
}  // namespace fftrain::trainer

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Compares two trainer checkpoints' parameters (or describes one):\n"
      "  checkpoint_diff [--tolerance=1e-4] REFERENCE.ckpt OTHER.ckpt\n"
      "  checkpoint_diff ONE.ckpt");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  return fftrain::trainer::Main(std::vector<std::string>(rest.begin() + 1, rest.end()));
}
