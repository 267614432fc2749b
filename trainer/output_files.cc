#include "trainer/output_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"

namespace fftrain::trainer {
namespace {

const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string Named(const FlagPath& f) { return absl::StrCat(f.flag, "=", f.path); }

absl::Status Refused(const FlagPath& f, const std::string& why) {
  return absl::FailedPreconditionError(absl::StrCat(Named(f), ": ", why));
}

// The folder and the last component of `path`.
void Split(const std::string& path, std::string* dir, std::string* base) {
  const size_t slash = path.rfind('/');
  *dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  *base = slash == std::string::npos ? path : path.substr(slash + 1);
}

std::optional<std::string> RealPath(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) return std::nullopt;
  std::string result = resolved;
  std::free(resolved);
  return result;
}

// What an output is: an existing file (device, inode) or, for a new path, its canonical
// spelling (the folder resolved, the name appended).
struct Identity {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  std::string canonical;
  bool Same(const Identity& o) const {
    if (exists != o.exists) return false;
    return exists ? dev == o.dev && ino == o.ino : canonical == o.canonical;
  }
};

absl::StatusOr<Identity> CheckOne(const FlagPath& output) {
  const std::string& path = output.path;
  if (path.back() == '/') return Refused(output, "names a folder, not a file");
  Identity id;
  struct stat link_info;
  std::string target = path;  // what gets written: the file a link points to
  if (::lstat(path.c_str(), &link_info) == 0) {
    struct stat info;
    if (::stat(path.c_str(), &info) != 0) {
      return Refused(output, absl::StrCat("a symbolic link to a missing or unreachable file (",
                                          std::strerror(errno), ")"));
    }
    if (!S_ISREG(info.st_mode)) {
      return Refused(output, absl::StrCat("is ", FileKind(info.st_mode),
                                          ", not a regular file; outputs must be regular files "
                                          "or new paths"));
    }
    // O_NONBLOCK|O_NOCTTY: harmless on a regular file; no O_TRUNC: nothing is changed.
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
      return Refused(output, absl::StrCat("cannot be written: ", std::strerror(errno)));
    }
    ::close(fd);
    id.exists = true;
    id.dev = info.st_dev;
    id.ino = info.st_ino;
    if (S_ISLNK(link_info.st_mode)) target = RealPath(path).value_or(path);
  } else if (errno != ENOENT) {
    return Refused(output, absl::StrCat("cannot be examined: ", std::strerror(errno)));
  }

  std::string dir, base;
  Split(target, &dir, &base);
  struct stat dir_info;
  if (::stat(dir.c_str(), &dir_info) != 0) {
    return Refused(output, absl::StrCat("its folder ", dir, " cannot be used: ",
                                        std::strerror(errno)));
  }
  if (!S_ISDIR(dir_info.st_mode)) {
    return Refused(output, absl::StrCat(dir, " is not a folder"));
  }
  // Create and remove a file beside it: the checkpoint's temporary file goes there, and a
  // new log is created there. Found now rather than after the first epoch.
  const std::string probe = absl::StrCat(dir, "/.", base, ".probe.", ::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Refused(output, absl::StrCat("cannot create files in its folder ", dir, ": ",
                                        std::strerror(errno)));
  }
  ::close(fd);
  ::unlink(probe.c_str());
  if (!id.exists) {
    const std::optional<std::string> real_dir = RealPath(dir);
    id.canonical = absl::StrCat(real_dir.value_or(dir), "/", base);
  }
  return id;
}

}  // namespace

bool PathExists(const std::string& path) {
  struct stat info;
  return !path.empty() && ::lstat(path.c_str(), &info) == 0;
}

absl::Status CheckOutputFiles(const std::vector<FlagPath>& outputs,
                              const std::vector<FlagPath>& inputs) {
  std::vector<std::pair<const FlagPath*, Identity>> checked;
  for (const FlagPath& output : outputs) {
    if (output.path.empty()) continue;
    absl::StatusOr<Identity> id = CheckOne(output);
    if (!id.ok()) return id.status();
    for (const auto& [other, other_id] : checked) {
      if (id->Same(other_id)) {
        return absl::FailedPreconditionError(absl::StrCat(
            Named(*other), " and ", Named(output),
            " are the same file: each output needs a file of its own"));
      }
    }
    if (id->exists) {
      for (const FlagPath& input : inputs) {
        struct stat info;
        if (input.path.empty() || ::stat(input.path.c_str(), &info) != 0) continue;
        if (info.st_dev == id->dev && info.st_ino == id->ino) {
          return absl::FailedPreconditionError(absl::StrCat(
              Named(output), " is ", input.path, ", an input of this run (", input.flag,
              "); refusing to overwrite it"));
        }
      }
    }
    checked.emplace_back(&output, *std::move(id));
  }
  return absl::OkStatus();
}

}  // namespace fftrain::trainer
