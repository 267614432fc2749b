// Which process of a multi-process job this is, for error messages: a failure in a job of
// many ranks is only actionable when it says which rank on which host saw it. Foreign-error
// conversion (base/cuda/*_status.h) appends ProcessIdentitySuffix() to its messages.
#ifndef FFTRAIN_BASE_PROCESS_IDENTITY_H_
#define FFTRAIN_BASE_PROCESS_IDENTITY_H_

#include <string>

namespace fftrain::base {

// Records this process's rank among `size` ranks and its host name. Called once after the
// launcher (MPI) has started, before other threads run; a later call replaces the identity
// (tests). Safe to call while other threads read it.
void SetProcessIdentity(int rank, int size, std::string host);

// Forgets the identity, so that messages carry none (tests; a single-process run never sets
// it).
void ClearProcessIdentity();

// " (rank 1 of 4 on host gpu-node-3)", " (rank 1 of 4)" without a host name, or "" before
// SetProcessIdentity: ready to append to a message. Thread-safe.
std::string ProcessIdentitySuffix();

}  // namespace fftrain::base

#endif  // FFTRAIN_BASE_PROCESS_IDENTITY_H_
