#include "base/process_identity.h"

#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace fftrain::base {
namespace {

// Constant-initialised, so that a conversion running during static initialisation or
// after other statics are destroyed still finds a usable lock.
ABSL_CONST_INIT absl::Mutex identity_mutex(absl::kConstInit);
// Leaked on purpose: it must outlive every thread that might report an error at exit.
std::string* identity_suffix ABSL_GUARDED_BY(identity_mutex) = nullptr;

}  // namespace

void SetProcessIdentity(int rank, int size, std::string host) {
  std::string suffix = absl::StrCat(" (rank ", rank, " of ", size);
  if (!host.empty()) absl::StrAppend(&suffix, " on host ", host);
  suffix += ")";
  absl::MutexLock lock(&identity_mutex);
  if (identity_suffix == nullptr) {
    identity_suffix = new std::string(std::move(suffix));
  } else {
    *identity_suffix = std::move(suffix);
  }
}

void ClearProcessIdentity() {
  absl::MutexLock lock(&identity_mutex);
  if (identity_suffix != nullptr) identity_suffix->clear();
}

std::string ProcessIdentitySuffix() {
  absl::ReaderMutexLock lock(&identity_mutex);
  return identity_suffix == nullptr ? std::string() : *identity_suffix;
}

}  // namespace fftrain::base
