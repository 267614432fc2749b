// The MPI communicator, run by every rank of a job (comm/testing/mpi_test_main.h):
// mpi_communicator_test.sh starts this binary alone (a singleton job of one rank) and
// under mpirun at 2 and 3 ranks, with rank-dependent seeded data.
#include "comm/mpi_communicator.h"

#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/mpi_status.h"
#include "base/process_identity.h"
#include "comm/mpi_session.h"
#include "comm/testing/mpi_test_main.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(int, expected_ranks, 0, "if set, the job must have this many ranks");
ABSL_FLAG(std::string, expect_mpirun, "",
          "\"yes\" or \"no\": whether RunningUnderMpirun() must say that a launcher "
          "started this process (unchecked if empty)");

namespace fftrain::comm {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = mpi_test::kMpiTestTimeout;

// Rank r's seeded integers in [-1000, 1000]: their sums over ranks are exact in floats.
std::vector<float> RankIntegers(int rank, int64_t count) {
  std::mt19937 random(4321 + rank);
  std::uniform_int_distribution<int> value(-1000, 1000);
  std::vector<float> data(count);
  for (float& x : data) x = static_cast<float>(value(random));
  return data;
}

std::vector<float> ExpectedSum(int ranks, int64_t count) {
  std::vector<float> sum(count, 0.0f);
  for (int r = 0; r < ranks; ++r) {
    const std::vector<float> data = RankIntegers(r, count);
    for (int64_t i = 0; i < count; ++i) sum[i] += data[i];
  }
  return sum;
}

// Every rank's bytes, to check that all ranks hold bitwise the same values.
std::vector<std::string> GatherBytes(const void* data, size_t bytes) {
  auto all = mpi_test::World().AllGather(std::string(static_cast<const char*>(data), bytes));
  EXPECT_TRUE(all.ok()) << all.status();
  return all.ok() ? *all : std::vector<std::string>();
}

TEST(MpiSessionTest, KnowsItsPlaceInTheJob) {
  int world_rank = -1, world_size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  EXPECT_EQ(mpi_test::Session().rank(), world_rank);
  EXPECT_EQ(mpi_test::Session().size(), world_size);
  if (absl::GetFlag(FLAGS_expected_ranks) > 0) {
    EXPECT_EQ(mpi_test::Session().size(), absl::GetFlag(FLAGS_expected_ranks));
  }
  // One host: every rank shares memory with every other.
  EXPECT_EQ(mpi_test::Session().local_rank(), mpi_test::Session().rank());
  EXPECT_EQ(mpi_test::Session().local_size(), mpi_test::Session().size());
  EXPECT_FALSE(mpi_test::Session().host().empty());
  EXPECT_GE(mpi_test::Session().thread_level(), MPI_THREAD_SERIALIZED);
  EXPECT_EQ(mpi_test::World().rank(), mpi_test::Session().rank());
  EXPECT_EQ(mpi_test::World().size(), mpi_test::Session().size());
  EXPECT_EQ(mpi_test::World().name(), "mpi");
  // A job of several ranks can only come from a launcher; one started alone is one rank.
  // (The session asked RunningUnderMpirun() before MPI started; asked now, it would say
  // yes for a singleton too, which sets PMIX_RANK.)
  if (mpi_test::Session().size() > 1) {
    EXPECT_TRUE(mpi_test::Session().launched_by_mpirun());
  }
  if (!mpi_test::Session().launched_by_mpirun()) {
    EXPECT_EQ(mpi_test::Session().size(), 1);
  }
  const std::string expect_mpirun = absl::GetFlag(FLAGS_expect_mpirun);
  if (!expect_mpirun.empty()) {
    EXPECT_EQ(mpi_test::Session().launched_by_mpirun(), expect_mpirun == "yes");
  }
  if (mpi_test::Session().launched_by_mpirun()) {
    EXPECT_TRUE(RunningUnderMpirun());
  }
  // Error messages name the rank in a job of several, and nothing in a job of one.
  const std::string suffix = base::ProcessIdentitySuffix();
  if (mpi_test::Session().size() > 1) {
    EXPECT_EQ(suffix, absl::StrCat(" (rank ", mpi_test::Session().rank(), " of ", mpi_test::Session().size(), " on host ",
                                   mpi_test::Session().host(), ")"));
  } else {
    EXPECT_EQ(suffix, "");
  }
  // One session per process: MPI cannot be started twice.
  EXPECT_EQ(MpiSession::Init(nullptr, nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto hosts = mpi_test::World().AllGather(mpi_test::Session().host());
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  for (const std::string& host : *hosts) EXPECT_EQ(host, mpi_test::Session().host());
}

TEST(MpiStatusTest, CarriesMpisOwnTextOnceMpiRuns) {
  const absl::Status status = base::FromMpiError(MPI_ERR_TRUNCATE, "MPI_Recv(...)", "f.cc", 9);
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  ASSERT_EQ(MPI_Error_string(MPI_ERR_TRUNCATE, text, &length), MPI_SUCCESS);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(absl::StrCat("MPI_Recv(...) failed: MPI_ERR_TRUNCATE (",
                                     std::string(text, length), ") at f.cc:9")));
  // A real failure, returned rather than fatal since the session asked for
  // MPI_ERRORS_RETURN: a negative count.
  float x = 0;
  MPI_Request request = MPI_REQUEST_NULL;
  const absl::Status refused = base::FromMpiError(
      MPI_Iallreduce(MPI_IN_PLACE, &x, -1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request),
      "MPI_Iallreduce", "f.cc", 10);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("MPI_ERR_COUNT"));
}

TEST(MpiCommunicatorTest, AllReduceSumsAndAveragesExactly) {
  const int ranks = mpi_test::World().size();
  const int64_t count = 1031;
  const std::vector<float> sum = ExpectedSum(ranks, count);
  std::vector<float> summed = RankIntegers(mpi_test::World().rank(), count);
  std::vector<float> averaged = summed;
  // Started together, waited once, as gradient buckets are.
  ASSERT_TRUE(mpi_test::World().StartAllReduce(summed.data(), count, ReduceOp::kSum).ok());
  ASSERT_TRUE(mpi_test::World().StartAllReduce(averaged.data(), count, ReduceOp::kAverage).ok());
  const absl::Status waited = mpi_test::World().WaitAllReduces();
  ASSERT_TRUE(waited.ok()) << waited;
  for (int64_t i = 0; i < count; ++i) {
    ASSERT_EQ(summed[i], sum[i]) << i;
    ASSERT_EQ(averaged[i], sum[i] / static_cast<float>(ranks)) << i;
  }
}

TEST(MpiCommunicatorTest, AverageOfRandomFloatsIsBitwiseTheSameOnEveryRank) {
  // Sums of arbitrary floats depend on their order; the ranks must still agree bitwise,
  // or their parameters would drift apart over a run.
  const int64_t count = 100003;  // large enough for MPI's segmented algorithms; prime
  std::mt19937 random(77 + mpi_test::World().rank());
  std::normal_distribution<float> normal;
  std::vector<float> data(count);
  for (float& x : data) x = normal(random);
  const absl::Status reduced = mpi_test::World().AllReduce(data.data(), count, ReduceOp::kAverage);
  ASSERT_TRUE(reduced.ok()) << reduced;
  const std::vector<std::string> all = GatherBytes(data.data(), count * sizeof(float));
  ASSERT_EQ(all.size(), static_cast<size_t>(mpi_test::World().size()));
  for (size_t r = 1; r < all.size(); ++r) EXPECT_TRUE(all[r] == all[0]) << "rank " << r;
}

TEST(MpiCommunicatorTest, ManyStartedAllReducesCompleteInOrder) {
  // Slices of one buffer, started last layer first, as backward hands them over.
  const int ranks = mpi_test::World().size();
  const int64_t count = 5000;
  std::vector<float> data = RankIntegers(mpi_test::World().rank(), count);
  const std::vector<float> sum = ExpectedSum(ranks, count);
  const int64_t cuts[] = {count, 4000, 3999, 1200, 7, 0};
  for (int i = 0; i + 1 < 6; ++i) {
    ASSERT_TRUE(mpi_test::World()
                    .StartAllReduce(data.data() + cuts[i + 1], cuts[i] - cuts[i + 1],
                                     i % 2 ? ReduceOp::kAverage : ReduceOp::kSum)
                    .ok());
  }
  ASSERT_TRUE(mpi_test::World().WaitAllReduces().ok());
  for (int i = 0; i + 1 < 6; ++i) {
    for (int64_t j = cuts[i + 1]; j < cuts[i]; ++j) {
      const float expected = i % 2 ? sum[j] / static_cast<float>(ranks) : sum[j];
      ASSERT_EQ(data[j], expected) << j;
    }
  }
  // Nothing started: the wait returns at once.
  EXPECT_TRUE(mpi_test::World().WaitAllReduces().ok());
}

TEST(MpiCommunicatorTest, BroadcastFromEachRoot) {
  const int64_t count = 4099;
  for (int root = 0; root < mpi_test::World().size(); ++root) {
    std::vector<float> data = RankIntegers(mpi_test::World().rank(), count);
    const absl::Status status = mpi_test::World().Broadcast(data.data(), count, root);
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(data, RankIntegers(root, count)) << "root " << root;
  }
}

TEST(MpiCommunicatorTest, AllGatherStringsOfDifferentLengths) {
  auto text = [](int r) {
    return r == 0 ? std::string() : std::string(r * 1000 + 3, 'a' + r) + '\0' + "end";
  };
  auto all = mpi_test::World().AllGather(text(mpi_test::World().rank()));
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), static_cast<size_t>(mpi_test::World().size()));
  for (int r = 0; r < mpi_test::World().size(); ++r) EXPECT_EQ((*all)[r], text(r)) << r;
}

