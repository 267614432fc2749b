#include "base/system_memory.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace fftrain::base {
namespace {

// MemAvailable from /proc/meminfo, in bytes.
std::optional<uint64_t> MemAvailable() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return std::nullopt;
}

std::optional<uint64_t> ReadNumber(const char* path) {
  std::ifstream file(path);
  std::string text;
  if (!(file >> text)) return std::nullopt;
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) return std::nullopt;  // "max": no limit
  return value;
}

// What is left below this cgroup's memory limit (v2, then v1), if there is a limit.
std::optional<uint64_t> CgroupHeadroom() {
  const struct {
    const char* limit;
    const char* usage;
  } files[] = {{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
               {"/sys/fs/cgroup/memory/memory.limit_in_bytes",
                "/sys/fs/cgroup/memory/memory.usage_in_bytes"}};
  for (const auto& f : files) {
    const std::optional<uint64_t> limit = ReadNumber(f.limit);
    // v1 reports "no limit" as a number near 2^63.
    if (!limit || *limit >= (uint64_t{1} << 60)) continue;
    const uint64_t usage = ReadNumber(f.usage).value_or(0);
    return *limit > usage ? *limit - usage : 0;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<uint64_t> AvailableHostMemoryBytes() {
  std::optional<uint64_t> available = MemAvailable();
  if (!available) {
    const long pages = sysconf(_SC_AVPHYS_PAGES);
    const long page_size = sysconf(_SC_PAGESIZE);
    if (pages < 0 || page_size <= 0) {
      return absl::UnavailableError(
          "neither /proc/meminfo nor sysconf reports the available host memory");
    }
    available = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size);
  }
  if (const std::optional<uint64_t> headroom = CgroupHeadroom()) {
    available = std::min(*available, *headroom);
  }
  return *available;
}

std::string HumanBytes(double bytes) {
  if (bytes >= 1024.0 * 1024 * 1024 * 1024) {
    return absl::StrFormat("%.1f TiB", bytes / (1024.0 * 1024 * 1024 * 1024));
  }
  if (bytes >= 1024.0 * 1024 * 1024) return absl::StrFormat("%.1f GiB", bytes / (1 << 30));
  if (bytes >= 1024.0 * 1024) return absl::StrFormat("%.1f MiB", bytes / (1 << 20));
  return absl::StrFormat("%.0f bytes", bytes);
}

}  // namespace fftrain::base
