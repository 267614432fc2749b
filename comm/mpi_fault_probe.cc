// A job that loses a rank on purpose, for mpi_fault_test.sh: every rank loops on
// all-reduces (averages, with a timeout of --timeout); after --kill_after iterations the
// victim rank kills itself with SIGKILL (a crash: no goodbye to MPI), or after
// --stall_after iterations it stops calling (a hang: alive but out of step). The others
// must then end the job, non-zero, instead of waiting forever: a failed collective is
// reported and the job aborted (MpiCommunicator::Abort).
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"

ABSL_FLAG(int, kill_after, -1, "the victim raises SIGKILL before this iteration (-1: never)");
ABSL_FLAG(int, stall_after, -1, "the victim stops calling before this iteration (-1: never)");
ABSL_FLAG(int, victim, 1, "the rank that dies or stalls");
ABSL_FLAG(int, iterations, 2000, "all-reduces when nothing goes wrong");
ABSL_FLAG(int64_t, count, 100000, "floats per all-reduce");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(3), "bound on every collective wait");
ABSL_FLAG(std::string, run_tag, "",
          "ignored; marks this run's processes on their command line, so that the test can "
          "find survivors of its own run and no one else's");

int main(int argc, char** argv) {
  using fftrain::comm::MpiCommunicator;
  using fftrain::comm::MpiSession;
  using fftrain::comm::ReduceOp;
  absl::ParseCommandLine(argc, argv);
  auto session = MpiSession::Init(&argc, &argv);
  if (!session.ok()) {
    std::fprintf(stderr, "mpi_fault_probe: %s\n", session.status().ToString().c_str());
    return 1;
  }
  auto communicator = MpiCommunicator::Create(*session, absl::GetFlag(FLAGS_timeout));
  if (!communicator.ok()) {
    std::fprintf(stderr, "mpi_fault_probe: %s\n", communicator.status().ToString().c_str());
    session->Abort(1);
  }
  MpiCommunicator& comm = **communicator;
  const bool victim = comm.rank() == absl::GetFlag(FLAGS_victim);
  std::vector<float> data(absl::GetFlag(FLAGS_count), 1.0f);
  const absl::Time start = absl::Now();
  for (int i = 0; i < absl::GetFlag(FLAGS_iterations); ++i) {
    comm.set_step(i);
    if (victim && i == absl::GetFlag(FLAGS_kill_after)) {
      // The time, so that the test can say how long the job took to end after the death.
      std::printf("rank %d: SIGKILL to myself at iteration %d (t=%.3f)\n", comm.rank(), i,
                  absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
      std::fflush(stdout);
      std::raise(SIGKILL);
    }
    if (victim && i == absl::GetFlag(FLAGS_stall_after)) {
      std::printf("rank %d: stalling at iteration %d (t=%.3f)\n", comm.rank(), i,
                  absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
      std::fflush(stdout);
      absl::SleepFor(absl::Hours(1));  // ended by the others' MPI_Abort
    }
    const absl::Status status = comm.AllReduce(data.data(), data.size(), ReduceOp::kAverage);
    if (!status.ok()) {
      std::fprintf(stderr, "mpi_fault_probe: rank %d failed after %s: %s\n", comm.rank(),
                   absl::FormatDuration(absl::Now() - start).c_str(), status.ToString().c_str());
      std::fflush(stderr);
      comm.Abort();
    }
  }
  std::printf("rank %d: %d all-reduces, no fault\n", comm.rank(), absl::GetFlag(FLAGS_iterations));
  communicator->reset();
  return session->Finalize().ok() ? 0 : 1;
}
