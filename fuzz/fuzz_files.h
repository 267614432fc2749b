// Temporary files for fuzzers whose library reads paths: one private directory per
// process, removed at exit. Files are written thousands of times a second, so the
// directory is in memory (/dev/shm) where there is one.
#ifndef FFTRAIN_FUZZ_FUZZ_FILES_H_
#define FFTRAIN_FUZZ_FUZZ_FILES_H_

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace fftrain::fuzz {

// The directory, made on first use under $TMPDIR, else /dev/shm, else /tmp.
inline const std::string& FuzzTempDir() {
  static const std::string* dir = [] {
    const char* tmpdir = std::getenv("TMPDIR");
    std::string root = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
    if ((tmpdir == nullptr || *tmpdir == '\0') && ::access("/dev/shm", W_OK) == 0) {
      root = "/dev/shm";
    }
    std::string pattern = root + "/fftrain_fuzz.XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("fuzz: mkdtemp");
      std::abort();
    }
    auto* made = new std::string(pattern);
    std::atexit([] {
      const std::string command = "rm -rf '" + FuzzTempDir() + "'";
      if (std::system(command.c_str()) != 0) std::perror("fuzz: removing the temp dir");
    });
    return made;
  }();
  return *dir;
}

// Writes `bytes` to `name` in the directory, replacing it, and returns its path. The old
// file is removed first: ext4 flushes a file truncated and rewritten in place when it is
// closed (auto_da_alloc), which would slow a disk-backed directory to a crawl.
inline std::string WriteFuzzFile(const std::string& name, const void* bytes, size_t size) {
  const std::string path = FuzzTempDir() + "/" + name;
  ::unlink(path.c_str());
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr || std::fwrite(bytes, 1, size, file) != size || std::fclose(file) != 0) {
    std::perror(("fuzz: writing " + path).c_str());
    std::abort();
  }
  return path;
}

}  // namespace fftrain::fuzz

#endif  // FFTRAIN_FUZZ_FUZZ_FILES_H_
