// A model of data-parallel training's step time on more GPUs than we have: one GPU's
// measured step, the gradient buckets backward hands to the all-reduce, and an alpha-beta
// model of NCCL's ring and tree all-reduce over NVLink inside a node and the network
// between nodes. docs/distributed.md explains it with the table it prints.
//
// The step at n GPUs (weak scaling: every GPU keeps its batch, so compute is unchanged):
//
//   forward_ms = step_ms - backward_ms - update_ms
//   bucket i ready at forward_ms + ready_ms(i); its all-reduce starts when it is ready and
//   the one before it has finished (one communication stream, buckets in ready order):
//     start(i) = max(ready(i), end(i-1)),  end(i) = start(i) + allreduce(bytes(i), n)
//   step(n) = max(forward_ms + backward_ms, end(last)) + update_ms
//   efficiency(n) = step_ms / step(n)
//
// One all-reduce of S bytes over n GPUs on N = ceil(n / gpus_per_node) nodes, p = n / N
// GPUs on each, after NCCL's own tuning model (src/graph/tuning.cc, ncclTopoTuneModel:
// a ring all-reduce takes 2(n-1) steps of which 2(N-1) cross the network; a tree
// all-reduce goes up and down a chain inside each node and a binary tree across nodes,
// and NCCL credits it 0.92 of the ring's bus bandwidth, counting 2 S of traffic):
//
//   ring(S, n) = 2(n-N) alpha_intra + 2(N-1) alpha_inter + 2(n-1)/n * S / B
//   tree(S, n) = 2((p-1) alpha_intra + floor(log2 N) alpha_inter) + 2 S / (0.92 B)
//   B = nvlink_busbw                                        on one node
//     = min(nvlink_busbw, p * network_gbps / 8 * network_efficiency)   across nodes
//
// NCCL picks, per call, the algorithm its model finds faster; so does this one. B across
// nodes is the node's network bandwidth because a ring (or tree) leaves each node once
// per channel: the node's NICs together carry 2(n-1)/n S, as one GPU's NVLink does. The
// model is NCCL's plain ring and tree (NVLink SHARP off, as on our machines, no CollNet);
// it leaves out NCCL's per-call base latency, its protocol choice (LL, LL128, Simple)
// and its tree correction factors for medium sizes.
#ifndef FFTRAIN_TOOLS_SCALING_SCALING_MODEL_H_
#define FFTRAIN_TOOLS_SCALING_SCALING_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fftrain::scaling {

// Gradients travel as float32, one per parameter.
inline constexpr int64_t kGradientBytesPerParameter = 4;

// The fraction of the ring's bus bandwidth NCCL's tuning model credits a tree all-reduce
// (tuning.cc: `busBw = std::min(busBw*.92, ...)` for Tree AllReduce).
inline constexpr double kTreeBandwidthFactor = 0.92;

// The machines: NVLink inside a node, one NIC per GPU between nodes. Bandwidths may be
// +infinity (free transfers); latencies may be 0. The defaults and their sources are in
// scaling_model_main.cc, which prints them.
struct Interconnect {
  int gpus_per_node = 8;
  double nvlink_busbw_gbs = 370;    // GB/s per GPU: NCCL's ring bus bandwidth in a node
  double network_gbps = 400;        // Gb/s line rate of each GPU's NIC
  double network_efficiency = 0.8;  // the part of the line rate NCCL's bus bandwidth reaches
  double alpha_intra_us = 1.9;      // one all-reduce step between GPUs of a node
  double alpha_inter_us = 4.0;      // one step between nodes
};

absl::Status ValidateInterconnect(const Interconnect& interconnect);

// ceil(gpus / gpus_per_node).
int NodeCount(int gpus, const Interconnect& interconnect);

// B above, in GB/s (1e9 bytes a second).
double BusBandwidthGbs(int gpus, const Interconnect& interconnect);

enum class AllReduceAlgorithm { kRing, kTree };
absl::string_view AlgorithmName(AllReduceAlgorithm algorithm);

