#include "fftconv/cuda/tuner.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "base/cuda/cuda_resources.h"
#include "base/status_macros.h"
#include "fftconv/cuda/kernels/batched_fft_kernels.h"
#include "fftconv/cuda/batched_map_transform.h"
#include "fftconv/conv_tiling.h"
#include "fftconv/cuda/kernels/tf32x3_wgmma_product_kernels.h"
#include "fftconv/transform_size.h"

namespace fftrain::fftconv {

using ::fftrain::base::CudaEvent;
using ::fftrain::base::CudaStreamHandle;
using ::fftrain::base::CurrentDeviceDescription;
using ::fftrain::base::DeviceBuffer;

namespace {

// Seeded values in [-1, 1): the tuner never times zeros, which can run faster than data.
std::vector<float> Noise(int64_t n, uint32_t seed) {
  std::mt19937 engine(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(engine() % 2000001) * 1e-6f - 1.0f;
  return v;
}

absl::StatusOr<DeviceBuffer> Upload(const std::vector<float>& host) {
  FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer buffer, DeviceBuffer::Allocate(4 * host.size()));
  FFTRAIN_RETURN_IF_ERROR(buffer.CopyFromHost(host.data(), 4 * host.size()));
  return buffer;
}

// The same method on whole images: how a tiled method runs its tiles' layer.
ConvMethod WithoutTiles(ConvMethod m) {
  m.tile_h = m.tile_w = 0;
  return m;
}

}  // namespace

std::vector<ConvMethod> CandidateMethods(const ConvShape& s, bool wgmma_products) {
  std::vector<ConvMethod> methods;
  const int64_t smooth_h = NextSmoothSize(s.padded_h()), smooth_w = NextSmoothSize(s.padded_w());
  const int64_t pow2_h = NextPowerOfTwo(s.padded_h()), pow2_w = NextPowerOfTwo(s.padded_w());
  // The register kernels' smallest square side that holds the padded input, where it has
  // fewer bins than the power of two (13 -> 13x13, 91 bins, against 16x16's 144).
  const int64_t smooth_side =
      RegisterFftSideWithFewerBins(s.padded_h(), s.padded_w(), pow2_h, pow2_w);
  std::vector<ProductEngine> products = {ProductEngine::kCgemm, ProductEngine::kCgemm3m,
                                         ProductEngine::kTf32x3};
  if (wgmma_products) products.push_back(ProductEngine::kTf32x3Wgmma);
  if (s.c <= kMaxThinChannels) products.push_back(ProductEngine::kThin);
  for (ProductEngine product : products) {
    methods.push_back({smooth_h, smooth_w, TransformEngine::kCufft, product});
    if (pow2_h != smooth_h || pow2_w != smooth_w) {
      methods.push_back({pow2_h, pow2_w, TransformEngine::kCufft, product});
    }
    if (BatchedTransformSupports(pow2_h, pow2_w)) {
      methods.push_back({pow2_h, pow2_w, TransformEngine::kBatchedKernels, product});
    }
    // Our kernels at a smooth side below the power of two: fewer bins in every product.
    if (smooth_side != 0) {
      methods.push_back({smooth_side, smooth_side, TransformEngine::kBatchedKernels, product});
    }
  }
  int sizes = 0;
  for (int64_t f = kBatchedFftMaxSide; f >= 8 && sizes < kMaxTiledSizes; f /= 2) {
    const int64_t tile_h = f - s.kh + 1, tile_w = f - s.kw + 1;
    if (tile_h < s.kh || tile_w < s.kw) break;  // smaller sizes only shrink the tiles more
    const bool cut_h = tile_h < s.out_h(), cut_w = tile_w < s.out_w();
    if (!cut_h && !cut_w) continue;  // one tile holds the whole output: no tiling
    ++sizes;
    for (ProductEngine product : products) {
      methods.push_back({f, f, TransformEngine::kBatchedKernels, product, cut_h ? tile_h : 0,
                         cut_w ? tile_w : 0});
    }
  }
  return methods;
}

absl::StatusOr<size_t> EstimateWorkspaceBytes(const ConvShape& shape, const ConvMethod& method,
                                              bool keep_input_spectrum) {
  if (!method.tiled()) {
    FFTRAIN_ASSIGN_OR_RETURN(SpectralLayout layout,
                             SpectralLayout::Create(shape, method.ToOptions(keep_input_spectrum)));
    return layout.backend_offset();
  }
  FFTRAIN_ASSIGN_OR_RETURN(ConvTiling tiling,
                           ConvTiling::Create(shape, method.tile_h, method.tile_w));
  FFTRAIN_ASSIGN_OR_RETURN(size_t tiles_workspace,
                           EstimateWorkspaceBytes(tiling.TileShape(), WithoutTiles(method),
                                                  keep_input_spectrum));
  return tiling.WorkspaceBytes(tiles_workspace);
}

absl::StatusOr<ConvTuner> ConvTuner::Create(const TunerOptions& options) {
  if (options.iterations < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("tuner: iterations must be >= 1, got ", options.iterations));
  }
  std::string device = "no GPU";
  if (options.mode == TuningMode::kMeasure) {
    FFTRAIN_ASSIGN_OR_RETURN(device, CurrentDeviceDescription());
  }
  // Without a GPU (the cost model's mode may run so) nothing is Hopper.
  ConvTuner tuner(options, device, CurrentDeviceRunsTf32x3Wgmma());
  FFTRAIN_RETURN_IF_ERROR(tuner.LoadCache());
  return tuner;
}

