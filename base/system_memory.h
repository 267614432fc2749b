// How much host memory this process can still take: what start-up checks compare a data
// set's or a network's size with before allocating, so that a size that cannot fit is
// refused with a message instead of swapping, being killed, or throwing std::bad_alloc.
#ifndef FFTRAIN_BASE_SYSTEM_MEMORY_H_
#define FFTRAIN_BASE_SYSTEM_MEMORY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace fftrain::base {

// Bytes of host memory available to this process: the kernel's MemAvailable
// (/proc/meminfo: free memory plus what it can reclaim, such as the page cache), lowered to
// what is left below the cgroup's memory limit when there is one (containers), falling
// back to sysconf's free pages where /proc is missing. Unavailable when nothing reports.
absl::StatusOr<uint64_t> AvailableHostMemoryBytes();

// "1.5 GiB", "12.0 MiB", "512 bytes": sizes in messages.
std::string HumanBytes(double bytes);

}  // namespace fftrain::base

#endif  // FFTRAIN_BASE_SYSTEM_MEMORY_H_
