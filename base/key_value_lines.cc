#include "base/key_value_lines.h"

#include <utility>

#include "absl/strings/str_split.h"

namespace fftrain::base {

std::map<std::string, std::string> ParseKeyValueLines(absl::string_view text) {
  std::map<std::string, std::string> values;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    values[kv.first] = kv.second;
  }
  return values;
}

}  // namespace fftrain::base
