// All-reduce bandwidth of NcclCommunicator, in the form of nccl-tests' all_reduce_perf
// and tools/bench/torch_allreduce.py (the same columns and JSON fields, so that the two
// compare line by line): one rank per GPU under mpirun, or alone as one rank.
//
//   mpirun -np 8 bazel-bin/comm/allreduce_benchmark --json allreduce.json
//   bazel-bin/comm/allreduce_benchmark --min_bytes 1K --max_bytes 64M --op average
//
// For each size (float32 elements, doubling from --min_bytes to --max_bytes): one
// all-reduce of rank+1 on every rank, checked on every rank against n(n+1)/2 (exact in
// float32) or (n+1)/2 for --op average (to a relative 1e-6: NCCL scales before it
// sums); then the buffer is zeroed (sums of zeros stay finite), --warmup untimed
// all-reduces, and --iters timed ones between two CUDA events on the compute stream,
// each a StartAllReduce and a WaitAllReduces as the trainer issues them. time = the
// events' span / iters, averaged over ranks (nccl-tests' default); algbw = bytes / time
// (1e9 bytes a GB); busbw = algbw * 2(n-1)/n, what each GPU's link carries in a ring.
// Memory is allocated once, for the largest size, before anything is timed.
//
// The control plane is MPI (comm/mpi_communicator.h); NCCL_NVLS_ENABLE is set to 0
// unless given (NVLink SHARP is off on our machines), before NCCL starts.
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "base/cuda/cuda_resources.h"
#include "base/cuda/cuda_status.h"
#include "base/status_macros.h"
#include "comm/communicator.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"
#include "comm/nccl_communicator.h"

ABSL_FLAG(std::string, min_bytes, "1K",
          "Smallest buffer in bytes; K, M and G (binary) allowed; a multiple of 4");
ABSL_FLAG(std::string, max_bytes, "1G", "Largest buffer in bytes; K, M and G allowed");
ABSL_FLAG(int, iters, 20, "Timed all-reduces per size");
ABSL_FLAG(int, warmup, 5, "Untimed all-reduces per size before timing");
ABSL_FLAG(std::string, op, "sum", "sum or average");
ABSL_FLAG(std::string, json, "", "Also write the results to this JSON file (rank 0)");
ABSL_FLAG(absl::Duration, timeout, fftrain::comm::kDefaultCollectiveTimeout,
          "Bound on each collective and on NCCL's set-up");