std::string ConvTuner::DeviceKey() const {
  return options_.mode == TuningMode::kMeasure ? device_ : "cost model";
}

std::string ConvTuner::CacheKey(const ConvShape& s, bool keep) const {
  return absl::StrCat(DeviceKey(), "|",
                      absl::StrJoin({s.n, s.c, s.h, s.w, s.k, s.kh, s.kw, s.pad_h, s.pad_w}, ","),
                      "|", keep ? 1 : 0, "|", options_.workspace_cap);
}

absl::Status ConvTuner::LoadCache() {
  if (options_.cache_path.empty()) return absl::OkStatus();
  std::ifstream in(options_.cache_path);
  if (!in) return absl::OkStatus();  // no cache yet: it is created on the first write
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (IsTunerCacheComment(line)) continue;
    absl::StatusOr<TunerCacheEntry> entry = ParseTunerCacheLine(line);
    if (!entry.ok()) {
      return absl::DataLossError(absl::StrCat("tuner cache ", options_.cache_path, " line ",
                                              number, " is malformed (",
                                              entry.status().message(), "): '", line,
                                              "'; delete the file to start afresh"));
    }
    std::string key = entry->key;
    cache_[std::move(key)] = *std::move(entry);
  }
  return absl::OkStatus();
}

absl::Status ConvTuner::AppendToCache(const std::string& key, const ConvMethod& m, double ms) {
  if (options_.cache_path.empty()) return absl::OkStatus();
  const bool exists = std::ifstream(options_.cache_path).good();
  std::ofstream out(options_.cache_path, std::ios::app);
  if (!exists) out << kTunerCacheHeader << "\n";
  out << FormatTunerCacheLine({key, m, ms}) << "\n";
  out.flush();
  if (!out) {
    return absl::InternalError(absl::StrCat("cannot write tuner cache ", options_.cache_path,
                                            ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::string ConvTuner::ExportChoices() const {
  // Only this device's and mode's entries: a cache file may hold other GPUs' choices,
  // which an importing rank would otherwise take as its own, several to one key.
  const std::string prefix = DeviceKey() + "|";
  std::vector<const TunerCacheEntry*> mine;
  for (const auto& [key, entry] : cache_) {
    if (absl::StartsWith(key, prefix)) mine.push_back(&entry);
  }
  std::sort(mine.begin(), mine.end(), [](const TunerCacheEntry* a, const TunerCacheEntry* b) {
    return a->key < b->key;
  });
  std::string text = absl::StrCat(kTunerCacheHeader, "\n");
  for (const TunerCacheEntry* entry : mine) {
    absl::StrAppend(&text, FormatTunerCacheLine(*entry), "\n");
  }
  return text;
}

absl::Status ConvTuner::ImportChoices(const std::string& text) {
  std::vector<TunerCacheEntry> entries;  // all parsed before any is taken
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    if (IsTunerCacheComment(line)) continue;
    absl::StatusOr<TunerCacheEntry> entry = ParseTunerCacheLine(line);
    if (!entry.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("tuning choices line ", number,
                                                     " is malformed (", entry.status().message(),
                                                     "): '", line, "'"));
    }
    entry->key = absl::StrCat(DeviceKey(), entry->key.substr(entry->key.find('|')));
    entries.push_back(*std::move(entry));
  }
  for (TunerCacheEntry& entry : entries) {
    std::string key = entry.key;
    cache_[std::move(key)] = std::move(entry);
  }
  return absl::OkStatus();
}

struct ConvTuner::StepBuffers {
  DeviceBuffer x, w, bias, gy, y, gx, gw, gb;

  static absl::StatusOr<StepBuffers> Create(const ConvShape& s) {
    FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer x, Upload(Noise(s.input_elements(), 1)));
    FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer w, Upload(Noise(s.weight_elements(), 2)));
    FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer bias, Upload(Noise(s.k, 3)));
    FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer gy, Upload(Noise(s.output_elements(), 4)));
    FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer y, DeviceBuffer::Allocate(4 * s.output_elements()));
    FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer gx, DeviceBuffer::Allocate(4 * s.input_elements()));
    FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer gw, DeviceBuffer::Allocate(4 * s.weight_elements()));
    FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer gb, DeviceBuffer::Allocate(4 * s.k));
    return StepBuffers{std::move(x),  std::move(w),  std::move(bias), std::move(gy),
                       std::move(y),  std::move(gx), std::move(gw),   std::move(gb)};
  }
};

