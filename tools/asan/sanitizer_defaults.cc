// Defaults the AddressSanitizer and LeakSanitizer runtimes read at start-up, for every
// binary built with `--config=asan` (.bazelrc links this library into each one through
// --custom_malloc; it replaces no allocator). ASAN_OPTIONS and LSAN_OPTIONS in the
// environment still override them.
//
// These live in the binaries rather than in --test_env because a suppressions file would
// need a path, and Bazel does not expand %workspace% in option values; binaries the
// tests start (trainer/train, ranks under mpirun) get the same defaults this way.

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>

// Exported with default visibility so the runtime's weak definitions resolve to these.
// The runtime calls them while it starts, before its shadow memory and interceptors are
// ready: they must not be instrumented, and must not call libc's string functions or
// getenv (the environment is not set up yet either).
#define FFTRAIN_SANITIZER_HOOK                                                     \
  extern "C" __attribute__((visibility("default"), used,                           \
                            no_sanitize("address", "undefined")))

namespace {

// Whether this process has Open MPI loaded (it links libmpi), seen in /proc/self/maps
// through raw system calls. "libmpi.so" is matched as the file is streamed; its first
// letter occurs only once in it, so a mismatch can restart the match at that letter.
__attribute__((no_sanitize("address", "undefined"))) bool LinksOpenMpi() {
  static const char kName[] = "libmpi.so";
  const long fd = ::syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  static char buffer[1 << 16];
  size_t matched = 0;
  bool found = false;
  while (!found) {
    const long got = ::syscall(SYS_read, fd, buffer, sizeof(buffer));
    if (got <= 0) break;
    for (long i = 0; i < got && !found; ++i) {
      if (buffer[i] != kName[matched]) matched = 0;
      if (buffer[i] == kName[matched]) ++matched;
      found = kName[matched] == '\0';
    }
  }
  ::syscall(SYS_close, fd);
  return found;
}

}  // namespace

// allocator_may_return_null: tests check that an impossible allocation (2^60 bytes) comes
//   back as a clean error; by default ASan aborts on it instead of returning null.
// fast_unwind_on_malloc=0, in processes that link Open MPI only: its libraries have no
//   frame pointers, so the fast unwinder stops inside them and their leaks could not be
//   matched to the suppressions below. The slow unwinder makes every allocation dearer
//   (a CPU convolution test: 3 s -> 17 s; the trainer's tests about 1.5x), so other
//   processes keep the fast one.
FFTRAIN_SANITIZER_HOOK const char* __asan_default_options() {
  return LinksOpenMpi() ? "allocator_may_return_null=1:fast_unwind_on_malloc=0"
                        : "allocator_may_return_null=1";
}

// Open MPI (and the libraries under it) keeps its start-up allocations until exit; these
// are its leaks, not ours. A leak whose allocation stack passes through one of these
// libraries is not reported; every other leak still fails the test.
FFTRAIN_SANITIZER_HOOK const char* __lsan_default_suppressions() {
  return "leak:libmpi.so\n"
         "leak:libopen-pal.so\n"
         "leak:libopen-rte.so\n"
         "leak:libevent\n"
         "leak:libhwloc.so\n"
         "leak:libpmix.so\n";
}
