#include "tools/scaling/scaling_model.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace fftrain::scaling {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Times are sums of a few products of exact binary fractions and small decimals.
constexpr double kTolerance = 1e-9;

// paper128's layers with parameters, forward order.
constexpr int64_t kConv11 = 3 * 96 * 121 + 96;         // 34,944
constexpr int64_t kConv9 = 96 * 256 * 81 + 256;        // 1,990,912
constexpr int64_t kConv7 = 256 * 384 * 49 + 384;       // 4,817,280
constexpr int64_t kConv3 = 384 * 384 * 9 + 384;        // 1,327,488
constexpr int64_t kFc = int64_t{18816} * 1000 + 1000;  // 18,817,000
constexpr int64_t kMiB = 1 << 20;

std::vector<Bucket> Paper128Buckets() {
  auto buckets = PlanBuckets(Paper128ParameterCounts(), 1 * kMiB, 25 * kMiB);
  EXPECT_TRUE(buckets.ok()) << buckets.status();
  return buckets.ok() ? *buckets : std::vector<Bucket>{};
}

// An interconnect whose all-reduces cost nothing.
Interconnect Free() {
  Interconnect c;
  c.nvlink_busbw_gbs = kInfinity;
  c.network_gbps = kInfinity;
  c.alpha_intra_us = 0;
  c.alpha_inter_us = 0;
  return c;
}

TEST(Paper128Test, ParameterCountsAreTheNetworksLayers) {
  EXPECT_EQ(Paper128ParameterCounts(),
            (std::vector<int64_t>{kConv11, kConv9, kConv7, kConv3, kFc}));
  EXPECT_EQ(kConv11 + kConv9 + kConv7 + kConv3 + kFc, 26'987'624);
}

// --- bucket planning ---

TEST(PlanBucketsTest, Paper128InDdpsBucketsLastLayerFirst) {
  const std::vector<Bucket> buckets = Paper128Buckets();
  ASSERT_EQ(buckets.size(), 3u);
  // fc alone is 75 MB, past the first bucket's 1 MiB; conv3 + conv7 (24.6 MB) stay under
  // 25 MiB (26.2 MB), conv9 takes the bucket to 32.5 MB and closes it; conv11 is left.
  EXPECT_EQ(buckets[0].layers, std::vector<int>{4});
  EXPECT_EQ(buckets[0].bytes, kFc * 4);
  EXPECT_EQ(buckets[1].layers, (std::vector<int>{3, 2, 1}));
  EXPECT_EQ(buckets[1].bytes, (kConv3 + kConv7 + kConv9) * 4);
  EXPECT_EQ(buckets[2].layers, std::vector<int>{0});
  EXPECT_EQ(buckets[2].bytes, kConv11 * 4);
}

TEST(PlanBucketsTest, NeverSplitsALayerAndKeepsBackwardOrder) {
  // Forward 10, 3000, 20, 200, 100 floats; backward 100, 200, 20, 3000, 10. First bucket
  // >= 256 bytes (64 floats): 100. Then >= 1024 bytes (256 floats): 200 + 20 = 220 is
  // short, the 3000-float layer joins the open bucket whole and closes it; 10 is left.
  auto buckets = PlanBuckets({10, 3000, 20, 200, 100}, 256, 1024);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  ASSERT_EQ(buckets->size(), 3u);
  EXPECT_EQ((*buckets)[0].layers, std::vector<int>{4});
  EXPECT_EQ((*buckets)[0].bytes, 400);
  EXPECT_EQ((*buckets)[1].layers, (std::vector<int>{3, 2, 1}));
  EXPECT_EQ((*buckets)[1].bytes, (200 + 20 + 3000) * 4);
  EXPECT_EQ((*buckets)[2].layers, std::vector<int>{0});
  EXPECT_EQ((*buckets)[2].bytes, 40);
}

TEST(PlanBucketsTest, ALayerLargerThanABucketOnAnEmptyBucketIsABucketOfItsOwn) {
  auto buckets = PlanBuckets({5, 1000, 5}, 16, 64);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  ASSERT_EQ(buckets->size(), 3u);
  EXPECT_EQ((*buckets)[1].layers, std::vector<int>{1});
  EXPECT_EQ((*buckets)[1].bytes, 4000);
}

TEST(PlanBucketsTest, FirstBucketIsCappedAtTheBucketSizeAsTheTrainerCapsIt) {
  // A first bucket of 1 MiB with later buckets of 8 bytes: the first closes at 8 bytes too.
  auto buckets = PlanBuckets({2, 2, 2}, kMiB, 8);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  EXPECT_EQ(buckets->size(), 3u);
}

