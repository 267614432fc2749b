// Times our two custom batched FFT kernels side by side on the same maps: the
// register-resident kernels (fftconv/cuda/kernels/register_fft_kernels.h) and the radix-4 passes
// in shared memory (fftconv/cuda/kernels/batched_fft_kernels.h), forward (real maps -> bin-major
// half spectra) and inverse (half spectra -> real maps, with scale and bias), for the
// register kernels' square sides 8 to 128 (kRegisterFftSides; the shared-memory passes at
// the powers of two only; at 128 they write bin-major directly, without the map-major
// chunks and transpose that fftconv uses there). Cases are named "forward/32/registers", "inverse/64/shared_passes", ...
//
//   transform_benchmark [--megabytes=64] [--benchmark_filter=...]
//
// Each map is a full n x n window. Every call is timed alone between CUDA events on one
// stream after a few untimed calls. Counters:
//   ms        median milliseconds per call
//   GBps      bytes a transform must move (maps in, spectra out, or the reverse) / time
//   x_memory  time / the time those bytes take at --peak_tbps (the kernel's own roofline)
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/cuda/cuda_resources.h"
#include "base/cuda/cuda_status.h"
#include "base/status_macros.h"
#include "benchmark/benchmark.h"
#include "fftconv/cuda/kernels/batched_fft_kernels.h"
#include "fftconv/cuda/kernels/register_fft_kernels.h"

ABSL_FLAG(int, megabytes, 64, "Size of the real maps of each case, in MiB (sets the map count).");
ABSL_FLAG(double, peak_tbps, 3.0, "Memory bandwidth of the GPU in TB/s (default: H100).");

