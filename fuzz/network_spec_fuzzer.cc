// Fuzzes the network spec parser (trainer/network_spec.h): ParseNetworkSpec on the input
// as text, and for a spec it accepts, ChainShapes on the presets' inputs and on a shape
// taken from the input's first bytes. An accepted spec's canonical form must parse to
// itself, and every shape ChainShapes returns must be positive.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "trainer/network_spec.h"

namespace fftrain::fuzz {
namespace {

using ::fftrain::trainer::NetworkSpec;
using ::fftrain::trainer::TensorShape;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "network_spec_fuzzer: invariant broken: %s\n", what);
    std::abort();
  }
}

void CheckChain(const NetworkSpec& spec, const TensorShape& input) {
  absl::StatusOr<std::vector<TensorShape>> shapes = trainer::ChainShapes(spec, input);
  if (!shapes.ok()) return;
  Check(shapes->size() == spec.layers.size(), "one shape per layer");
  for (const TensorShape& s : *shapes) Check(s.c >= 1 && s.h >= 1 && s.w >= 1, "positive shape");
  Check(shapes->back().h == 1 && shapes->back().w == 1, "a fully connected layer ends it");
}

void FuzzOne(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<NetworkSpec> spec = trainer::ParseNetworkSpec(text);
  if (!spec.ok()) {
    Check(!spec.status().message().empty(), "errors say why");
    return;
  }
  Check(!spec->layers.empty(), "a spec has layers");
  absl::StatusOr<NetworkSpec> again = trainer::ParseNetworkSpec(spec->canonical);
  Check(again.ok() && again->canonical == spec->canonical, "the canonical form is a fixed point");

  for (const trainer::Preset& preset : trainer::Presets()) CheckChain(*spec, preset.input);
  // A small shape from the first bytes: channels, height, width in 1..256.
  auto byte = [&](size_t i) -> int64_t { return i < size ? data[i] : 0; };
  CheckChain(*spec, TensorShape{1 + byte(0), 1 + byte(1), 1 + byte(2)});
}

}  // namespace
}  // namespace fftrain::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fftrain::fuzz::FuzzOne(data, size);
  return 0;
}
