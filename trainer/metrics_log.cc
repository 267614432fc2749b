#include "trainer/metrics_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

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
  // O_NONBLOCK: opening a FIFO for writing would wait for a reader; it is refused instead.
  const int fd = ::open(path.c_str(),
                        O_WRONLY | O_CREAT | O_NOCTTY | O_NONBLOCK | O_CLOEXEC |
                            (append ? O_APPEND : 0),
                        0644);
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open log file ", path, ": ", std::strerror(errno)));
  }
  struct stat info;
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("log file ", path, " is not a regular file"));
  }
  // Truncated only now that it is known to be a regular file.
  if (!append && ::ftruncate(fd, 0) != 0) {
    const int error = errno;
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot truncate log file ", path, ": ", std::strerror(error)));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::FILE* file = ::fdopen(fd, append ? "a" : "w");
  if (file == nullptr) {
    const int error = errno;
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open log file ", path, ": ", std::strerror(error)));
  }
  return JsonLinesWriter(path, file);
}

namespace {

// The value of a line's top-level "step" field, if it has one. Our own lines: a flat
// object whose nested objects have no "step" key.
bool LineStep(absl::string_view line, int64_t* step) {
  constexpr absl::string_view kKey = "\"step\":";
  const size_t at = line.find(kKey);
  if (at == absl::string_view::npos) return false;
  absl::string_view rest = line.substr(at + kKey.size());
  size_t digits = 0;
  while (digits < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[digits])) ||
                                  (digits == 0 && rest[0] == '-'))) {
    ++digits;
  }
  return absl::SimpleAtoi(rest.substr(0, digits), step);
}

}  // namespace

absl::StatusOr<JsonLinesWriter> JsonLinesWriter::OpenForResume(const std::string& path,
                                                               int64_t step,
                                                               int64_t* dropped) {
  if (dropped != nullptr) *dropped = 0;
  if (path.empty()) return JsonLinesWriter(path, nullptr);
  // Opened (or created) and checked as a regular file first.
  FFTRAIN_ASSIGN_OR_RETURN(JsonLinesWriter writer, Open(path, /*append=*/true));
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t keep = 0;  // bytes of the lines kept
  int64_t lines_dropped = 0;
  bool dropping = false;
  for (size_t begin = 0; begin < text.size();) {
    const size_t newline = text.find('\n', begin);
    const bool complete = newline != std::string::npos;
    const size_t end = complete ? newline + 1 : text.size();
    int64_t line_step = 0;
    if (!dropping && complete &&
        !(LineStep(absl::string_view(text).substr(begin, end - begin), &line_step) &&
          line_step > step)) {
      keep = end;
    } else {
      dropping = true;
      ++lines_dropped;
    }
    begin = end;
  }
  if (keep < text.size()) {
    std::fflush(writer.file_.get());
    if (::ftruncate(::fileno(writer.file_.get()), static_cast<off_t>(keep)) != 0) {
      return absl::InternalError(
          absl::StrCat("cannot truncate log file ", path, ": ", std::strerror(errno)));
    }
  }
  if (dropped != nullptr) *dropped = lines_dropped;
  return writer;
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
