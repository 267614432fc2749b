#include "tools/scaling/scaling_model.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "comm/gradient_buckets.h"

namespace fftrain::scaling {
namespace {

// Largest GPU count the model takes: far beyond any table, far from int overflow.
constexpr int kMaxGpus = 1 << 24;

// NaN fails every comparison, so `!(x > 0)` refuses it along with x <= 0.
bool PositiveOrInfinite(double x) { return x > 0; }
bool FiniteNonNegative(double x) { return std::isfinite(x) && x >= 0; }

absl::Status CheckGpus(int gpus) {
  if (gpus < 1 || gpus > kMaxGpus) {
    return absl::InvalidArgumentError(
        absl::StrCat("GPU count must be from 1 to ", kMaxGpus, ", got ", gpus));
  }
  return absl::OkStatus();
}

// floor(log2(n)) for n >= 1, as NCCL's log2i.
int FloorLog2(int n) {
  int log = 0;
  while (n >>= 1) ++log;
  return log;
}

}  // namespace

absl::Status ValidateInterconnect(const Interconnect& c) {
  if (c.gpus_per_node < 1 || c.gpus_per_node > kMaxGpus) {
    return absl::InvalidArgumentError(
        absl::StrCat("gpus_per_node must be from 1 to ", kMaxGpus, ", got ", c.gpus_per_node));
  }
  if (!PositiveOrInfinite(c.nvlink_busbw_gbs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("nvlink_busbw_gbs must be > 0 GB/s, got ", c.nvlink_busbw_gbs));
  }
  if (!PositiveOrInfinite(c.network_gbps)) {
    return absl::InvalidArgumentError(
        absl::StrCat("network_gbps must be > 0 Gb/s, got ", c.network_gbps));
  }
  if (!(c.network_efficiency > 0 && c.network_efficiency <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("network_efficiency must be in (0, 1], got ", c.network_efficiency));
  }
  if (!FiniteNonNegative(c.alpha_intra_us) || !FiniteNonNegative(c.alpha_inter_us)) {
    return absl::InvalidArgumentError(
        absl::StrCat("latencies must be finite and >= 0 us, got alpha_intra_us ", c.alpha_intra_us,
                     " and alpha_inter_us ", c.alpha_inter_us));
  }
  return absl::OkStatus();
}

int NodeCount(int gpus, const Interconnect& c) {
  return (gpus + c.gpus_per_node - 1) / c.gpus_per_node;
}

double BusBandwidthGbs(int gpus, const Interconnect& c) {
  const int nodes = NodeCount(gpus, c);
  if (nodes <= 1) return c.nvlink_busbw_gbs;
  const double gpus_per_node = static_cast<double>(gpus) / nodes;
  const double network_gbs = gpus_per_node * c.network_gbps / 8 * c.network_efficiency;
  return std::min(c.nvlink_busbw_gbs, network_gbs);
}

absl::string_view AlgorithmName(AllReduceAlgorithm algorithm) {
  return algorithm == AllReduceAlgorithm::kRing ? "ring" : "tree";
}

absl::StatusOr<AllReduceTime> EstimateAllReduce(int64_t bytes, int gpus, const Interconnect& c) {
  FFTRAIN_RETURN_IF_ERROR(ValidateInterconnect(c));
  FFTRAIN_RETURN_IF_ERROR(CheckGpus(gpus));
  if (bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat("all-reduce of ", bytes, " bytes"));
  }
  AllReduceTime time;
  if (gpus == 1) return time;
  const double n = gpus;
  const int node_count = NodeCount(gpus, c);
  const double nodes = node_count;
  const double per_node = n / nodes;
  // GB/s is 1e9 bytes a second, i.e. 1e6 bytes a millisecond.
  const double bytes_per_ms = BusBandwidthGbs(gpus, c) * 1e6;
  const double alpha_intra_ms = c.alpha_intra_us * 1e-3;
  const double alpha_inter_ms = c.alpha_inter_us * 1e-3;
  const double s = static_cast<double>(bytes);
  time.ring_ms = 2 * (n - nodes) * alpha_intra_ms + 2 * (nodes - 1) * alpha_inter_ms +
                 2 * (n - 1) / n * s / bytes_per_ms;
  time.tree_ms = 2 * ((per_node - 1) * alpha_intra_ms + FloorLog2(node_count) * alpha_inter_ms) +
                 2 * s / (kTreeBandwidthFactor * bytes_per_ms);
  time.chosen = time.tree_ms < time.ring_ms ? AllReduceAlgorithm::kTree : AllReduceAlgorithm::kRing;
  return time;
}

