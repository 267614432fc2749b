// Fuzzes the tuner cache line format (fftconv/conv_method.h): every line of the input
// goes through IsTunerCacheComment and ParseTunerCacheLine, as ConvTuner reads a cache
// file or the choices another rank sends. An accepted line must format back to a line
// that parses to the same key and method.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "fftconv/conv_method.h"

namespace fftrain::fuzz {
namespace {

using ::fftrain::fftconv::TunerCacheEntry;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tuner_cache_fuzzer: invariant broken: %s\n", what);
    std::abort();
  }
}

void FuzzOne(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (fftconv::IsTunerCacheComment(line)) continue;
    absl::StatusOr<TunerCacheEntry> entry = fftconv::ParseTunerCacheLine(line);
    if (!entry.ok()) continue;
    // What the tuner does with a choice it reads.
    (void)entry->method.ToString();
    (void)entry->method.ToOptions(/*keep_input_spectrum=*/true);
    const std::string formatted = fftconv::FormatTunerCacheLine(*entry);
    absl::StatusOr<TunerCacheEntry> again = fftconv::ParseTunerCacheLine(formatted);
    Check(again.ok(), "a formatted line parses");
    Check(again->key == entry->key, "the key survives formatting");
    Check(again->method == entry->method, "the method survives formatting");
  }
}

}  // namespace
}  // namespace fftrain::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fftrain::fuzz::FuzzOne(data, size);
  return 0;
}
