// The loopback communicator: each test runs one thread per rank. Inputs are small
// integers (in floats), so sums and averages are exact and compared with ==.
#include "comm/loopback_communicator.h"

#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::comm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(10);

// Runs body(rank, communicator) on one thread per rank; returns each rank's status.
std::vector<absl::Status> RunRanks(LoopbackGroup& group,
                                   const std::function<absl::Status(int, Communicator&)>& body) {
  std::vector<absl::Status> statuses(group.size());
  std::vector<std::thread> threads;
  for (int r = 0; r < group.size(); ++r) {
    threads.emplace_back([&, r] { statuses[r] = body(r, group.rank(r)); });
  }
  for (std::thread& t : threads) t.join();
  return statuses;
}

std::unique_ptr<LoopbackGroup> MakeGroup(int ranks, absl::Duration timeout = kTimeout) {
  auto group = LoopbackGroup::Create(ranks, timeout);
  EXPECT_TRUE(group.ok()) << group.status();
  return std::move(group).value();
}

// Rank r's seeded data: integers in [-1000, 1000], exactly representable, as are their
// sums over a few ranks.
std::vector<float> RankData(int rank, int64_t count) {
  const uint32_t seed = 1234 + rank;
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> value(-1000, 1000);
  std::vector<float> data(count);
  for (float& x : data) x = static_cast<float>(value(random));
  return data;
}

class LoopbackRanksTest : public ::testing::TestWithParam<int> {};

TEST_P(LoopbackRanksTest, AllReduceSumsAndAverages) {
  const int ranks = GetParam();
  auto group = MakeGroup(ranks);
  const int64_t count = 1031;  // prime: no size of anything
  std::vector<float> sum(count, 0.0f);
  for (int r = 0; r < ranks; ++r) {
    const std::vector<float> data = RankData(r, count);
    for (int64_t i = 0; i < count; ++i) sum[i] += data[i];
  }
  std::vector<std::vector<float>> summed(ranks), averaged(ranks);
  const auto statuses = RunRanks(*group, [&](int r, Communicator& comm) -> absl::Status {
    summed[r] = RankData(r, count);
    averaged[r] = RankData(r, count);
    // Two started together, waited once, as gradient buckets do.
    if (absl::Status s = comm.StartAllReduce(summed[r].data(), count, ReduceOp::kSum); !s.ok()) {
      return s;
    }
    if (absl::Status s = comm.StartAllReduce(averaged[r].data(), count, ReduceOp::kAverage);
        !s.ok()) {
      return s;
    }
    return comm.WaitAllReduces();
  });
  for (int r = 0; r < ranks; ++r) {
    ASSERT_TRUE(statuses[r].ok()) << statuses[r];
    for (int64_t i = 0; i < count; ++i) {
      ASSERT_EQ(summed[r][i], sum[i]) << "rank " << r << " element " << i;
      // Sums of integers divided by the rank count: the one rounding of x / ranks, the
      // same division the communicator does.
      ASSERT_EQ(averaged[r][i], sum[i] / static_cast<float>(ranks))
          << "rank " << r << " element " << i;
    }
  }
}

TEST_P(LoopbackRanksTest, AverageOfRandomFloatsIsBitwiseTheSameOnEveryRank) {
  const int ranks = GetParam();
  auto group = MakeGroup(ranks);
  const int64_t count = 257;
  std::vector<std::vector<float>> data(ranks);
  const auto statuses = RunRanks(*group, [&](int r, Communicator& comm) {
    std::mt19937 random(99 + r);
    std::normal_distribution<float> normal;
    data[r].resize(count);
    for (float& x : data[r]) x = normal(random);
    return comm.AllReduce(data[r].data(), count, ReduceOp::kAverage);
  });
  for (int r = 0; r < ranks; ++r) {
    ASSERT_TRUE(statuses[r].ok()) << statuses[r];
    EXPECT_EQ(std::memcmp(data[r].data(), data[0].data(), count * sizeof(float)), 0)
        << "rank " << r;
  }
}