TEST(PlanBucketsTest, RefusesEmptyOrNonPositiveInput) {
  EXPECT_FALSE(PlanBuckets({}, kMiB, 25 * kMiB).ok());
  EXPECT_FALSE(PlanBuckets({10, 0}, kMiB, 25 * kMiB).ok());
  EXPECT_FALSE(PlanBuckets({10, -3}, kMiB, 25 * kMiB).ok());
  EXPECT_FALSE(PlanBuckets({10}, 0, 25 * kMiB).ok());
  EXPECT_FALSE(PlanBuckets({10}, kMiB, -1).ok());
}

// --- ready times ---

TEST(ReadyTimesTest, SpreadEvenlyInOrderTheLastAtBackwardsEnd) {
  std::vector<Bucket> buckets = Paper128Buckets();
  SpreadReadyTimesEvenly(9.0, buckets);
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_NEAR(buckets[0].ready_ms, 3.0, kTolerance);
  EXPECT_NEAR(buckets[1].ready_ms, 6.0, kTolerance);
  EXPECT_NEAR(buckets[2].ready_ms, 9.0, kTolerance);
}

TEST(ReadyTimesTest, FromLayersABucketIsReadyWithItsLastLayer) {
  std::vector<Bucket> buckets = Paper128Buckets();
  // Forward order conv11 1, conv9 2, conv7 3, conv3 4, fc 5 ms. Backward's clock: fc done
  // at 5, conv3 at 9, conv7 at 12, conv9 at 14, conv11 at 15.
  ASSERT_TRUE(SetReadyTimesFromLayers({1, 2, 3, 4, 5}, 15.5, buckets).ok());
  EXPECT_NEAR(buckets[0].ready_ms, 5, kTolerance);
  EXPECT_NEAR(buckets[1].ready_ms, 14, kTolerance);
  EXPECT_NEAR(buckets[2].ready_ms, 15, kTolerance);
}

TEST(ReadyTimesTest, FromLayersRefusesBadTimes) {
  std::vector<Bucket> buckets = Paper128Buckets();
  EXPECT_FALSE(SetReadyTimesFromLayers({1, 2, 3, 4, 5}, 14.9, buckets).ok());  // too long
  EXPECT_FALSE(SetReadyTimesFromLayers({1, 2, 3, 4}, 100, buckets).ok());      // too few
  EXPECT_FALSE(SetReadyTimesFromLayers({1, 2, 3, 4, 5, 6}, 100, buckets).ok());
  EXPECT_FALSE(SetReadyTimesFromLayers({1, 2, kNaN, 4, 5}, 100, buckets).ok());
  EXPECT_FALSE(SetReadyTimesFromLayers({1, 2, -3, 4, 5}, 100, buckets).ok());
}

// --- one all-reduce ---

TEST(AllReduceTest, OneGpuCostsNothing) {
  auto t = EstimateAllReduce(int64_t{1} << 30, 1, Interconnect());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->ms(), 0);
}

TEST(AllReduceTest, RingAndTreeInsideOneNodeByHand) {
  // 8 GPUs, one node, 100 GB/s (1e8 bytes a ms), 1 us a step, 100 MB.
  Interconnect c;
  c.nvlink_busbw_gbs = 100;
  c.alpha_intra_us = 1;
  auto t = EstimateAllReduce(100'000'000, 8, c);
  ASSERT_TRUE(t.ok()) << t.status();
  // ring: 2 * 7 steps of 1 us + 2 * 7/8 * 1 ms; tree: a chain of 8, up and down, same
  // latency, + 2 * 1 ms / 0.92.
  EXPECT_NEAR(t->ring_ms, 0.014 + 1.75, kTolerance);
  EXPECT_NEAR(t->tree_ms, 0.014 + 2 / 0.92, kTolerance);
  EXPECT_EQ(t->chosen, AllReduceAlgorithm::kRing);
}

TEST(AllReduceTest, AcrossNodesTheNetworkIsTheBottleneck) {
  Interconnect c;  // 370 GB/s NVLink; 8 x 400 Gb/s x 0.8 = 320 GB/s a node
  EXPECT_DOUBLE_EQ(BusBandwidthGbs(8, c), 370);
  EXPECT_DOUBLE_EQ(BusBandwidthGbs(16, c), 320);
  EXPECT_DOUBLE_EQ(BusBandwidthGbs(1024, c), 320);
  // 12 GPUs on 2 nodes: 6 NICs a node.
  EXPECT_DOUBLE_EQ(BusBandwidthGbs(12, c), 240);
  // A fast network leaves NVLink the bottleneck.
  c.network_gbps = 1e6;
  EXPECT_DOUBLE_EQ(BusBandwidthGbs(64, c), 370);
}

