// Predicts data-parallel training's step time and efficiency on 1 to --max_gpus GPUs
// (8 to a node) from one GPU's measured step and an alpha-beta model of NCCL's all-reduce
// (scaling_model.h has the formulas). Without flags: paper128 on H200 nodes with one
// 400 Gb/s NIC per GPU. Every input is printed with where it came from: a default is an
// assumption (its source beside it), a flag given on the command line a measurement.
//
//   bazel run //tools/scaling:scaling_model
//   bazel run //tools/scaling:scaling_model -- --step_ms=16.4 --backward_ms=10.9
//   bazel run //tools/scaling:scaling_model -- --network_gbps=200 --max_gpus=256
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "tools/scaling/scaling_model.h"

ABSL_FLAG(double, step_ms, 16.0,
          "One GPU's training step (forward, backward, update) without communication, ms");
ABSL_FLAG(std::optional<double>, backward_ms, std::nullopt,
          "The backward part of --step_ms, ms (default: 2/3 of --step_ms)");
ABSL_FLAG(double, update_ms, 0.0,
          "The optimizer's part of --step_ms, which runs after the last all-reduce, ms");
ABSL_FLAG(std::string, layer_backward_ms, "",
          "Measured backward time of each layer with parameters, forward order, comma "
          "separated (each up to and including that layer's gradients, from the previous "
          "layer's); a bucket is ready once its last layer is. Empty: buckets ready evenly "
          "through backward");
ABSL_FLAG(double, bucket_mb, 25.0, "Gradient bucket size after the first, MiB");
ABSL_FLAG(double, first_bucket_mb, 1.0, "First gradient bucket's size, MiB");
ABSL_FLAG(std::string, parameter_counts,
          absl::StrJoin(fftrain::scaling::Paper128ParameterCounts(), ","),
          "Parameters of each layer that has any, forward order, comma separated "
          "(default: paper128's)");
ABSL_FLAG(int32_t, gpus_per_node, 8, "GPUs in one node, joined by NVLink");
ABSL_FLAG(double, nvlink_busbw_gbs, 370.0,
          "NCCL ring all-reduce bus bandwidth inside one node, GB/s per GPU");
ABSL_FLAG(double, network_gbps, 400.0, "Network line rate per GPU (each GPU its own NIC), Gb/s");
ABSL_FLAG(double, network_efficiency, 0.8,
          "Fraction of the network line rate that NCCL's bus bandwidth reaches across nodes");
ABSL_FLAG(double, alpha_intra_us, 1.9, "Latency of one all-reduce step inside a node, us");
ABSL_FLAG(double, alpha_inter_us, 4.0, "Latency of one all-reduce step between nodes, us");
ABSL_FLAG(int32_t, max_gpus, 1024, "Largest GPU count in the table (powers of two up to it)");