absl::StatusOr<double> ConvTuner::MeasureStep(const ConvShape& s, const ConvMethod& m,
                                              bool keep, const StepBuffers& b,
                                              CudaStreamHandle stream,
                                              size_t* workspace_bytes) {
  FFTRAIN_ASSIGN_OR_RETURN(CudaFftConvPlan plan, CudaFftConvPlan::Create(s, m.ToOptions(keep)));
  *workspace_bytes = plan.WorkspaceBytes();
  if (options_.workspace_cap > 0 && plan.WorkspaceBytes() > options_.workspace_cap) {
    return std::numeric_limits<double>::infinity();
  }
  FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer ws, DeviceBuffer::Allocate(plan.WorkspaceBytes()));
  FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer w_hat, DeviceBuffer::Allocate(plan.WeightSpectrumBytes()));
  FFTRAIN_ASSIGN_OR_RETURN(DeviceBuffer x_hat, DeviceBuffer::Allocate(plan.InputSpectrumBytes()));
  const LayerSpectra spectra{w_hat.span(), x_hat.span()};
  auto step = [&]() -> absl::Status {
    FFTRAIN_RETURN_IF_ERROR(plan.Forward(b.x.as<float>(), b.w.as<float>(), b.bias.as<float>(),
                                         b.y.as<float>(), spectra, ws.span(), stream));
    FFTRAIN_RETURN_IF_ERROR(
        plan.BackwardData(b.gy.as<float>(), b.gx.as<float>(), spectra, ws.span(), stream));
    return plan.BackwardFilter(b.x.as<float>(), b.gy.as<float>(), b.gw.as<float>(),
                               b.gb.as<float>(), spectra, GradOutputSpectrum::kFromBackwardData,
                               ws.span(), stream);
  };
  FFTRAIN_ASSIGN_OR_RETURN(CudaEvent start, CudaEvent::Create());
  FFTRAIN_ASSIGN_OR_RETURN(CudaEvent stop, CudaEvent::Create());
  FFTRAIN_RETURN_IF_ERROR(step());  // warm-up: module loading, first-touch
  std::vector<double> ms;
  for (int i = 0; i < options_.iterations; ++i) {
    FFTRAIN_RETURN_IF_ERROR(start.Record(stream));
    FFTRAIN_RETURN_IF_ERROR(step());
    FFTRAIN_RETURN_IF_ERROR(stop.Record(stream));
    FFTRAIN_RETURN_IF_ERROR(stop.Synchronize());
    FFTRAIN_ASSIGN_OR_RETURN(float elapsed, stop.MillisecondsSince(start));
    ms.push_back(elapsed);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

absl::StatusOr<TunedConv> ConvTuner::Tune(const ConvShape& shape, bool keep,
                                          CudaStreamHandle stream) {
  FFTRAIN_RETURN_IF_ERROR(shape.Validate());
  const std::string key = CacheKey(shape, keep);
  if (auto it = cache_.find(key); it != cache_.end()) {
    return TunedConv{it->second.method, {}, true};
  }
  TunedConv result;
  double best = std::numeric_limits<double>::infinity();
  size_t smallest_workspace = std::numeric_limits<size_t>::max();
  std::optional<StepBuffers> buffers;  // measuring only: made once, for every candidate
  for (const ConvMethod& m : CandidateMethods(shape, wgmma_products_)) {
    MethodTiming timing{m, 0, 0};
    if (options_.mode == TuningMode::kMeasure) {
      if (!buffers) {
        FFTRAIN_ASSIGN_OR_RETURN(StepBuffers made, StepBuffers::Create(shape));
        buffers.emplace(std::move(made));
      }
      FFTRAIN_ASSIGN_OR_RETURN(
          timing.milliseconds,
          MeasureStep(shape, m, keep, *buffers, stream, &timing.workspace_bytes));
    } else {
      FFTRAIN_ASSIGN_OR_RETURN(timing.workspace_bytes, EstimateWorkspaceBytes(shape, m, keep));
      timing.milliseconds =
          options_.workspace_cap > 0 && timing.workspace_bytes > options_.workspace_cap
              ? std::numeric_limits<double>::infinity()
              : EstimateMethodMilliseconds(shape, m, options_);
    }
    smallest_workspace = std::min(smallest_workspace, timing.workspace_bytes);
    if (timing.milliseconds < best) {
      best = timing.milliseconds;
      result.method = m;
    }
    result.timings.push_back(timing);
  }
  if (!std::isfinite(best)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "tuner: no method for ", shape.ToString(), " fits the workspace cap of ",
        options_.workspace_cap, " bytes; the smallest needs ", smallest_workspace));
  }
  cache_[key] = TunerCacheEntry{key, result.method, best};
  FFTRAIN_RETURN_IF_ERROR(AppendToCache(key, result.method, best));
  return result;
}

}  // namespace fftrain::fftconv