TEST(AllReduceTest, RingAndTreeAcrossNodesByHand) {
  Interconnect c;
  c.alpha_intra_us = 2;
  c.alpha_inter_us = 10;
  // 32 GPUs on 4 nodes, 8 a node; B = 320 GB/s = 3.2e8 bytes a ms; S = 32e7 bytes (1 ms
  // at B). Ring: 2(32-4) NVLink steps, 2(4-1) network steps. Tree: chain of 8 and
  // log2(4) = 2 levels, up and down.
  auto t = EstimateAllReduce(320'000'000, 32, c);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_NEAR(t->ring_ms, (56 * 2 + 6 * 10) * 1e-3 + 2.0 * 31 / 32, kTolerance);
  EXPECT_NEAR(t->tree_ms, 2 * (7 * 2 + 2 * 10) * 1e-3 + 2 / 0.92, kTolerance);
}

TEST(AllReduceTest, TinyMessagesPreferTheTreeAtScaleLargeOnesTheRingOnANode) {
  const Interconnect c;
  // 4 bytes on 1024 GPUs: the ring's 2(n-1) steps against the tree's 2(7 + log2 128).
  auto tiny = EstimateAllReduce(4, 1024, c);
  ASSERT_TRUE(tiny.ok()) << tiny.status();
  EXPECT_EQ(tiny->chosen, AllReduceAlgorithm::kTree);
  EXPECT_GT(tiny->ring_ms, 10 * tiny->tree_ms);
  // Inside one node both have the same latency, and the ring moves less: ring.
  for (int64_t bytes : {int64_t{4}, int64_t{1} << 20, int64_t{1} << 30}) {
    auto node = EstimateAllReduce(bytes, 8, c);
    ASSERT_TRUE(node.ok()) << node.status();
    EXPECT_EQ(node->chosen, AllReduceAlgorithm::kRing) << bytes << " bytes";
  }
  // 1 GiB on 2 nodes: bandwidth dominates and the ring's 2(n-1)/n < 2/0.92 wins.
  auto large = EstimateAllReduce(int64_t{1} << 30, 16, c);
  ASSERT_TRUE(large.ok()) << large.status();
  EXPECT_EQ(large->chosen, AllReduceAlgorithm::kRing);
  // The crossover moves to larger messages as n grows: at 1024 GPUs, even 100 MB.
  auto at_scale = EstimateAllReduce(100'000'000, 1024, c);
  ASSERT_TRUE(at_scale.ok()) << at_scale.status();
  EXPECT_EQ(at_scale->chosen, AllReduceAlgorithm::kTree);
}

TEST(AllReduceTest, RefusesBadInput) {
  Interconnect c;
  EXPECT_FALSE(EstimateAllReduce(-1, 8, c).ok());
  EXPECT_FALSE(EstimateAllReduce(4, 0, c).ok());
  c.nvlink_busbw_gbs = kNaN;
  EXPECT_FALSE(EstimateAllReduce(4, 8, c).ok());
}

// --- the step ---

TEST(PredictStepTest, OneGpuIsAHundredPercent) {
  std::vector<Bucket> buckets = Paper128Buckets();
  StepTimes times;
  SpreadReadyTimesEvenly(times.backward_ms, buckets);
  auto point = PredictStep(times, buckets, 1, Interconnect());
  ASSERT_TRUE(point.ok()) << point.status();
  EXPECT_DOUBLE_EQ(point->step_ms, times.step_ms);
  EXPECT_DOUBLE_EQ(point->efficiency, 1);
  EXPECT_EQ(point->exposed_ms, 0);
}

TEST(PredictStepTest, FreeCommunicationIsAHundredPercentAtAnyScale) {
  std::vector<Bucket> buckets = Paper128Buckets();
  StepTimes times;
  times.update_ms = 0.5;
  SpreadReadyTimesEvenly(times.backward_ms, buckets);
  for (int gpus : GpuCounts(1024)) {
    auto point = PredictStep(times, buckets, gpus, Free());
    ASSERT_TRUE(point.ok()) << point.status();
    EXPECT_DOUBLE_EQ(point->efficiency, 1) << gpus << " GPUs";
    EXPECT_EQ(point->allreduce_ms, 0) << gpus << " GPUs";
  }
}