TEST_P(LoopbackRanksTest, BroadcastFromEachRoot) {
  const int ranks = GetParam();
  auto group = MakeGroup(ranks);
  const int64_t count = 37;
  for (int root = 0; root < ranks; ++root) {
    std::vector<std::vector<float>> data(ranks);
    const auto statuses = RunRanks(*group, [&](int r, Communicator& comm) {
      data[r] = RankData(r, count);
      return comm.Broadcast(data[r].data(), count, root);
    });
    const std::vector<float> expected = RankData(root, count);
    for (int r = 0; r < ranks; ++r) {
      ASSERT_TRUE(statuses[r].ok()) << statuses[r];
      EXPECT_EQ(data[r], expected) << "root " << root << ", rank " << r;
    }
  }
}

TEST_P(LoopbackRanksTest, AllGatherStringsOfDifferentLengths) {
  const int ranks = GetParam();
  auto group = MakeGroup(ranks);
  std::vector<std::vector<std::string>> gathered(ranks);
  // Rank 0's string is empty; the others grow with the rank, with a NUL inside.
  auto text = [](int r) {
    return r == 0 ? std::string() : std::string(r * 5, 'a' + r) + '\0' + "x";
  };
  const auto statuses = RunRanks(*group, [&](int r, Communicator& comm) -> absl::Status {
    auto all = comm.AllGather(text(r));
    if (!all.ok()) return all.status();
    gathered[r] = *all;
    return absl::OkStatus();
  });
  for (int r = 0; r < ranks; ++r) {
    ASSERT_TRUE(statuses[r].ok()) << statuses[r];
    ASSERT_EQ(gathered[r].size(), static_cast<size_t>(ranks));
    for (int q = 0; q < ranks; ++q) EXPECT_EQ(gathered[r][q], text(q)) << r << " " << q;
  }
}

TEST_P(LoopbackRanksTest, AllReduceHostSumsDoubles) {
  const int ranks = GetParam();
  auto group = MakeGroup(ranks);
  std::vector<std::vector<double>> data(ranks);
  const auto statuses = RunRanks(*group, [&](int r, Communicator& comm) {
    data[r] = {1.0 * r, 0.5, -2.0 * r * r};
    return comm.AllReduceHost(data[r].data(), 3);
  });
  double ranks_sum = 0, squares_sum = 0;
  for (int r = 0; r < ranks; ++r) ranks_sum += r, squares_sum += r * r;
  for (int r = 0; r < ranks; ++r) {
    ASSERT_TRUE(statuses[r].ok()) << statuses[r];
    EXPECT_THAT(data[r], ElementsAre(ranks_sum, 0.5 * ranks, -2.0 * squares_sum));
  }
}

TEST_P(LoopbackRanksTest, BarrierWaitsForTheLastRank) {
  const int ranks = GetParam();
  auto group = MakeGroup(ranks);
  std::vector<absl::Time> left(ranks);
  const absl::Duration lag = absl::Milliseconds(100);
  absl::Time last_arrival;
  const auto statuses = RunRanks(*group, [&](int r, Communicator& comm) {
    if (r == ranks - 1) {
      absl::SleepFor(lag);
      last_arrival = absl::Now();
    }
    absl::Status s = comm.Barrier();
    left[r] = absl::Now();
    return s;
  });
  for (int r = 0; r < ranks; ++r) {
    ASSERT_TRUE(statuses[r].ok()) << statuses[r];
    EXPECT_GE(left[r], last_arrival) << "rank " << r << " left the barrier early";
  }
}