struct AllReduceTime {
  double ring_ms = 0;
  double tree_ms = 0;
  AllReduceAlgorithm chosen = AllReduceAlgorithm::kRing;  // the faster; ring on a tie
  double ms() const { return chosen == AllReduceAlgorithm::kRing ? ring_ms : tree_ms; }
};

// One all-reduce of `bytes` over `gpus` GPUs; 0 ms on one GPU.
absl::StatusOr<AllReduceTime> EstimateAllReduce(int64_t bytes, int gpus,
                                                const Interconnect& interconnect);

// A slice of the gradients all-reduced as one call.
struct Bucket {
  int64_t bytes = 0;
  std::vector<int> layers;  // forward indices (0 = the first layer), in the order ready
  double ready_ms = 0;      // since backward began
};

// Groups the layers' gradients (parameter counts in forward order; a layer without
// parameters is left out of the list) into buckets with the trainer's own planner,
// comm::PlanGradientBuckets, PyTorch DDP's rule: layers in backward order (the last layer
// first) fill a bucket until it holds at least first_bucket_bytes (the first bucket) or
// bucket_bytes (every later one); a layer is never split. The first bucket's size is
// capped at bucket_bytes, as the trainer caps it. Ready times are left at 0.
absl::StatusOr<std::vector<Bucket>> PlanBuckets(const std::vector<int64_t>& parameter_counts,
                                                int64_t first_bucket_bytes, int64_t bucket_bytes);

// The default timeline: bucket i (of B, in ready order) is ready (i+1)/B of the way
// through backward, so the last one at its end.
void SpreadReadyTimesEvenly(double backward_ms, std::vector<Bucket>& buckets);

// A measured timeline: `layer_backward_ms` (forward order, one per parameter count) is the
// backward time up to and including each layer's gradients, counted from the previous
// layer's; a bucket is ready once backward has done its last layer. The sum must not
// exceed backward_ms.
absl::Status SetReadyTimesFromLayers(const std::vector<double>& layer_backward_ms,
                                     double backward_ms, std::vector<Bucket>& buckets);

// One GPU's training step without communication.
struct StepTimes {
  double step_ms = 16.0;
  double backward_ms = 16.0 * 2 / 3;
  double update_ms = 0;  // the optimizer, after the last all-reduce
};

absl::Status ValidateStepTimes(const StepTimes& times);

struct ScalingPoint {
  int gpus = 1;
  int nodes = 1;
  double bus_bandwidth_gbs = 0;
  double step_ms = 0;
  double allreduce_ms = 0;  // the communication stream's busy time, hidden or not
  double exposed_ms = 0;    // step_ms - the one-GPU step: communication not hidden
  double efficiency = 1;    // one GPU's step / this step
  std::vector<AllReduceAlgorithm> algorithms;  // per bucket, in ready order
};

// The step at `gpus` GPUs, buckets in ready order.
absl::StatusOr<ScalingPoint> PredictStep(const StepTimes& times, const std::vector<Bucket>& buckets,
                                         int gpus, const Interconnect& interconnect);

// "ring", "tree", or "ring 2, tree 1" where buckets differ.
std::string DescribeAlgorithms(const std::vector<AllReduceAlgorithm>& algorithms);

// 1, 2, 4, ... up to max_gpus, and max_gpus itself where it is not a power of two.
std::vector<int> GpuCounts(int max_gpus);

// paper128's layers with parameters, forward order, weights and biases:
// conv11 3->96, conv9 96->256, conv7 256->384, conv3 384->384, fc 384*7*7 -> 1000.
std::vector<int64_t> Paper128ParameterCounts();

// "34944,1990912" -> {34944, 1990912}: positive integers separated by commas.
absl::StatusOr<std::vector<int64_t>> ParseCountList(absl::string_view text);
// "1.5,2" -> {1.5, 2}: finite numbers >= 0 separated by commas.
absl::StatusOr<std::vector<double>> ParseMillisecondList(absl::string_view text);

}  // namespace fftrain::scaling

#endif  // FFTRAIN_TOOLS_SCALING_SCALING_MODEL_H_
