#include "comm/testing/mpi_test_main.h"

#include <mpi.h>

#include <cstdio>
#include <memory>
#include <utility>

#include "absl/flags/parse.h"
#include "gtest/gtest.h"

namespace fftrain::comm::mpi_test {
namespace {

MpiSession* session = nullptr;
MpiCommunicator* world = nullptr;

// Rank 0 keeps gtest's printer; the others print their failures only, with their rank.
class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::printf("[rank %d] %s:%d: failure\n%s\n", rank_,
                result.file_name() ? result.file_name() : "?", result.line_number(),
                result.summary());
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result()->Failed()) {
      std::printf("[rank %d] FAILED %s.%s\n", rank_, info.test_suite_name(), info.name());
    }
  }

 private:
  int rank_;
};

}  // namespace

MpiSession& Session() { return *session; }
MpiCommunicator& World() { return *world; }

}  // namespace fftrain::comm::mpi_test

int main(int argc, char** argv) {
  using namespace fftrain::comm;  // NOLINT: main only
  ::testing::InitGoogleTest(&argc, argv);
  absl::ParseCommandLine(argc, argv);
  auto initialized = MpiSession::Init(&argc, &argv);
  if (!initialized.ok()) {
    std::fprintf(stderr, "MpiSession::Init: %s\n", initialized.status().ToString().c_str());
    return 1;
  }
  MpiSession mpi = std::move(initialized).value();
  mpi_test::session = &mpi;
  auto created = MpiCommunicator::Create(mpi, mpi_test::kMpiTestTimeout);
  if (!created.ok()) {
    std::fprintf(stderr, "MpiCommunicator::Create: %s\n", created.status().ToString().c_str());
    mpi.Abort(1);
  }
  std::unique_ptr<MpiCommunicator> owned = std::move(created).value();
  mpi_test::world = owned.get();

  if (mpi.rank() != 0) {
    ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new mpi_test::FailurePrinter(mpi.rank()));
  }
  const int mine = RUN_ALL_TESTS();

  // Blocking on purpose: every rank gets here unless one hangs, and the calling script's
  // timeout is there for that.
  int worst = 0;
  MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  int failed_ranks = 0;
  const int failed = mine != 0;
  MPI_Reduce(&failed, &failed_ranks, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
  if (mpi.rank() == 0) {
    std::printf("%s: %d of %d ranks passed\n", argv[0], mpi.size() - failed_ranks, mpi.size());
  }
  owned.reset();
  const absl::Status finalized = mpi.Finalize();
  if (!finalized.ok()) {
    std::fprintf(stderr, "%s\n", finalized.ToString().c_str());
    return 1;
  }
  return worst != 0 ? 1 : 0;
}