absl::StatusOr<std::vector<Bucket>> PlanBuckets(const std::vector<int64_t>& parameter_counts,
                                                int64_t first_bucket_bytes, int64_t bucket_bytes) {
  if (parameter_counts.empty()) {
    return absl::InvalidArgumentError("no layer with parameters to all-reduce");
  }
  // The flat buffer as the trainer lays it out: layers front to back, each range named by
  // its forward position; handed over back to front, the order backward completes them.
  constexpr int64_t kMaxParameters = int64_t{1} << 50;
  std::vector<comm::GradientRange> ready_order;
  int64_t offset = 0;
  for (size_t i = 0; i < parameter_counts.size(); ++i) {
    const int64_t count = parameter_counts[i];
    if (count <= 0 || count > kMaxParameters - offset) {
      return absl::InvalidArgumentError(absl::StrCat("layer ", i + 1, " has ", count,
                                                     " parameters; each must be positive and all ",
                                                     "together at most 2^50"));
    }
    ready_order.push_back({absl::StrCat("layer", i + 1), offset, count});
    offset += count;
  }
  std::reverse(ready_order.begin(), ready_order.end());
  comm::BucketOptions options;
  options.bucket_bytes = bucket_bytes;
  options.first_bucket_bytes = std::min(first_bucket_bytes, bucket_bytes);
  FFTRAIN_ASSIGN_OR_RETURN(std::vector<comm::GradientBucket> planned,
                           comm::PlanGradientBuckets(ready_order, options));
  const int last_layer = static_cast<int>(parameter_counts.size()) - 1;
  std::vector<Bucket> buckets;
  for (const comm::GradientBucket& b : planned) {
    Bucket bucket;
    bucket.bytes = b.count * kGradientBytesPerParameter;
    for (int ready_index : b.ranges) bucket.layers.push_back(last_layer - ready_index);
    buckets.push_back(std::move(bucket));
  }
  return buckets;
}

void SpreadReadyTimesEvenly(double backward_ms, std::vector<Bucket>& buckets) {
  const double count = static_cast<double>(buckets.size());
  for (size_t i = 0; i < buckets.size(); ++i) {
    buckets[i].ready_ms = backward_ms * static_cast<double>(i + 1) / count;
  }
}

absl::Status SetReadyTimesFromLayers(const std::vector<double>& layer_backward_ms,
                                     double backward_ms, std::vector<Bucket>& buckets) {
  // Backward's clock at the end of each layer, indexed by forward position.
  std::vector<double> done_at(layer_backward_ms.size());
  double clock = 0;
  for (size_t i = layer_backward_ms.size(); i-- > 0;) {
    if (!FiniteNonNegative(layer_backward_ms[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer ", i + 1, "'s backward time must be finite and >= 0 ms, got ",
                       layer_backward_ms[i]));
    }
    clock += layer_backward_ms[i];
    done_at[i] = clock;
  }
  // A rounding margin: sums of measured figures printed to a few digits.
  if (clock > backward_ms * (1 + 1e-9)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the layers' backward times add up to %g ms, more than backward's %g ms",
                        clock, backward_ms));
  }
  // The buckets hold every layer once, so one time per layer means as many as they hold,
  // with no layer index beyond them.
  size_t layers = 0;
  bool out_of_range = false;
  for (const Bucket& bucket : buckets) {
    for (int layer : bucket.layers) {
      ++layers;
      out_of_range |= layer < 0 || static_cast<size_t>(layer) >= done_at.size();
    }
  }
  if (layers != done_at.size() || out_of_range) {
    return absl::InvalidArgumentError(
        absl::StrCat(done_at.size(), " layer backward times for ", layers,
                     " layers with parameters: give one time per layer"));
  }
  for (Bucket& bucket : buckets) {
    bucket.ready_ms = 0;
    for (int layer : bucket.layers) bucket.ready_ms = std::max(bucket.ready_ms, done_at[layer]);
    bucket.ready_ms = std::min(bucket.ready_ms, backward_ms);
  }
  return absl::OkStatus();
}

absl::Status ValidateStepTimes(const StepTimes& t) {
  if (!(std::isfinite(t.step_ms) && t.step_ms > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("step_ms must be finite and > 0 ms, got ", t.step_ms));
  }
  if (!FiniteNonNegative(t.backward_ms)) {
    return absl::InvalidArgumentError(
        absl::StrCat("backward_ms must be finite and >= 0 ms, got ", t.backward_ms));
  }
  if (!FiniteNonNegative(t.update_ms)) {
    return absl::InvalidArgumentError(
        absl::StrCat("update_ms must be finite and >= 0 ms, got ", t.update_ms));
  }
  if (t.backward_ms + t.update_ms > t.step_ms) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "backward_ms (%g) + update_ms (%g) exceed step_ms (%g): both are parts of the step",
        t.backward_ms, t.update_ms, t.step_ms));
  }
  return absl::OkStatus();
}

