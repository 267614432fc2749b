// A GoogleTest main for tests that every rank of an MPI job runs (under mpirun, or alone
// as a job of one rank): it starts MPI, makes a communicator over all ranks, runs every
// test on every rank in the same order (the ordering rule), lets rank 0 print gtest's
// usual output and the others only their failures, and exits non-zero on every rank if
// any rank failed. Link the testonly library //comm/testing:mpi_test_main instead of
// gtest_main.
#ifndef FFTRAIN_COMM_TESTING_MPI_TEST_MAIN_H_
#define FFTRAIN_COMM_TESTING_MPI_TEST_MAIN_H_

#include "absl/time/time.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"

namespace fftrain::comm::mpi_test {

// Long enough for 3 ranks sharing 2 busy cores; short enough that a rank that breaks
// the ordering rule fails the job in seconds rather than hanging it.
inline constexpr absl::Duration kMpiTestTimeout = absl::Seconds(20);

// The job's session and its world communicator, valid while tests run.
MpiSession& Session();
MpiCommunicator& World();

}  // namespace fftrain::comm::mpi_test

#endif  // FFTRAIN_COMM_TESTING_MPI_TEST_MAIN_H_