TEST_P(LoopbackRanksTest, HistoryRecordsStartedAllReducesInOrder) {
  const int ranks = GetParam();
  auto group = MakeGroup(ranks);
  std::vector<std::vector<float>> buffers(ranks, std::vector<float>(100, 1.0f));
  const auto statuses = RunRanks(*group, [&](int r, Communicator& comm) -> absl::Status {
    float* base = buffers[r].data();
    if (absl::Status s = comm.StartAllReduce(base + 60, 40, ReduceOp::kAverage); !s.ok()) {
      return s;
    }
    if (absl::Status s = comm.Barrier(); !s.ok()) return s;  // between, numbered too
    if (absl::Status s = comm.StartAllReduce(base, 60, ReduceOp::kSum); !s.ok()) return s;
    return comm.WaitAllReduces();
  });
  for (int r = 0; r < ranks; ++r) {
    ASSERT_TRUE(statuses[r].ok()) << statuses[r];
    const std::vector<CollectiveRecord> history = group->history(r);
    ASSERT_EQ(history.size(), 2u);
    EXPECT_EQ(history[0].sequence, 0);
    EXPECT_EQ(history[0].data - buffers[r].data(), 60);
    EXPECT_EQ(history[0].count, 40);
    EXPECT_EQ(history[0].op, ReduceOp::kAverage);
    EXPECT_EQ(history[1].sequence, 2);
    EXPECT_EQ(history[1].data, buffers[r].data());
    EXPECT_EQ(history[1].count, 60);
    EXPECT_EQ(history[1].op, ReduceOp::kSum);
    EXPECT_EQ(buffers[r][0], static_cast<float>(ranks));
    EXPECT_EQ(buffers[r][99], 1.0f);
  }
}

INSTANTIATE_TEST_SUITE_P(Ranks, LoopbackRanksTest, ::testing::Values(1, 2, 3, 4));