namespace fftrain::bench {
namespace {

using base::CudaEvent;
using base::CudaStream;
using base::DeviceBuffer;

// Register kernels with either spectrum order, and the shared-memory passes (bin-major).
enum class Kernel { kRegisters, kRegistersMapMajor, kSharedPasses };

const char* KernelName(Kernel kernel) {
  switch (kernel) {
    case Kernel::kRegisters: return "registers";
    case Kernel::kRegistersMapMajor: return "registers_map_major";
    default: return "shared_passes";
  }
}
enum class Direction { kForward, kInverse };

absl::Status Launch(Kernel kernel, Direction direction, int64_t n, int64_t maps,
                    DeviceBuffer& real, DeviceBuffer& spectra, const DeviceBuffer& bias,
                    cudaStream_t stream) {
  // Whole n x n maps; the register kernels take either order, the shared-memory passes
  // are timed bin-major.
  const fftconv::SpectrumOrder order = kernel == Kernel::kRegistersMapMajor
                                           ? fftconv::SpectrumOrder::kMapMajor
                                           : fftconv::SpectrumOrder::kBinMajor;
  const fftconv::MapBatch batch{maps, n, n, {n, n, 0, 0}};
  if (direction == Direction::kForward) {
    const fftconv::RealToHalfSpectrumParams params{real.as<float>(), batch, order,
                                                   spectra.as<float2>()};
    if (kernel == Kernel::kSharedPasses) {
      FFTRAIN_CUDA_RETURN_IF_ERROR(fftconv::LaunchBatchedRealToHalfSpectrum(params, stream));
    } else {
      FFTRAIN_CUDA_RETURN_IF_ERROR(fftconv::LaunchRegisterRealToHalfSpectrum(params, stream));
    }
  } else {
    const float scale = 1.0f / static_cast<float>(n * n);
    const fftconv::HalfSpectrumToRealParams params{
        spectra.as<float2>(), order, batch, scale, {bias.as<float>(), 64, 0}, real.as<float>()};
    if (kernel == Kernel::kSharedPasses) {
      FFTRAIN_CUDA_RETURN_IF_ERROR(fftconv::LaunchBatchedHalfSpectrumToReal(params, stream));
    } else {
      FFTRAIN_CUDA_RETURN_IF_ERROR(fftconv::LaunchRegisterHalfSpectrumToReal(params, stream));
    }
  }
  return absl::OkStatus();
}

absl::Status RunCase(benchmark::State& state, Kernel kernel, Direction direction, int64_t n) {
  const int64_t maps = (int64_t{absl::GetFlag(FLAGS_megabytes)} << 20) / (4 * n * n);
  const int64_t bins = n * (n / 2 + 1);
  if (kernel == Kernel::kSharedPasses) {
    FFTRAIN_CUDA_RETURN_IF_ERROR(fftconv::PrepareBatchedFft(n, n));
  } else {
    FFTRAIN_CUDA_RETURN_IF_ERROR(fftconv::PrepareRegisterFft());
  }
  FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer real, DeviceBuffer::Allocate(4 * maps * n * n));
  FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer spectra, DeviceBuffer::Allocate(8 * maps * bins));
  FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer bias, DeviceBuffer::Allocate(4 * 64));
  FFTRAIN_ASSIGN_OR_RETURN(CudaStream stream, CudaStream::Create());
  FFTRAIN_ASSIGN_OR_RETURN(CudaEvent start, CudaEvent::Create());
  FFTRAIN_ASSIGN_OR_RETURN(CudaEvent stop, CudaEvent::Create());
  // 0x3c bytes are about 0.011 as floats: small, finite and not zero.
  FFTRAIN_RETURN_IF_ERROR(real.Fill(0x3c, stream.get()));
  FFTRAIN_RETURN_IF_ERROR(spectra.Fill(0x3c, stream.get()));
  FFTRAIN_RETURN_IF_ERROR(bias.Fill(0x3c, stream.get()));
  for (int i = 0; i < 3; ++i) {
    FFTRAIN_RETURN_IF_ERROR(Launch(kernel, direction, n, maps, real, spectra, bias, stream.get()));
  }
  FFTRAIN_RETURN_IF_ERROR(stream.Synchronize());
  std::vector<double> ms;
  for (auto _ : state) {
    FFTRAIN_RETURN_IF_ERROR(start.Record(stream.get()));
    FFTRAIN_RETURN_IF_ERROR(Launch(kernel, direction, n, maps, real, spectra, bias, stream.get()));
    FFTRAIN_RETURN_IF_ERROR(stop.Record(stream.get()));
    FFTRAIN_RETURN_IF_ERROR(stop.Synchronize());
    FFTRAIN_ASSIGN_OR_RETURN(const float elapsed, stop.MillisecondsSince(start));
    state.SetIterationTime(elapsed * 1e-3);
    ms.push_back(elapsed);
  }
  if (ms.empty()) return absl::OkStatus();
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  const double median_ms = ms[ms.size() / 2];
  const double bytes = static_cast<double>(maps) * (4.0 * n * n + 8.0 * bins);
  state.counters["ms"] = median_ms;
  state.counters["GBps"] = bytes / (median_ms * 1e-3) / 1e9;
  state.counters["x_memory"] = median_ms * 1e-3 / (bytes / (absl::GetFlag(FLAGS_peak_tbps) * 1e12));
  state.SetLabel(absl::StrCat(maps, " maps"));
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_megabytes) < 1 || absl::GetFlag(FLAGS_megabytes) > 4096 ||
      absl::GetFlag(FLAGS_peak_tbps) <= 0) {
    std::fprintf(stderr, "transform_benchmark: --megabytes must be in [1, 4096] and "
                         "--peak_tbps positive\n");
    return 2;
  }
  std::string why_no_gpu;
  if (base::CudaDeviceCount(&why_no_gpu) == 0) {
    std::fprintf(stderr, "transform_benchmark: no CUDA GPU (%s)\n", why_no_gpu.c_str());
    return 1;
  }
  bool failed = false;
  for (Direction direction : {Direction::kForward, Direction::kInverse}) {
    for (int64_t n : fftconv::kRegisterFftSides) {
      for (Kernel kernel :
           {Kernel::kRegisters, Kernel::kRegistersMapMajor, Kernel::kSharedPasses}) {
        if (kernel == Kernel::kSharedPasses && !fftconv::BatchedFftSupports(n, n)) continue;
        const std::string name =
            absl::StrCat(direction == Direction::kForward ? "forward/" : "inverse/", n, "/",
                         KernelName(kernel));
        benchmark::RegisterBenchmark(name.c_str(),
                                     [=, &failed](benchmark::State& state) {
                                       const absl::Status status =
                                           RunCase(state, kernel, direction, n);
                                       if (!status.ok()) {
                                         failed = true;
                                         state.SkipWithError(status.ToString().c_str());
                                       }
                                     })
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace fftrain::bench

int main(int argc, char** argv) { return fftrain::bench::Main(argc, argv); }