TEST(MpiCommunicatorTest, AllReduceHostSumsDoubles) {
  const int r = mpi_test::World().rank();
  const int ranks = mpi_test::World().size();
  double data[3] = {1.0 * r, 0.25, -3.0 * r * r};
  ASSERT_TRUE(mpi_test::World().AllReduceHost(data, 3).ok());
  double ranks_sum = 0, squares_sum = 0;
  for (int q = 0; q < ranks; ++q) ranks_sum += q, squares_sum += q * q;
  EXPECT_EQ(data[0], ranks_sum);
  EXPECT_EQ(data[1], 0.25 * ranks);
  EXPECT_EQ(data[2], -3.0 * squares_sum);
}

TEST(MpiCommunicatorTest, BarrierWaitsForTheLastRank) {
  // The last rank arrives 200 ms late and tells the others when it arrived (a broadcast
  // after the barrier); the others must not have left before that. Clocks of one host.
  const int last = mpi_test::World().size() - 1;
  if (mpi_test::World().rank() == last) absl::SleepFor(absl::Milliseconds(200));
  float arrived = static_cast<float>(absl::ToUnixMillis(absl::Now()) % 1000000);
  ASSERT_TRUE(mpi_test::World().Barrier().ok());
  const float left = static_cast<float>(absl::ToUnixMillis(absl::Now()) % 1000000);
  ASSERT_TRUE(mpi_test::World().Broadcast(&arrived, 1, last).ok());
  // Milliseconds modulo 1000 s: exact in a float (below 2^24). A run straddling the
  // wrap would fail; 1 in 5000 runs at most.
  EXPECT_GE(left, arrived);
}