TEST(LoopbackTest, ARankThatNeverCallsMakesTheOthersTimeOut) {
  const absl::Duration timeout = absl::Milliseconds(200);
  auto group = MakeGroup(3, timeout);
  std::vector<absl::Duration> waited(3);
  std::vector<std::vector<float>> buffers(3, std::vector<float>(1234, 1.0f));
  const auto statuses = RunRanks(*group, [&](int r, Communicator& comm) -> absl::Status {
    comm.set_step(57);
    if (r == 2) return absl::OkStatus();  // gone
    const absl::Time start = absl::Now();
    absl::Status s = comm.AllReduce(buffers[r].data(), 1234, ReduceOp::kAverage);
    waited[r] = absl::Now() - start;
    if (!s.ok()) return s;
    return absl::InternalError("the all-reduce completed without rank 2");
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(statuses[r].code(), absl::StatusCode::kDeadlineExceeded) << statuses[r];
    const std::string message(statuses[r].message());
    EXPECT_THAT(message, HasSubstr(absl::StrCat("rank ", r,
                                                " (loopback): all-reduce #0 (1234 "
                                                "floats, average) at step 57 did not complete "
                                                "within 200ms")));
    EXPECT_THAT(message, HasSubstr("not arrived: rank 2"));
    // The timeout, not much more: a generous 2 s for a loaded 2-core machine.
    EXPECT_GE(waited[r], timeout) << r;
    EXPECT_LT(waited[r], timeout + absl::Seconds(2)) << r;
    std::printf("rank %d gave up after %s: %s\n", r, absl::FormatDuration(waited[r]).c_str(),
                message.c_str());
    // The buffer was not written: the result never came.
    EXPECT_EQ(buffers[r][0], 1.0f);
  }
  // After a failure a rank refuses what follows: the ranks are out of step.
  const absl::Status after = group->rank(0).Barrier();
  EXPECT_EQ(after.code(), absl::StatusCode::kFailedPrecondition) << after;
  EXPECT_THAT(std::string(after.message()), HasSubstr("did not complete within"));
}

TEST(LoopbackTest, MismatchedCountsFailEveryRankNamingBothCalls) {
  auto group = MakeGroup(3);
  std::vector<std::vector<float>> buffers(3, std::vector<float>(20, 1.0f));
  const auto statuses = RunRanks(*group, [&](int r, Communicator& comm) {
    if (r == 1) absl::SleepFor(absl::Milliseconds(50));  // rank 1 arrives last
    return comm.AllReduce(buffers[r].data(), r == 1 ? 12 : 10, ReduceOp::kSum);
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(statuses[r].code(), absl::StatusCode::kFailedPrecondition) << r << statuses[r];
    EXPECT_THAT(std::string(statuses[r].message()),
                HasSubstr("rank 0 called all-reduce #0 (10 floats, sum) but rank 1 called "
                          "all-reduce #0 (12 floats, sum)"))
        << r;
    EXPECT_EQ(buffers[r][0], 1.0f);
  }
}

TEST(LoopbackTest, DifferentCollectivesAtOneSequenceNumberFail) {
  auto group = MakeGroup(2);
  float x = 1;
  const auto statuses = RunRanks(*group, [&](int r, Communicator& comm) {
    if (r == 0) return comm.Barrier();
    absl::SleepFor(absl::Milliseconds(20));
    return comm.Broadcast(&x, 1, 0);
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(statuses[r].code(), absl::StatusCode::kFailedPrecondition) << statuses[r];
    EXPECT_THAT(std::string(statuses[r].message()),
                HasSubstr("rank 0 called barrier #0 but rank 1 called broadcast #0 (1 floats "
                          "from rank 0)"));
  }
}

TEST(LoopbackTest, AbortWakesTheWaitingRanks) {
  auto group = MakeGroup(3, absl::Seconds(30));
  absl::Time end;
  const absl::Time start = absl::Now();
  const auto statuses = RunRanks(*group, [&](int r, Communicator& comm) -> absl::Status {
    if (r == 1) {
      absl::SleepFor(absl::Milliseconds(50));
      comm.Abort();
      comm.Abort();  // safe twice
      return absl::OkStatus();
    }
    return comm.Barrier();
  });
  end = absl::Now();
  EXPECT_EQ(statuses[0].code(), absl::StatusCode::kAborted) << statuses[0];
  EXPECT_EQ(statuses[2].code(), absl::StatusCode::kAborted) << statuses[2];
  EXPECT_THAT(std::string(statuses[0].message()), HasSubstr("rank 1 (loopback) aborted"));
  EXPECT_LT(end - start, absl::Seconds(10));
}

TEST(LoopbackTest, BadArgumentsAreRefusedWithoutTakingASequenceNumber) {
  auto group = MakeGroup(2);
  const auto statuses = RunRanks(*group, [&](int r, Communicator& comm) -> absl::Status {
    float x[4] = {1, 2, 3, 4};
    if (r == 0) {
      EXPECT_EQ(comm.StartAllReduce(nullptr, 4, ReduceOp::kSum).code(),
                absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(comm.StartAllReduce(x, -1, ReduceOp::kSum).code(),
                absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(comm.Broadcast(x, 4, 2).code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(comm.Broadcast(x, 4, -1).code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(comm.AllReduceHost(nullptr, 1).code(), absl::StatusCode::kInvalidArgument);
    }
    // Still in step: the refusals were not collectives.
    if (absl::Status s = comm.AllReduce(x, 4, ReduceOp::kSum); !s.ok()) return s;
    if (x[3] != 8.0f) return absl::InternalError(absl::StrCat("x[3] = ", x[3]));
    return group->history(r).front().sequence == 0
               ? absl::OkStatus()
               : absl::InternalError("a refused call took sequence number 0");
  });
  for (const absl::Status& s : statuses) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(LoopbackGroup::Create(0, kTimeout).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoopbackGroup::Create(2, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LoopbackTest, ZeroCountsAndTheName) {
  auto group = MakeGroup(2);
  const auto statuses = RunRanks(*group, [&](int r, Communicator& comm) -> absl::Status {
    if (comm.name() != "loopback" || comm.size() != 2 || comm.rank() != r) {
      return absl::InternalError("wrong identity");
    }
    if (absl::Status s = comm.AllReduce(nullptr, 0, ReduceOp::kSum); !s.ok()) return s;
    return comm.Broadcast(nullptr, 0, 1);
  });
  for (const absl::Status& s : statuses) EXPECT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace fftrain::comm
