#include "trainer/metrics_log.h"

#include <cerrno>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace fftrain::trainer {

std::string JsonEscape(absl::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(ch));
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

JsonObject& JsonObject::Add(absl::string_view key, absl::string_view value) {
  fields_.emplace_back(std::string(key), JsonEscape(value));
  return *this;
}

JsonObject& JsonObject::Add(absl::string_view key, double value) {
  fields_.emplace_back(std::string(key),
                       std::isfinite(value) ? absl::StrFormat("%.9g", value) : "null");
  return *this;
}

JsonObject& JsonObject::Add(absl::string_view key, int64_t value) {
  fields_.emplace_back(std::string(key), absl::StrCat(value));
  return *this;
}

JsonObject& JsonObject::Add(absl::string_view key, bool value) {
  fields_.emplace_back(std::string(key), value ? "true" : "false");
  return *this;
}

JsonObject& JsonObject::Add(absl::string_view key, const JsonObject& value) {
  fields_.emplace_back(std::string(key), value.ToString());
  return *this;
}

std::string JsonObject::ToString() const {
  return absl::StrCat(
      "{",
      absl::StrJoin(fields_, ",",
                    [](std::string* out, const std::pair<std::string, std::string>& field) {
                      absl::StrAppend(out, JsonEscape(field.first), ":", field.second);
                    }),
      "}");
}

absl::StatusOr<JsonLinesWriter> JsonLinesWriter::Open(const std::string& path, bool append) {
  if (path.empty()) return JsonLinesWriter(path, nullptr);
  std::FILE* file = std::fopen(path.c_str(), append ? "a" : "w");
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open log file ", path, ": ", std::strerror(errno)));
  }
  return JsonLinesWriter(path, file);
}

absl::Status JsonLinesWriter::Write(const JsonObject& object) {
  if (file_ == nullptr) return absl::OkStatus();
  const std::string line = object.ToString() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_.get()) != line.size() ||
      std::fflush(file_.get()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot write log file ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace fftrain::trainer
