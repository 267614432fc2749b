// The training log: one JSON object per line ("config", "step" and "epoch" events; see
// docs/training.md), flushed line by line so a crash loses at most the line in flight.
#ifndef FFTRAIN_TRAINER_METRICS_LOG_H_
#define FFTRAIN_TRAINER_METRICS_LOG_H_

#include <cstdint>
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
  // With `append`, adds to an existing log. Only a regular file (or a new path) is opened:
  // FailedPrecondition for a FIFO, device or directory, without blocking.
  static absl::StatusOr<JsonLinesWriter> Open(const std::string& path, bool append);

  // For a run resumed from a checkpoint taken after optimizer step `step`: keeps the lines
  // of `path` up to that step and drops the rest, which the killed or stopped run logged
  // after its checkpoint and the resumed run will log again, so that the log reads as one
  // run. Drops, in place, from the first line whose "step" is above `step` (lines are in
  // step order) and any incomplete last line; `dropped`, if given, gets how many lines went.
  // Then appends, as Open(path, true). A missing file is created.
  static absl::StatusOr<JsonLinesWriter> OpenForResume(const std::string& path, int64_t step,
                                                       int64_t* dropped = nullptr);
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
