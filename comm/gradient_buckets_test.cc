#include "comm/gradient_buckets.h"

#include <vector>

#include "gtest/gtest.h"

namespace fftrain::comm {
namespace {

// Records the all-reduces it is asked to start, and how many Waits it saw.
class RecordingCommunicator : public SingleProcessCommunicator {
 public:
  struct Call {
    float* data;
    int64_t count;
    ReduceOp op;
  };
  absl::Status StartAllReduce(float* data, int64_t count, ReduceOp op) override {
    calls.push_back({data, count, op});
    return absl::OkStatus();
  }
  absl::Status WaitAllReduces() override {
    ++waits;
    return absl::OkStatus();
  }
  std::vector<Call> calls;
  int waits = 0;
};

// Layers of `counts` floats laid out front to back in one buffer, listed back to front
// (the order backward completes them).
std::vector<GradientRange> BackToFront(const std::vector<int64_t>& counts) {
  std::vector<GradientRange> forward;
  int64_t offset = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    forward.push_back({"layer" + std::to_string(i), offset, counts[i]});
    offset += counts[i];
  }
  return {forward.rbegin(), forward.rend()};
}

constexpr int64_t kKiB = 1024 / sizeof(float);  // floats in a KiB

TEST(PlanGradientBucketsTest, FirstBucketSmallThenFullOnesNeverSplittingALayer) {
  // Back to front: 300, 300, 600, 100, 5000 floats (KiB units below are 256 floats).
  const auto ranges = BackToFront({5000, 100, 600, 300, 300});
  BucketOptions options{/*first_bucket_bytes=*/2 * 1024, /*bucket_bytes=*/4 * 1024};
  auto buckets = PlanGradientBuckets(ranges, options);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  // First bucket closes at >= 512 floats: 300 + 300. Then >= 1024: 600 + 100 = 700 is
  // short, + 5000 closes it (a layer is never split).
  ASSERT_EQ(buckets->size(), 2u);
  EXPECT_EQ((*buckets)[0].ranges, (std::vector<int>{0, 1}));
  EXPECT_EQ((*buckets)[0].count, 600);
  EXPECT_EQ((*buckets)[0].offset, 5000 + 100 + 600);
  EXPECT_EQ((*buckets)[1].ranges, (std::vector<int>{2, 3, 4}));
  EXPECT_EQ((*buckets)[1].offset, 0);
  EXPECT_EQ((*buckets)[1].count, 5700);
}

TEST(PlanGradientBucketsTest, LargeLayerIsABucketOfItsOwnAndTheTailIsKept) {
  const auto ranges = BackToFront({10, 20, 100 * kKiB, 30});
  auto buckets = PlanGradientBuckets(ranges, {1024, 1024});
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  ASSERT_EQ(buckets->size(), 2u);
  EXPECT_EQ((*buckets)[0].ranges, (std::vector<int>{0, 1}));  // 30, then 100 KiB closes it
  EXPECT_EQ((*buckets)[1].ranges, (std::vector<int>{2, 3}));  // the rest, not full
  int64_t total = 0;
  for (const auto& b : *buckets) total += b.count;
  EXPECT_EQ(total, 10 + 20 + 100 * kKiB + 30);
}

TEST(PlanGradientBucketsTest, RefusesRangesThatAreNotAdjacentOrAreEmpty) {
  std::vector<GradientRange> gap = {{"b", 100, 10}, {"a", 0, 50}};
  EXPECT_EQ(PlanGradientBuckets(gap, {}).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<GradientRange> empty = {{"a", 0, 0}};
  EXPECT_EQ(PlanGradientBuckets(empty, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanGradientBuckets(BackToFront({4}), {0, 10}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto none = PlanGradientBuckets({}, {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(DescribeBucketsTest, NamesEveryLayer) {
  const auto ranges = BackToFront({300, 300});
  auto buckets = PlanGradientBuckets(ranges, {1 << 20, 1 << 20});
  ASSERT_TRUE(buckets.ok());
  const auto lines = DescribeBuckets(ranges, *buckets);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("layer1, layer0"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("600 floats"), std::string::npos) << lines[0];
}

TEST(BucketedAllReduceTest, StartsEachBucketWhenItsLastLayerIsReadyThenWaitsOnce) {
  RecordingCommunicator comm;
  std::vector<float> gradients(5000 + 100 + 600 + 300 + 300);
  const auto ranges = BackToFront({5000, 100, 600, 300, 300});
  auto all_reduce = BucketedAllReduce::Create(comm, gradients.data(), ranges, {2048, 4096});
  ASSERT_TRUE(all_reduce.ok()) << all_reduce.status();
  for (int step = 0; step < 2; ++step) {
    comm.calls.clear();
    ASSERT_TRUE(all_reduce->MarkReady(ranges[0].offset, ranges[0].count).ok());
    EXPECT_TRUE(comm.calls.empty());  // the first bucket needs two layers
    ASSERT_TRUE(all_reduce->MarkReady(ranges[1].offset, ranges[1].count).ok());
    ASSERT_EQ(comm.calls.size(), 1u);
    EXPECT_EQ(comm.calls[0].data, gradients.data() + 5700);
    EXPECT_EQ(comm.calls[0].count, 600);
    EXPECT_EQ(comm.calls[0].op, ReduceOp::kAverage);
    for (int r = 2; r < 5; ++r) {
      ASSERT_TRUE(all_reduce->MarkReady(ranges[r].offset, ranges[r].count).ok());
    }
    ASSERT_EQ(comm.calls.size(), 2u);
    EXPECT_EQ(comm.calls[1].data, gradients.data());
    EXPECT_EQ(comm.calls[1].count, 5700);
    ASSERT_TRUE(all_reduce->Finish().ok());
    EXPECT_EQ(comm.waits, step + 1);
  }
}

TEST(BucketedAllReduceTest, RefusesRangesOutOfOrderAndStepsThatEndEarly) {
  RecordingCommunicator comm;
  std::vector<float> gradients(30);
  const auto ranges = BackToFront({10, 20});
  auto all_reduce = BucketedAllReduce::Create(comm, gradients.data(), ranges, {4, 4});
  ASSERT_TRUE(all_reduce.ok());
  // The range due first is [10, 30); reporting [0, 10) first would reorder the buckets.
  EXPECT_EQ(all_reduce->MarkReady(0, 10).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(all_reduce->MarkReady(10, 20).ok());
  const absl::Status early = all_reduce->Finish();
  EXPECT_EQ(early.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(early.message().find("layer0"), std::string::npos) << early;
  // After a refused step the next one starts afresh.
  ASSERT_TRUE(all_reduce->MarkReady(10, 20).ok());
  ASSERT_TRUE(all_reduce->MarkReady(0, 10).ok());
  EXPECT_TRUE(all_reduce->Finish().ok());
  EXPECT_EQ(all_reduce->MarkReady(10, 20).ok(), true);
}

}  // namespace
}  // namespace fftrain::comm
