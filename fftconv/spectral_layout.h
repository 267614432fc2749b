// Where a plan keeps its frequency-domain data: transform sizes, the regions of the
// workspace, and the caller-owned spectra carried between the passes of one step. Both
// backends share it, so both report the same sizes for the same shape.
#ifndef FFTRAIN_FFTCONV_SPECTRAL_LAYOUT_H_
#define FFTRAIN_FFTCONV_SPECTRAL_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/memory_span.h"
#include "fftconv/conv_shape.h"
#include "fftconv/spectrum_order.h"
#include "fftconv/transform_size.h"

namespace fftrain::fftconv {

// How the CUDA backend computes its transforms (the CPU backend always uses FFTW).
enum class TransformEngine {
  // Our batched kernels where they apply (power-of-two sizes up to 128), else cuFFT.
  kAuto,
  kCufft,
  // Our batched kernels; Create fails for sizes they do not take.
  kBatchedKernels,
};

// How the CUDA backend computes the per-frequency products.
enum class ProductEngine {
  kAuto,     // CGEMM (kCgemm)
  kCgemm,    // cublasCgemmStridedBatched: 4 real multiplies per complex one
  kCgemm3m,  // cublasCgemm3mStridedBatched: Gauss's 3-multiply form, faster on large sums
  // fftrain's own kernels for layers with few input channels (C <= kMaxThinChannels, a
  // network's first layer): one thread per bin, memory-bound, where cuBLAS's tiles would
  // be mostly empty. Its plans keep spectra map-major (SpectrumOrder::kMapMajor).
  kThin,
  // fftrain's tensor-core kernel (cuda/tf32x3_product_kernels.h): each fp32 operand split
  // into two TF32 numbers, three tensor-core products per real one, Gauss's three real
  // products per complex one; fp32 accuracy. Faster than CGEMM on some layers, slower on
  // others: the tuner measures.
  kTf32x3,
  // The same products on Hopper's wgmma (cuda/tf32x3_wgmma_product_kernels.h): B split
  // once per block as it is staged, A split in the registers of the warp that owns its
  // rows. Compute capability 9.0 only; plans refuse it elsewhere.
  kTf32x3Wgmma,
};


// "cgemm", "cgemm3m", "thin", "tf32x3" or "tf32x3_wgmma" (kAuto names what it stands for, "cgemm"): the names the
// plans report and the tuner's cache stores.
const char* ProductEngineName(ProductEngine product);

struct FftConvOptions {
  // Transform size per dimension. 0 picks the smallest 7-smooth size >= the padded
  // input; an explicit size must be at least the padded input.
  int64_t fft_h = 0;
  int64_t fft_w = 0;
  // Keep the input's spectrum from Forward for BackwardFilter (LayerSpectra::input):
  // one batch of N*C transforms fewer per step, for N*C*bins*8 bytes per layer.
  bool keep_input_spectrum = false;
  TransformEngine transform = TransformEngine::kAuto;
  ProductEngine product = ProductEngine::kAuto;
  // Overlap-save tiling (fftconv/conv_tiling.h, CUDA backend): output rows and columns
  // per tile, 0 for the whole extent; both 0 (the default) transforms whole images. With
  // tiles, fft_h and fft_w size one tile's transform (its input tile, tile + kernel - 1).
  int64_t tile_h = 0;
  int64_t tile_w = 0;
  bool tiled() const { return tile_h != 0 || tile_w != 0; }
};

// Per-layer spectra that outlive one pass; the workspace is scratch shared by all layers.
struct LayerSpectra {
  // W^, WeightSpectrumBytes(): written by Forward (or TransformWeights), read by
  // BackwardData of the same step, so the weights are transformed once per step.
  base::MemorySpan weights;
  // X^, InputSpectrumBytes(): only with keep_input_spectrum. Written by Forward, read by
  // BackwardFilter instead of transforming x again.
  base::MemorySpan input;
};

// Where BackwardFilter gets dL/dy's spectrum.
enum class GradOutputSpectrum {
  // Transform dL/dy itself.
  kTransform,
  // Reuse the spectrum that BackwardData, called just before on the same workspace with
  // the same dL/dy, left in the workspace.
  kFromBackwardData,
};

// Spectra are Hermitian half spectra: fft_h x (fft_w/2 + 1) complex bins per map, stored
// bin-major ([bin][map], maps row-major as [n][c], [k][c] or [n][k]) so that each
// frequency's maps form one matrix of the per-frequency products; CUDA plans with the
// thin products store them map-major ([map][bin]) instead. The sizes are the same.
class SpectralLayout {
 public:
  static absl::StatusOr<SpectralLayout> Create(const ConvShape& shape,
                                               const FftConvOptions& options);

  const ConvShape& shape() const { return shape_; }
  int64_t fft_h() const { return fft_h_; }
  int64_t fft_w() const { return fft_w_; }
  int64_t bins() const { return HalfSpectrumBins(fft_h_, fft_w_); }
  int64_t real_map_elements() const { return fft_h_ * fft_w_; }

  int64_t input_maps() const { return shape_.n * shape_.c; }
  int64_t weight_maps() const { return shape_.k * shape_.c; }
  int64_t output_maps() const { return shape_.n * shape_.k; }
  int64_t max_maps() const;

  size_t SpectrumBytes(int64_t maps) const { return static_cast<size_t>(maps * bins()) * 8; }

  // Workspace regions, in this order, each starting at a multiple of base::kWorkspaceAlignment:
  //   input spectrum   N*C maps: X^ in Forward and BackwardFilter, GX^ in BackwardData
  //   output spectrum  N*K maps: Y^ in Forward, GY^ in both backward passes
  //   filter spectrum  K*C maps: W^ in TransformWeights, GW^ in BackwardFilter
  //   real staging     max maps, fft_h*fft_w floats each: padded inputs, uncropped outputs
  // A backend appends what its libraries need (cuFFT, cuBLAS) at backend_offset().
  size_t input_spectrum_offset() const { return 0; }
  size_t output_spectrum_offset() const;
  size_t filter_spectrum_offset() const;
  size_t staging_offset() const;
  size_t backend_offset() const;

  size_t WeightSpectrumBytes() const { return SpectrumBytes(weight_maps()); }
  size_t InputSpectrumBytes() const {
    return keep_input_spectrum_ ? SpectrumBytes(input_maps()) : 0;
  }
  bool keep_input_spectrum() const { return keep_input_spectrum_; }

  // "fft 16x16, 144 bins".
  std::string ToString() const;

 private:
  SpectralLayout(const ConvShape& shape, int64_t fft_h, int64_t fft_w, bool keep_input)
      : shape_(shape), fft_h_(fft_h), fft_w_(fft_w), keep_input_spectrum_(keep_input) {}

  ConvShape shape_;
  int64_t fft_h_;
  int64_t fft_w_;
  bool keep_input_spectrum_;
};

// InvalidArgument naming `what` unless span holds `required` bytes at an aligned base.
absl::Status CheckSpan(const base::MemorySpan& span, size_t required, const char* what);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_SPECTRAL_LAYOUT_H_