TEST(PredictStepTest, OneBucketAtBackwardsEndAddsItsWholeAllReduce) {
  // The single bucket is ready only when backward ends: nothing hides it.
  Interconnect c;
  c.nvlink_busbw_gbs = 100;
  c.alpha_intra_us = 1;
  StepTimes times{/*step_ms=*/10, /*backward_ms=*/6, /*update_ms=*/1};
  std::vector<Bucket> buckets = {{100'000'000, {0}, /*ready_ms=*/6}};
  auto point = PredictStep(times, buckets, 8, c);
  ASSERT_TRUE(point.ok()) << point.status();
  const double allreduce_ms = 0.014 + 1.75;  // RingAndTreeInsideOneNodeByHand
  EXPECT_NEAR(point->step_ms, 10 + allreduce_ms, kTolerance);
  EXPECT_NEAR(point->exposed_ms, allreduce_ms, kTolerance);
  EXPECT_NEAR(point->allreduce_ms, allreduce_ms, kTolerance);
  EXPECT_NEAR(point->efficiency, 10 / (10 + allreduce_ms), kTolerance);
  EXPECT_EQ(point->algorithms, std::vector<AllReduceAlgorithm>{AllReduceAlgorithm::kRing});
}

TEST(PredictStepTest, BucketsQueueOnOneStreamAndOverlapBackward) {
  // 2 GPUs on a node, no latency, 1 GB/s (1e6 bytes a ms): 3e6 bytes take 3 ms by ring
  // (2 * 1/2 * S / B). Forward 4 ms, backward 6 ms (compute ends at 10).
  Interconnect c;
  c.nvlink_busbw_gbs = 1;
  c.alpha_intra_us = 0;
  StepTimes times{/*step_ms=*/10, /*backward_ms=*/6, /*update_ms=*/0};
  std::vector<Bucket> buckets = {{3'000'000, {1}, 1}, {3'000'000, {0}, 2}};
  auto point = PredictStep(times, buckets, 2, c);
  ASSERT_TRUE(point.ok()) << point.status();
  // Bucket 0: ready at 5, runs 5-8. Bucket 1: ready at 6, waits for the stream, runs
  // 8-11; 1 ms past backward's end.
  EXPECT_NEAR(point->step_ms, 11, kTolerance);
  EXPECT_NEAR(point->exposed_ms, 1, kTolerance);
  EXPECT_NEAR(point->allreduce_ms, 6, kTolerance);
  // One bucket early enough is hidden entirely.
  auto hidden = PredictStep(times, {{3'000'000, {0}, 1}}, 2, c);
  ASSERT_TRUE(hidden.ok()) << hidden.status();
  EXPECT_NEAR(hidden->step_ms, 10, kTolerance);
  EXPECT_EQ(hidden->exposed_ms, 0);
}

TEST(PredictStepTest, Paper128DefaultsScaleAndPickTheTreeAtScale) {
  std::vector<Bucket> buckets = Paper128Buckets();
  StepTimes times;
  SpreadReadyTimesEvenly(times.backward_ms, buckets);
  double previous_step_ms = times.step_ms;
  for (int gpus : GpuCounts(1024)) {
    auto point = PredictStep(times, buckets, gpus, Interconnect());
    ASSERT_TRUE(point.ok()) << point.status();
    EXPECT_GE(point->step_ms, times.step_ms);
    EXPECT_LE(point->efficiency, 1);
    EXPECT_GT(point->efficiency, 0.5) << gpus << " GPUs";
    // More GPUs never make a step shorter: latency grows with n, bandwidth never rises.
    EXPECT_GE(point->step_ms, previous_step_ms * (1 - kTolerance)) << gpus << " GPUs";
    previous_step_ms = point->step_ms;
    if (gpus == 1024) {
      EXPECT_EQ(DescribeAlgorithms(point->algorithms), "tree");
    }
    if (gpus == 8) {
      EXPECT_EQ(DescribeAlgorithms(point->algorithms), "ring");
    }
  }
}