absl::StatusOr<ScalingPoint> PredictStep(const StepTimes& times, const std::vector<Bucket>& buckets,
                                         int gpus, const Interconnect& interconnect) {
  FFTRAIN_RETURN_IF_ERROR(ValidateStepTimes(times));
  FFTRAIN_RETURN_IF_ERROR(ValidateInterconnect(interconnect));
  FFTRAIN_RETURN_IF_ERROR(CheckGpus(gpus));
  const double forward_ms = times.step_ms - times.backward_ms - times.update_ms;
  const double compute_end_ms = forward_ms + times.backward_ms;
  ScalingPoint point;
  point.gpus = gpus;
  point.nodes = NodeCount(gpus, interconnect);
  point.bus_bandwidth_gbs = BusBandwidthGbs(gpus, interconnect);
  double previous_ready_ms = 0;
  double stream_free_ms = 0;  // when the communication stream has finished its last call
  for (size_t i = 0; i < buckets.size(); ++i) {
    const Bucket& bucket = buckets[i];
    if (bucket.bytes <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bucket ", i, " has ", bucket.bytes, " bytes; buckets must be positive"));
    }
    if (!(bucket.ready_ms >= previous_ready_ms && bucket.ready_ms <= times.backward_ms)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "bucket %d is ready at %g ms: ready times must rise with the buckets' order and lie "
          "within backward (0 to %g ms)",
          i, bucket.ready_ms, times.backward_ms));
    }
    previous_ready_ms = bucket.ready_ms;
    FFTRAIN_ASSIGN_OR_RETURN(AllReduceTime allreduce,
                             EstimateAllReduce(bucket.bytes, gpus, interconnect));
    const double start_ms = std::max(forward_ms + bucket.ready_ms, stream_free_ms);
    stream_free_ms = start_ms + allreduce.ms();
    point.allreduce_ms += allreduce.ms();
    point.algorithms.push_back(allreduce.chosen);
  }
  point.step_ms = std::max(compute_end_ms, stream_free_ms) + times.update_ms;
  point.exposed_ms = std::max(0.0, stream_free_ms - compute_end_ms);
  point.efficiency = times.step_ms / point.step_ms;
  return point;
}

std::string DescribeAlgorithms(const std::vector<AllReduceAlgorithm>& algorithms) {
  if (algorithms.empty()) return "-";
  const int64_t rings = std::count(algorithms.begin(), algorithms.end(), AllReduceAlgorithm::kRing);
  const int64_t trees = static_cast<int64_t>(algorithms.size()) - rings;
  if (trees == 0) return "ring";
  if (rings == 0) return "tree";
  return absl::StrCat("ring ", rings, ", tree ", trees);
}

std::vector<int> GpuCounts(int max_gpus) {
  std::vector<int> counts;
  for (int64_t n = 1; n <= max_gpus; n *= 2) counts.push_back(static_cast<int>(n));
  if (max_gpus >= 1 && counts.back() != max_gpus) counts.push_back(max_gpus);
  return counts;
}

std::vector<int64_t> Paper128ParameterCounts() {
  return {
      int64_t{3} * 96 * 11 * 11 + 96,     // conv11 3->96
      int64_t{96} * 256 * 9 * 9 + 256,    // conv9 96->256
      int64_t{256} * 384 * 7 * 7 + 384,   // conv7 256->384
      int64_t{384} * 384 * 3 * 3 + 384,   // conv3 384->384
      int64_t{384} * 7 * 7 * 1000 + 1000  // fc 18816 -> 1000
  };
}

absl::StatusOr<std::vector<int64_t>> ParseCountList(absl::string_view text) {
  std::vector<int64_t> counts;
  for (absl::string_view field : absl::StrSplit(text, ',')) {
    field = absl::StripAsciiWhitespace(field);
    int64_t count;
    if (!absl::SimpleAtoi(field, &count) || count <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", field, "' is not a positive integer (in '", text, "')"));
    }
    counts.push_back(count);
  }
  return counts;
}

absl::StatusOr<std::vector<double>> ParseMillisecondList(absl::string_view text) {
  std::vector<double> values;
  for (absl::string_view field : absl::StrSplit(text, ',')) {
    field = absl::StripAsciiWhitespace(field);
    double value;
    if (!absl::SimpleAtod(field, &value) || !FiniteNonNegative(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", field, "' is not a finite number of milliseconds >= 0 (in '", text, "')"));
    }
    values.push_back(value);
  }
  return values;
}

}  // namespace fftrain::scaling