namespace fftrain::comm {
namespace {

constexpr int64_t kFloatBytes = 4;

struct Settings {
  int64_t min_bytes = 0;
  int64_t max_bytes = 0;
  int iters = 0;
  int warmup = 0;
  ReduceOp op = ReduceOp::kSum;
  std::string json;
  absl::Duration timeout;
};

struct Row {
  int64_t size_bytes = 0;
  int64_t count = 0;
  double time_us = 0;
  double algbw_gbs = 0;
  double busbw_gbs = 0;
  bool correct = false;
};

// "1K" -> 1024, "1G" -> 2^30, "4096" -> 4096; "64MiB" and "64MB" as "64M" (binary units,
// as nccl-tests' -b/-e and torch_allreduce.py read them).
absl::StatusOr<int64_t> ParseBytes(const std::string& flag, const std::string& text) {
  std::string rest = absl::AsciiStrToUpper(text);
  int64_t unit = 1;
  if (absl::EndsWith(rest, "IB")) {
    rest.resize(rest.size() - 2);
  } else if (absl::EndsWith(rest, "B")) {
    rest.resize(rest.size() - 1);
  }
  if (!rest.empty()) {
    switch (rest.back()) {
      case 'K':
        unit = int64_t{1} << 10;
        break;
      case 'M':
        unit = int64_t{1} << 20;
        break;
      case 'G':
        unit = int64_t{1} << 30;
        break;
    }
    if (unit != 1) rest.pop_back();
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(rest, &value) || value < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", text, " is not a size in bytes (a number, optionally with K, M or G)"));
  }
  return value * unit;
}

absl::StatusOr<Settings> ReadFlags() {
  Settings s;
  FFTRAIN_ASSIGN_OR_RETURN(s.min_bytes, ParseBytes("min_bytes", absl::GetFlag(FLAGS_min_bytes)));
  FFTRAIN_ASSIGN_OR_RETURN(s.max_bytes, ParseBytes("max_bytes", absl::GetFlag(FLAGS_max_bytes)));
  if (s.min_bytes < kFloatBytes || s.min_bytes % kFloatBytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--min_bytes ", s.min_bytes, " must be a positive multiple of 4 (float32 elements)"));
  }
  if (s.max_bytes < s.min_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_bytes ", s.max_bytes, " is smaller than --min_bytes ", s.min_bytes));
  }
  s.iters = absl::GetFlag(FLAGS_iters);
  s.warmup = absl::GetFlag(FLAGS_warmup);
  if (s.iters < 1 || s.warmup < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--iters ", s.iters, " must be >= 1 and --warmup ", s.warmup, " >= 0"));
  }
  const std::string op = absl::GetFlag(FLAGS_op);
  if (op == "sum") {
    s.op = ReduceOp::kSum;
  } else if (op == "average") {
    s.op = ReduceOp::kAverage;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--op=", op, ": sum or average"));
  }
  s.json = absl::GetFlag(FLAGS_json);
  s.timeout = absl::GetFlag(FLAGS_timeout);
  return s;
}

// JSON's string escapes, for the GPU's name and the command line.
std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

absl::Status WriteJson(const std::string& path, const std::string& header_fields,
                       const std::vector<Row>& rows, ReduceOp op) {
  std::ofstream out(path);
  out << "{\n" << header_fields << " \"results\": [\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    out << absl::StrFormat(
        "  {\"size_bytes\": %d, \"count\": %d, \"type\": \"float\", \"redop\": \"%s\", "
        "\"time_us\": %.3f, \"algbw_gbs\": %.4f, \"busbw_gbs\": %.4f, \"correct\": %s}%s\n",
        r.size_bytes, r.count, ReduceOpName(op), r.time_us, r.algbw_gbs, r.busbw_gbs,
        r.correct ? "true" : "false", i + 1 < rows.size() ? "," : "");
  }
  out << " ]\n}\n";
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// Elements of host[0, count) that differ from `expected`: exactly for sums, beyond a
// relative 1e-6 for averages.
int64_t CountWrong(const std::vector<float>& host, int64_t count, float expected, ReduceOp op) {
  const double tolerance = op == ReduceOp::kSum ? 0.0 : 1e-6 * std::fabs(expected);
  int64_t wrong = 0;
  for (int64_t i = 0; i < count; ++i) {
    wrong += !(std::fabs(static_cast<double>(host[i]) - expected) <= tolerance);
  }
  return wrong;
}

absl::Status Run(MpiSession& session, const Settings& s, const std::string& command) {
  FFTRAIN_ASSIGN_OR_RETURN(std::unique_ptr<MpiCommunicator> control,
                           MpiCommunicator::Create(session, s.timeout));
  const int rank = control->rank(), ranks = control->size();
  std::string why_none;
  const int gpus = base::CudaDeviceCount(&why_none);
  if (gpus == 0) {
    return absl::FailedPreconditionError(absl::StrCat("no GPU for the benchmark: ", why_none));
  }
  // The local rank picks the GPU; more ranks than GPUs on a host wrap around, and then
  // NcclCommunicator::Create refuses two ranks on one GPU on every rank alike (a rank
  // that returned here would leave the others waiting).
  const int device = session.local_rank() % gpus;
  FFTRAIN_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  FFTRAIN_ASSIGN_OR_RETURN(std::string gpu, base::CurrentDeviceDescription());
  FFTRAIN_ASSIGN_OR_RETURN(base::CudaStream compute, base::CudaStream::Create());
  NcclCommunicatorOptions options;
  options.timeout = s.timeout;
  // One completion event for each collective that can be in flight, so that none is
  // made while timing (the watchdog returns them as they complete).
  options.reserved_events = s.warmup + s.iters + 2;
  FFTRAIN_ASSIGN_OR_RETURN(std::unique_ptr<NcclCommunicator> nccl,
                           NcclCommunicator::Create(*control, device, compute.get(), options));

  // Everything the loop needs, once, for the largest size.
  FFTRAIN_ASSIGN_OR_RETURN(base::DeviceBuffer buffer, base::DeviceBuffer::Allocate(s.max_bytes));
  std::vector<float> host(s.max_bytes / kFloatBytes);
  FFTRAIN_ASSIGN_OR_RETURN(base::CudaEvent start, base::CudaEvent::Create());
  FFTRAIN_ASSIGN_OR_RETURN(base::CudaEvent stop, base::CudaEvent::Create());
  float* data = buffer.as<float>();
  // 1 + 2 + ... + n, exact in float32 for any n we can launch; the average is that / n.
  const float sum = static_cast<float>(ranks) * (ranks + 1) / 2;
  const float expected = s.op == ReduceOp::kSum ? sum : static_cast<float>(ranks + 1) / 2;

  int version = 0;
  ncclGetVersion(&version);
  const std::string nvls = std::getenv("NCCL_NVLS_ENABLE") ? std::getenv("NCCL_NVLS_ENABLE") : "";
  if (rank == 0) {
    absl::PrintF(
        "# fftrain NcclCommunicator all-reduce (%s), NCCL %d.%d.%d, %d ranks, %s, "
        "NCCL_NVLS_ENABLE=%s\n",
        ReduceOpName(s.op), version / 10000, version / 100 % 100, version % 100, ranks, gpu, nvls);
    absl::PrintF("# iters %d warmup %d; time averaged over ranks\n", s.iters, s.warmup);
    if (ranks == 1) {
      absl::PrintF(
          "# one rank: NCCL moves no data (a sum in place is nothing, an average one "
          "scaling kernel); times are the enqueue and launch overhead\n");
    }
    absl::PrintF("# %12s %12s %6s %7s %10s %8s %8s\n", "size", "count", "type", "redop", "time",
                 "algbw", "busbw");
    absl::PrintF("# %12s %12s %6s %7s %10s %8s %8s\n", "(B)", "(elements)", "", "", "(us)",
                 "(GB/s)", "(GB/s)");
    std::fflush(stdout);
  }

  std::vector<Row> rows;
  bool all_correct = true;
  for (int64_t size = s.min_bytes; size <= s.max_bytes; size *= 2) {
    Row row;
    row.size_bytes = size;
    row.count = size / kFloatBytes;
    // The check: rank + 1 everywhere, one all-reduce, every element compared.
    std::fill(host.begin(), host.begin() + row.count, static_cast<float>(rank + 1));
    // On the compute stream, which the all-reduce is ordered after: a plain cudaMemcpy
    // from pageable memory may return before its copy lands, on the legacy stream, which
    // orders nothing on non-blocking streams.
    FFTRAIN_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(data, host.data(), size, cudaMemcpyHostToDevice, compute.get()));
    FFTRAIN_RETURN_IF_ERROR(nccl->AllReduce(data, row.count, s.op));
    FFTRAIN_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(host.data(), data, size, cudaMemcpyDeviceToHost, compute.get()));
    FFTRAIN_RETURN_IF_ERROR(compute.Synchronize());
    const int64_t wrong = CountWrong(host, row.count, expected, s.op);