TEST(PredictStepTest, RefusesBadTimesAndBuckets) {
  const Interconnect c;
  const std::vector<Bucket> one = {{100, {0}, 1}};
  EXPECT_FALSE(PredictStep({kNaN, 1, 0}, one, 2, c).ok());
  EXPECT_FALSE(PredictStep({-10, 1, 0}, one, 2, c).ok());
  EXPECT_FALSE(PredictStep({kInfinity, 1, 0}, one, 2, c).ok());
  EXPECT_FALSE(PredictStep({10, kNaN, 0}, one, 2, c).ok());
  EXPECT_FALSE(PredictStep({10, 8, 3}, one, 2, c).ok());  // backward + update > step
  EXPECT_FALSE(PredictStep({10, 6, -1}, one, 2, c).ok());
  EXPECT_FALSE(PredictStep({10, 6, 0}, one, 0, c).ok());              // no GPU
  EXPECT_FALSE(PredictStep({10, 6, 0}, {{100, {0}, 7}}, 2, c).ok());  // after backward
  EXPECT_FALSE(PredictStep({10, 6, 0}, {{100, {0}, kNaN}}, 2, c).ok());
  EXPECT_FALSE(PredictStep({10, 6, 0}, {{0, {0}, 1}}, 2, c).ok());                   // empty bucket
  EXPECT_FALSE(PredictStep({10, 6, 0}, {{100, {1}, 2}, {100, {0}, 1}}, 2, c).ok());  // order
  EXPECT_TRUE(PredictStep({10, 6, 0}, one, 2, c).ok());
}

TEST(InterconnectTest, RefusesNonsense) {
  EXPECT_TRUE(ValidateInterconnect(Interconnect()).ok());
  EXPECT_TRUE(ValidateInterconnect(Free()).ok());
  auto refused = [](auto change) {
    Interconnect c;
    change(c);
    return !ValidateInterconnect(c).ok();
  };
  EXPECT_TRUE(refused([](Interconnect& c) { c.gpus_per_node = 0; }));
  EXPECT_TRUE(refused([](Interconnect& c) { c.nvlink_busbw_gbs = 0; }));
  EXPECT_TRUE(refused([](Interconnect& c) { c.nvlink_busbw_gbs = kNaN; }));
  EXPECT_TRUE(refused([](Interconnect& c) { c.network_gbps = -400; }));
  EXPECT_TRUE(refused([](Interconnect& c) { c.network_efficiency = 0; }));
  EXPECT_TRUE(refused([](Interconnect& c) { c.network_efficiency = 1.5; }));
  EXPECT_TRUE(refused([](Interconnect& c) { c.network_efficiency = kNaN; }));
  EXPECT_TRUE(refused([](Interconnect& c) { c.alpha_intra_us = -1; }));
  EXPECT_TRUE(refused([](Interconnect& c) { c.alpha_inter_us = kInfinity; }));
}

// --- small helpers ---

TEST(DescribeAlgorithmsTest, OneNameOrCounts) {
  using A = AllReduceAlgorithm;
  EXPECT_EQ(DescribeAlgorithms({A::kRing, A::kRing}), "ring");
  EXPECT_EQ(DescribeAlgorithms({A::kTree}), "tree");
  EXPECT_EQ(DescribeAlgorithms({A::kTree, A::kRing, A::kRing}), "ring 2, tree 1");
  EXPECT_EQ(DescribeAlgorithms({}), "-");
}

TEST(GpuCountsTest, PowersOfTwoThenTheMaximum) {
  EXPECT_EQ(GpuCounts(1024), (std::vector<int>{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}));
  EXPECT_EQ(GpuCounts(12), (std::vector<int>{1, 2, 4, 8, 12}));
  EXPECT_EQ(GpuCounts(1), std::vector<int>{1});
}

TEST(ParseTest, CountAndMillisecondLists) {
  auto counts = ParseCountList(" 34944, 1990912 ");
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(*counts, (std::vector<int64_t>{34944, 1990912}));
  EXPECT_FALSE(ParseCountList("").ok());
  EXPECT_FALSE(ParseCountList("1,,2").ok());
  EXPECT_FALSE(ParseCountList("1,x").ok());
  EXPECT_FALSE(ParseCountList("1,0").ok());
  EXPECT_FALSE(ParseCountList("1,-5").ok());
  EXPECT_FALSE(ParseCountList("1.5").ok());
  EXPECT_FALSE(ParseCountList("99999999999999999999999").ok());

  auto ms = ParseMillisecondList("1.5,0,2");
  ASSERT_TRUE(ms.ok()) << ms.status();
  EXPECT_EQ(*ms, (std::vector<double>{1.5, 0, 2}));
  EXPECT_FALSE(ParseMillisecondList("1,nan").ok());
  EXPECT_FALSE(ParseMillisecondList("inf").ok());
  EXPECT_FALSE(ParseMillisecondList("-1").ok());
  EXPECT_FALSE(ParseMillisecondList("1;2").ok());
}

}  // namespace
}  // namespace fftrain::scaling
