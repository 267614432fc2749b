// Per-shape choice of how to run a convolution on the GPU: whole images or overlap-save
// tiles (conv_tiling.h), transform size (the smooth size or the next power of two),
// transform engine (cuFFT or our batched kernels) and product variant (CGEMM, CGEMM3M, or
// the thin products where C <= kMaxThinChannels). Measures every candidate once, or ranks
// them by a cost model alone, under an optional workspace cap; caches the winner in
// memory and optionally on disk.
#ifndef FFTRAIN_FFTCONV_CUDA_TUNER_H_
#define FFTRAIN_FFTCONV_CUDA_TUNER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fftconv/conv_method.h"
#include "fftconv/conv_shape.h"
#include "fftconv/cost_model.h"
#include "fftconv/cuda/cuda_fft_conv.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

enum class TuningMode {
  kMeasure,    // time one training step (the three passes) of every candidate
  kCostModel,  // rank candidates by EstimateMethodMilliseconds, measuring nothing
};

struct TunerOptions {
  TuningMode mode = TuningMode::kMeasure;
  // Candidates whose workspace exceeds this are skipped; 0 means no cap.
  size_t workspace_cap = 0;
  // Where to keep winners across runs ("" for none): one line per shape and GPU.
  std::string cache_path;
  // Timed steps per candidate (after one warm-up step); the median counts.
  int iterations = 3;
  // The GPU's peaks for the cost model (cost_model.h: H100 SXM by default;
  // GpuPeaksForDevice picks a GPU's by its name).
  GpuPeaks peaks;
};

struct MethodTiming {
  ConvMethod method;
  double milliseconds = 0;  // measured, or the cost model's estimate
  size_t workspace_bytes = 0;
};

struct TunedConv {
  ConvMethod method;
  std::vector<MethodTiming> timings;  // every candidate considered, in the order tried
  bool from_cache = false;
};

// Every method the tuner may pick for `shape`. Whole images: cuFFT at the smooth and the
// power-of-two size, our batched kernels at the power of two where they take it. Tiled,
// where a tile's transform is smaller than the whole image's: batched kernels at the
// (up to kMaxTiledSizes) largest powers of two below it whose output tile is at least the
// kernel's size, so that overlap costs less than half a tile. Products: CGEMM, CGEMM3M,
// tf32x3, the thin kernels where C admits them, and with `wgmma_products` (a compute
// capability 9.0 device) tf32x3_wgmma.
inline constexpr int kMaxTiledSizes = 3;
std::vector<ConvMethod> CandidateMethods(const ConvShape& shape, bool wgmma_products);

// The workspace `method` needs for `shape`, from the layouts alone (the cost-model mode's
// figure; a plan adds its libraries' work areas).
absl::StatusOr<size_t> EstimateWorkspaceBytes(const ConvShape& shape, const ConvMethod& method,
                                              bool keep_input_spectrum);

// The cost model's milliseconds for one training step with `method` on options.peaks
// (EstimateStepMilliseconds of cost_model.h).
inline double EstimateMethodMilliseconds(const ConvShape& shape, const ConvMethod& method,
                                         const TunerOptions& options) {
  return EstimateStepMilliseconds(shape, method, options.peaks);
}

class ConvTuner {
 public:
  // Loads the on-disk cache when there is one; a malformed cache line is an error naming
  // the file and line.
  static absl::StatusOr<ConvTuner> Create(const TunerOptions& options);

  // The best method for `shape`. Measuring allocates its own buffers (a set-up step, not
  // a pass) and runs on `stream`. ResourceExhausted when no candidate fits the cap.
  absl::StatusOr<TunedConv> Tune(const ConvShape& shape, bool keep_input_spectrum,
                                 base::CudaStreamHandle stream);

  // Every choice this tuner holds for its device and mode (tuned here, or loaded from its
  // cache), as cache lines after the cache's header, in key order: what one rank tunes
  // and hands to the others, so that every rank runs the same methods.
  std::string ExportChoices() const;
  // Takes the choices of ExportChoices' text (comments and empty lines ignored) as this
  // tuner's own: each key's device is replaced by this tuner's, since the point is that
  // every rank runs what the exporting rank chose, whatever it would have measured. Later
  // Tune calls for those shapes return them (from_cache). Kept in memory, never written
  // to this tuner's cache file (another rank may own it). InvalidArgument naming the
  // first malformed line, and then nothing is imported.
  absl::Status ImportChoices(const std::string& text);

 private:
  ConvTuner(TunerOptions options, std::string device, bool wgmma_products)
      : options_(std::move(options)), device_(std::move(device)),
        wgmma_products_(wgmma_products) {}
  // The device part of this tuner's keys: the GPU when measuring, "cost model" otherwise.
  std::string DeviceKey() const;
  std::string CacheKey(const ConvShape& shape, bool keep) const;
  absl::Status LoadCache();
  absl::Status AppendToCache(const std::string& key, const ConvMethod& method, double ms);
  // A layer's seeded inputs and its outputs on the device: the same for every candidate.
  struct StepBuffers;
  absl::StatusOr<double> MeasureStep(const ConvShape& shape, const ConvMethod& method,
                                     bool keep, const StepBuffers& buffers,
                                     base::CudaStreamHandle stream, size_t* workspace);

  TunerOptions options_;
  std::string device_;
  bool wgmma_products_;  // the current device runs tf32x3_wgmma
  // Key -> the entry (its key included, for export).
  absl::flat_hash_map<std::string, TunerCacheEntry> cache_;
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_TUNER_H_
