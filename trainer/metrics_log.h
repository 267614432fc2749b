// The training log: one JSON object per line ("config", "step" and "epoch" events; see
// docs/training.md), flushed line by line so a crash loses at most the line in flight.
#ifndef FFTRAIN_TRAINER_METRICS_LOG_H_
#define FFTRAIN_TRAINER_METRICS_LOG_H_

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fftrain::trainer {

// A flat JSON object built field by field, values rendered as they are added.
class JsonObject {
 public:
  JsonObject& Add(absl::string_view key, absl::string_view value);  // a string
  JsonObject& Add(absl::string_view key, const char* value) {
    return Add(key, absl::string_view(value));
  }
  JsonObject& Add(absl::string_view key, double value);  // NaN and Inf become null
  JsonObject& Add(absl::string_view key, int64_t value);
  JsonObject& Add(absl::string_view key, int value) { return Add(key, int64_t{value}); }
  JsonObject& Add(absl::string_view key, bool value);
  JsonObject& Add(absl::string_view key, const JsonObject& value);
  std::string ToString() const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

std::string JsonEscape(absl::string_view text);

class JsonLinesWriter {
 public:
  // Creates or truncates `path`; an empty path gives a writer that discards everything.
  // With `append`, adds to an existing log (resumed training).
  static absl::StatusOr<JsonLinesWriter> Open(const std::string& path, bool append);
  absl::Status Write(const JsonObject& object);

 private:
  struct Closer {
    void operator()(std::FILE* f) const { if (f != nullptr) std::fclose(f); }
  };
  JsonLinesWriter(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  std::string path_;
  std::unique_ptr<std::FILE, Closer> file_;
};

}  // namespace fftrain::trainer

#endif  // FFTRAIN_TRAINER_METRICS_LOG_H_