namespace fftrain::scaling {
namespace {

constexpr int kMaxTableGpus = 1 << 20;
constexpr double kMaxBucketMiB = 1 << 20;  // 1 TiB: keeps bytes far from overflow
constexpr double kMiB = 1 << 20;

struct Inputs {
  StepTimes times;
  std::vector<int64_t> parameter_counts;
  std::vector<double> layer_backward_ms;  // empty: spread evenly
  int64_t first_bucket_bytes = 0;
  int64_t bucket_bytes = 0;
  Interconnect interconnect;
  int max_gpus = 0;
};

// Names of the flags on the command line (our Abseil keeps IsSpecifiedOnCommandLine
// private), filled by main before parsing.
absl::flat_hash_set<std::string>& FlagsOnCommandLine() {
  static auto* names = new absl::flat_hash_set<std::string>();
  return *names;
}

void RecordFlagsOnCommandLine(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;  // what follows is not a flag
    if (!absl::ConsumePrefix(&arg, "-")) continue;
    absl::ConsumePrefix(&arg, "-");
    FlagsOnCommandLine().insert(std::string(arg.substr(0, arg.find('='))));
  }
}

// Given on the command line, or set to another value than its default (--flagfile).
template <typename T>
bool Given(const absl::Flag<T>& flag) {
  const absl::CommandLineFlag& handle = absl::GetFlagReflectionHandle(flag);
  return FlagsOnCommandLine().contains(handle.Name()) ||
         handle.CurrentValue() != handle.DefaultValue();
}

absl::Status FlagError(absl::string_view flag, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", reason));
}

// A finite number > 0 (or >= 0 where zero is allowed); NaN fails both comparisons.
absl::Status CheckNumber(absl::string_view flag, double value, bool zero_allowed,
                         absl::string_view unit) {
  const bool in_range = zero_allowed ? value >= 0 : value > 0;
  if (!std::isfinite(value) || !in_range) {
    return FlagError(flag, absl::StrFormat("must be a finite number %s 0 %s, got %g",
                                           zero_allowed ? ">=" : ">", unit, value));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> BucketBytes(absl::string_view flag, double mib) {
  FFTRAIN_RETURN_IF_ERROR(CheckNumber(flag, mib, /*zero_allowed=*/false, "MiB"));
  if (mib > kMaxBucketMiB) {
    return FlagError(flag, absl::StrFormat("%g MiB is more than %g MiB", mib, kMaxBucketMiB));
  }
  const int64_t bytes = std::llround(mib * kMiB);
  if (bytes < 1) return FlagError(flag, absl::StrFormat("%g MiB is less than a byte", mib));
  return bytes;
}

absl::StatusOr<Inputs> InputsFromFlags() {
  Inputs in;
  in.times.step_ms = absl::GetFlag(FLAGS_step_ms);
  FFTRAIN_RETURN_IF_ERROR(CheckNumber("step_ms", in.times.step_ms, false, "ms"));
  const std::optional<double> backward_ms = absl::GetFlag(FLAGS_backward_ms);
  in.times.backward_ms = backward_ms.value_or(in.times.step_ms * 2 / 3);
  FFTRAIN_RETURN_IF_ERROR(CheckNumber("backward_ms", in.times.backward_ms, true, "ms"));
  in.times.update_ms = absl::GetFlag(FLAGS_update_ms);
  FFTRAIN_RETURN_IF_ERROR(CheckNumber("update_ms", in.times.update_ms, true, "ms"));
  if (in.times.backward_ms + in.times.update_ms > in.times.step_ms) {
    return FlagError(
        "backward_ms",
        absl::StrFormat(
            "%g ms of backward and %g ms of update (--update_ms) do not fit in a step of %g ms "
            "(--step_ms): both are parts of it",
            in.times.backward_ms, in.times.update_ms, in.times.step_ms));
  }

  auto counts = ParseCountList(absl::GetFlag(FLAGS_parameter_counts));
  if (!counts.ok()) return FlagError("parameter_counts", counts.status().message());
  in.parameter_counts = *std::move(counts);

  const std::string layer_times = absl::GetFlag(FLAGS_layer_backward_ms);
  if (!layer_times.empty()) {
    auto times = ParseMillisecondList(layer_times);
    if (!times.ok()) return FlagError("layer_backward_ms", times.status().message());
    if (times->size() != in.parameter_counts.size()) {
      return FlagError("layer_backward_ms",
                       absl::StrCat(times->size(), " times for ", in.parameter_counts.size(),
                                    " layers with parameters (--parameter_counts): give one "
                                    "time per layer"));
    }
    in.layer_backward_ms = *std::move(times);
  }

  FFTRAIN_ASSIGN_OR_RETURN(in.bucket_bytes,
                           BucketBytes("bucket_mb", absl::GetFlag(FLAGS_bucket_mb)));
  FFTRAIN_ASSIGN_OR_RETURN(in.first_bucket_bytes,
                           BucketBytes("first_bucket_mb", absl::GetFlag(FLAGS_first_bucket_mb)));

  Interconnect& c = in.interconnect;
  c.gpus_per_node = absl::GetFlag(FLAGS_gpus_per_node);
  if (c.gpus_per_node < 1 || c.gpus_per_node > kMaxTableGpus) {
    return FlagError("gpus_per_node",
                     absl::StrCat("must be from 1 to ", kMaxTableGpus, ", got ", c.gpus_per_node));
  }
  c.nvlink_busbw_gbs = absl::GetFlag(FLAGS_nvlink_busbw_gbs);
  FFTRAIN_RETURN_IF_ERROR(CheckNumber("nvlink_busbw_gbs", c.nvlink_busbw_gbs, false, "GB/s"));
  c.network_gbps = absl::GetFlag(FLAGS_network_gbps);
  FFTRAIN_RETURN_IF_ERROR(CheckNumber("network_gbps", c.network_gbps, false, "Gb/s"));
  c.network_efficiency = absl::GetFlag(FLAGS_network_efficiency);
  if (!(c.network_efficiency > 0 && c.network_efficiency <= 1)) {
    return FlagError("network_efficiency",
                     absl::StrFormat("must be in (0, 1], got %g", c.network_efficiency));
  }
  c.alpha_intra_us = absl::GetFlag(FLAGS_alpha_intra_us);
  FFTRAIN_RETURN_IF_ERROR(CheckNumber("alpha_intra_us", c.alpha_intra_us, true, "us"));
  c.alpha_inter_us = absl::GetFlag(FLAGS_alpha_inter_us);
  FFTRAIN_RETURN_IF_ERROR(CheckNumber("alpha_inter_us", c.alpha_inter_us, true, "us"));

  in.max_gpus = absl::GetFlag(FLAGS_max_gpus);
  if (in.max_gpus < 1 || in.max_gpus > kMaxTableGpus) {
    return FlagError("max_gpus",
                     absl::StrCat("must be from 1 to ", kMaxTableGpus, ", got ", in.max_gpus));
  }
  return in;
}

// One line of the inputs: the flag, its value, and whether it was measured (given) or
// assumed (the default, with the source of the assumption).
template <typename T>
void PrintInput(const absl::Flag<T>& flag, absl::string_view value, absl::string_view assumption) {
  const std::string name = absl::StrCat("--", absl::GetFlagReflectionHandle(flag).Name());
  if (Given(flag)) {
    std::printf("  %-22s %-14s given on the command line (measured)\n", name.c_str(),
                std::string(value).c_str());
  } else {
    std::printf("  %-22s %-14s default, assumed: %s\n", name.c_str(), std::string(value).c_str(),
                std::string(assumption).c_str());
  }
}

std::string Number(double value, absl::string_view unit) {
  return absl::StrFormat("%g %s", value, unit);
}

void PrintInputs(const Inputs& in) {
  const Interconnect& c = in.interconnect;
  std::printf(
      "Inputs (a default is an assumption, with its source; a flag given is a "
      "measurement):\n");
  PrintInput(FLAGS_step_ms, Number(in.times.step_ms, "ms"),
             "paper128, batch 128, one H200: 16.0-16.8 ms an iteration (docs/training.md: "
             "16.78 ms on one H100 at 5ea7e03)");
  PrintInput(FLAGS_backward_ms, Number(in.times.backward_ms, "ms"),
             "2/3 of the step (backward computes two gradients a layer to forward's one "
             "output)");
  PrintInput(FLAGS_update_ms, Number(in.times.update_ms, "ms"),
             "the SGD update counted with forward, before the buckets (it reads and writes "
             "~0.5 GB for paper128: ~0.1 ms at an H200's 4.8 TB/s)");
  PrintInput(FLAGS_layer_backward_ms,
             in.layer_backward_ms.empty() ? std::string("(none)")
                                          : absl::StrJoin(in.layer_backward_ms, ","),
             "buckets ready evenly through backward, the last at its end");
  PrintInput(FLAGS_parameter_counts, absl::StrCat(in.parameter_counts.size(), " layers"),
             "paper128's conv11 3->96, conv9 96->256, conv7 256->384, conv3 384->384, "
             "fc 18816->1000, weights and biases");
  PrintInput(FLAGS_first_bucket_mb, Number(in.first_bucket_bytes / kMiB, "MiB"),
             "PyTorch DDP's first bucket (the trainer's too)");
  PrintInput(FLAGS_bucket_mb, Number(in.bucket_bytes / kMiB, "MiB"),
             "PyTorch DDP's bucket_cap_mb (the trainer's too)");
  PrintInput(FLAGS_gpus_per_node, absl::StrCat(c.gpus_per_node), "an HGX/DGX H200 node");
  PrintInput(FLAGS_nvlink_busbw_gbs, Number(c.nvlink_busbw_gbs, "GB/s"),
             "NCCL's ring bus bandwidth on 8 H100 over NVLink 4, NVLink SHARP off "
             "(450 GB/s line rate, ~370 effective: NVIDIA/nccl-tests#212); H200 has the same "
             "NVLink");
  PrintInput(FLAGS_network_gbps, Number(c.network_gbps, "Gb/s"),
             "one 400 Gb/s NIC per GPU (ConnectX-7, as in DGX H100/H200): 3200 Gb/s a node");
  PrintInput(FLAGS_network_efficiency, absl::StrFormat("%g", c.network_efficiency),
             "NCCL all-reduce bus bandwidth of 320-330 GB/s on 4 nodes of 8 H100 with "
             "8x400 Gb/s RoCE, NVLink SHARP off (NVIDIA/nccl#1221): 0.8 of the 400 GB/s "
             "line rate");
  PrintInput(FLAGS_alpha_intra_us, Number(c.alpha_intra_us, "us"),
             "NCCL's tuning table (src/graph/tuning.cc hwLat): one NVLink ring step, LL128");
  PrintInput(FLAGS_alpha_inter_us, Number(c.alpha_inter_us, "us"),
             "NCCL's tuning table (src/graph/tuning.cc hwLat): one network ring step, LL128");
  PrintInput(FLAGS_max_gpus, absl::StrCat(in.max_gpus), "the table's last row");
}

void PrintBuckets(const std::vector<Bucket>& buckets, const Inputs& in) {
  int64_t total = 0;
  for (const Bucket& b : buckets) total += b.bytes;
  std::printf(
      "\nGradients: %s parameters, %.2f MB in float32, in %zu buckets (layers in "
      "backward order fill a bucket to at least its size, never split; numbered "
      "from 1 in forward order):\n",
      absl::StrFormat("%d", total / kGradientBytesPerParameter).c_str(), total / 1e6,
      buckets.size());
  const double forward_ms = in.times.step_ms - in.times.backward_ms - in.times.update_ms;
  for (size_t i = 0; i < buckets.size(); ++i) {
    std::vector<std::string> layers;
    for (int layer : buckets[i].layers) layers.push_back(absl::StrCat(layer + 1));
    std::printf(
        "  bucket %zu: %10.3f MB, layer%s %-10s ready %7.3f ms into backward "
        "(%.3f ms into the step)\n",
        i, buckets[i].bytes / 1e6, layers.size() == 1 ? " " : "s",
        absl::StrJoin(layers, ",").c_str(), buckets[i].ready_ms, forward_ms + buckets[i].ready_ms);
  }
}

int Run() {
  absl::StatusOr<Inputs> inputs = InputsFromFlags();
  if (!inputs.ok()) {
    std::fprintf(stderr, "scaling_model: %s\n", std::string(inputs.status().message()).c_str());
    return 1;
  }
  const Inputs& in = *inputs;
  absl::StatusOr<std::vector<Bucket>> buckets =
      PlanBuckets(in.parameter_counts, in.first_bucket_bytes, in.bucket_bytes);
  absl::Status status = buckets.status();
  if (status.ok()) {
    if (in.layer_backward_ms.empty()) {
      SpreadReadyTimesEvenly(in.times.backward_ms, *buckets);
    } else {
      status = SetReadyTimesFromLayers(in.layer_backward_ms, in.times.backward_ms, *buckets);
      if (!status.ok()) status = FlagError("layer_backward_ms", status.message());
    }
  }
  if (!status.ok()) {
    std::fprintf(stderr, "scaling_model: %s\n", std::string(status.message()).c_str());
    return 1;
  }

  std::printf(
      "Scaling model: a data-parallel training step on n GPUs, each with the one "
      "GPU's batch (weak scaling)\n\n");
  PrintInputs(in);
  PrintBuckets(*buckets, in);
  std::printf(
      "\nModel (tools/scaling/scaling_model.h): each bucket's all-reduce starts when it is "
      "ready and the one before\nit is done (one communication stream); step(n) = max(end "
      "of backward, end of the last all-reduce)\n+ update; efficiency = step(1) / step(n). "
      "One all-reduce of S bytes on n GPUs, N nodes, p = n/N a node,\nthe faster of NCCL's "
      "two (as its tuner picks):\n"
      "  ring = 2(n-N) alpha_intra + 2(N-1) alpha_inter + 2(n-1)/n S/B\n"
      "  tree = 2((p-1) alpha_intra + floor(log2 N) alpha_inter) + 2 S/(0.92 B)\n"
      "  B = NVLink bus bandwidth on one node; across nodes min(NVLink, p x network x "
      "efficiency)\n\n");
  std::printf("%6s %6s %9s %10s %14s %11s %11s  %s\n", "GPUs", "nodes", "B GB/s", "ms/iter",
              "all-reduce ms", "exposed ms", "efficiency", "algorithm (per bucket)");
  for (int gpus : GpuCounts(in.max_gpus)) {
    absl::StatusOr<ScalingPoint> point = PredictStep(in.times, *buckets, gpus, in.interconnect);
    if (!point.ok()) {
      std::fprintf(stderr, "scaling_model: %s\n", std::string(point.status().message()).c_str());
      return 1;
    }
    std::printf("%6d %6d %9s %10.3f %14.3f %11.3f %10.1f%%  %s\n", gpus, point->nodes,
                gpus == 1 ? "-" : absl::StrFormat("%.0f", point->bus_bandwidth_gbs).c_str(),
                point->step_ms, point->allreduce_ms, point->exposed_ms, 100 * point->efficiency,
                gpus == 1 ? "-" : DescribeAlgorithms(point->algorithms).c_str());
  }
  return 0;
}

}  // namespace
}  // namespace fftrain::scaling

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Predicts data-parallel step time and efficiency on 1 to --max_gpus GPUs from one "
      "GPU's step and an alpha-beta model of NCCL's ring and tree all-reduce.");
  fftrain::scaling::RecordFlagsOnCommandLine(argc, argv);
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "scaling_model: unexpected argument '%s'\n", rest[1]);
    return 1;
  }
  return fftrain::scaling::Run();
}
