// "key=value" lines, one setting a line: how a run's settings are written into its
// checkpoint and compared between ranks.
#ifndef FFTRAIN_BASE_KEY_VALUE_LINES_H_
#define FFTRAIN_BASE_KEY_VALUE_LINES_H_

#include <map>
#include <string>

#include "absl/strings/string_view.h"

namespace fftrain::base {

// Each non-empty line split at its first '='; a line without one maps its whole text to
// "". A key given twice keeps its last value.
std::map<std::string, std::string> ParseKeyValueLines(absl::string_view text);

}  // namespace fftrain::base

#endif  // FFTRAIN_BASE_KEY_VALUE_LINES_H_