    FFTRAIN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(data, 0, size, compute.get()));
    for (int i = 0; i < s.warmup; ++i) {
      FFTRAIN_RETURN_IF_ERROR(nccl->AllReduce(data, row.count, s.op));
    }
    FFTRAIN_RETURN_IF_ERROR(compute.Synchronize());
    FFTRAIN_RETURN_IF_ERROR(control->Barrier());  // all ranks start timing together
    FFTRAIN_RETURN_IF_ERROR(start.Record(compute.get()));
    for (int i = 0; i < s.iters; ++i) {
      FFTRAIN_RETURN_IF_ERROR(nccl->StartAllReduce(data, row.count, s.op));
      FFTRAIN_RETURN_IF_ERROR(nccl->WaitAllReduces());
    }
    FFTRAIN_RETURN_IF_ERROR(stop.Record(compute.get()));
    FFTRAIN_RETURN_IF_ERROR(stop.Synchronize());
    FFTRAIN_ASSIGN_OR_RETURN(float ms, stop.MillisecondsSince(start));

    double reduced[2] = {1e3 * ms / s.iters, static_cast<double>(wrong)};
    FFTRAIN_RETURN_IF_ERROR(control->AllReduceHost(reduced, 2));
    row.time_us = reduced[0] / ranks;
    row.correct = reduced[1] == 0;
    all_correct &= row.correct;
    row.algbw_gbs = size / (row.time_us * 1e-6) / 1e9;
    row.busbw_gbs = row.algbw_gbs * 2.0 * (ranks - 1) / ranks;
    rows.push_back(row);
    if (rank == 0) {
      absl::PrintF("  %12d %12d %6s %7s %10.2f %8.2f %8.2f%s\n", size, row.count, "float",
                   ReduceOpName(s.op), row.time_us, row.algbw_gbs, row.busbw_gbs,
                   row.correct ? "" : "  WRONG RESULT");
      std::fflush(stdout);
    }
    if (size > s.max_bytes / 2) break;  // the next doubling would overflow or pass the end
  }

  if (rank == 0 && !s.json.empty()) {
    const std::string header = absl::StrFormat(
        " \"tool\": \"fftrain_allreduce\", \"nccl\": \"%d.%d.%d\", \"gpu\": %s, \"ranks\": %d, "
        "\"iters\": %d, \"warmup\": %d, \"redop\": \"%s\", \"nvls_enable\": %s, "
        "\"command\": %s,\n",
        version / 10000, version / 100 % 100, version % 100, JsonString(gpu), ranks, s.iters,
        s.warmup, ReduceOpName(s.op), JsonString(nvls), JsonString(command));
    FFTRAIN_RETURN_IF_ERROR(WriteJson(s.json, header, rows, s.op));
    absl::PrintF("# wrote %s\n", s.json);
  }
  if (!all_correct) {
    return absl::DataLossError("all-reduce results were wrong on some rank (see WRONG RESULT)");
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace fftrain::comm

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "All-reduce bandwidth of fftrain's NcclCommunicator, one rank per GPU:\n"
      "  mpirun -np G allreduce_benchmark [--min_bytes 1K --max_bytes 1G --op sum --json F]");
  // Before NCCL starts (the one place this binary sets NCCL's environment): NVLink SHARP
  // stays off on our machines unless the caller says otherwise.
  setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
  const std::string command = absl::StrJoin(argv, argv + argc, " ");
  auto session = fftrain::comm::MpiSession::Init(&argc, &argv);
  if (!session.ok()) {
    std::fprintf(stderr, "allreduce_benchmark: %s\n", session.status().ToString().c_str());
    return 1;
  }
  absl::ParseCommandLine(argc, argv);
  auto settings = fftrain::comm::ReadFlags();
  absl::Status status =
      settings.ok() ? fftrain::comm::Run(*session, *settings, command) : settings.status();
  if (!status.ok()) {
    std::fprintf(stderr, "allreduce_benchmark: %s\n", status.ToString().c_str());
    // A failure on one rank leaves the others waiting in a collective: end them all.
    if (session->size() > 1) session->Abort(1);
    return 1;
  }
  return 0;
}