TEST(MpiCommunicatorTest, BadArgumentsAreRefusedWithoutBreakingStep) {
  float x[4] = {1, 2, 3, 4};
  EXPECT_EQ(mpi_test::World().StartAllReduce(nullptr, 4, ReduceOp::kSum).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mpi_test::World().StartAllReduce(x, -2, ReduceOp::kSum).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mpi_test::World().Broadcast(x, 4, mpi_test::World().size()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(mpi_test::World().AllReduceHost(nullptr, 2).code(), absl::StatusCode::kInvalidArgument);
  // Nothing was posted: the ranks are still in step.
  ASSERT_TRUE(mpi_test::World().AllReduce(x, 4, ReduceOp::kSum).ok());
  EXPECT_EQ(x[3], 4.0f * mpi_test::World().size());
  EXPECT_TRUE(mpi_test::World().AllReduce(nullptr, 0, ReduceOp::kAverage).ok());
  EXPECT_EQ(MpiCommunicator::Create(mpi_test::Session(), absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Last, and on a communicator of its own: it leaves the ranks out of step on purpose.
TEST(MpiDeadlineTest, ARankWaitingForAbsentPeersGivesUpAfterTheTimeout) {
  if (mpi_test::World().size() == 1) GTEST_SKIP() << "needs a peer to be absent";
  const absl::Duration timeout = absl::Milliseconds(300);
  auto created = MpiCommunicator::Create(mpi_test::Session(), timeout);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<MpiCommunicator> short_lived = std::move(created).value();
  const int rank = mpi_test::World().rank();
  if (rank == 0) {
    short_lived->set_step(57);
    const absl::Time start = absl::Now();
    const absl::Status status = short_lived->Barrier();  // the others stay away
    const absl::Duration waited = absl::Now() - start;
    std::printf("rank 0 gave up after %s: %s\n", absl::FormatDuration(waited).c_str(),
                std::string(status.message()).c_str());
    EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
    EXPECT_THAT(std::string(status.message()),
                HasSubstr(absl::StrCat("rank 0 on host ", mpi_test::Session().host(),
                                       ": barrier #0 at step 57 did not complete within "
                                       "300ms: a rank is gone or out of step; ending the job")));
    EXPECT_GE(waited, timeout);
    EXPECT_LT(waited, timeout + absl::Seconds(2));  // a loaded 2-core machine
    // Out of step now: everything later is refused.
    float x = 1;
    const absl::Status after = short_lived->AllReduce(&x, 1, ReduceOp::kSum);
    EXPECT_EQ(after.code(), absl::StatusCode::kFailedPrecondition) << after;
    EXPECT_THAT(std::string(after.message()), HasSubstr("barrier #0 at step 57"));
  }
  // Back in step: after rank 0's timeout (the shared barrier), the others join the
  // barrier it abandoned, so that no collective is left in flight when MPI finalizes.
  ASSERT_TRUE(mpi_test::World().Barrier().ok());
  if (rank != 0) {
    const absl::Status late = short_lived->Barrier();
    EXPECT_TRUE(late.ok()) << late;
  }
  ASSERT_TRUE(mpi_test::World().Barrier().ok());
  short_lived.reset();
  EXPECT_TRUE(mpi_test::World().Barrier().ok());
}

}  // namespace
}  // namespace fftrain::comm
