// ConvMethod: one way the CUDA plan can run a convolution (the tuner's unit of choice),
// and the text line that records a choice: the tuner's on-disk cache and the choices one
// rank hands to the others (ConvTuner::ExportChoices) share this one format. Plain C++,
// no GPU, so the format is tested everywhere.
#ifndef FFTRAIN_FFTCONV_CONV_METHOD_H_
#define FFTRAIN_FFTCONV_CONV_METHOD_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

struct ConvMethod {
  int64_t fft_h = 0;
  int64_t fft_w = 0;
  TransformEngine transform = TransformEngine::kCufft;
  ProductEngine product = ProductEngine::kCgemm;
  // Output tile (FftConvOptions::tile_h, tile_w); both 0 for whole images, and then
  // fft_h x fft_w is the image's transform, else one tile's.
  int64_t tile_h = 0;
  int64_t tile_w = 0;

  bool tiled() const { return tile_h != 0 || tile_w != 0; }
  FftConvOptions ToOptions(bool keep_input_spectrum) const;
  // "batched 32x32 cgemm", or "batched 16x16 cgemm tiles 14x14" (0 for a whole extent).
  std::string ToString() const;
  friend bool operator==(const ConvMethod& a, const ConvMethod& b) {
    return a.fft_h == b.fft_h && a.fft_w == b.fft_w && a.transform == b.transform &&
           a.product == b.product && a.tile_h == b.tile_h && a.tile_w == b.tile_w;
  }
};

// The first line of a cache file (a comment: lines starting with '#' carry no choice).
// v2 added the tiles; v1 lines (no tiles: whole images) are still read.
inline constexpr char kTunerCacheHeader[] =
    "# fftrain tuner cache v2: device|shape|keep|cap|fft_h fft_w transform product tile_h "
    "tile_w ms";

// One tuning choice: the shape's key, "device|n,c,h,w,k,kh,kw,pad_h,pad_w|keep|cap"
// (ConvTuner makes it), the method, and the milliseconds it was measured or estimated at.
struct TunerCacheEntry {
  std::string key;
  ConvMethod method;
  double milliseconds = 0;
};

// Whether `line` carries no choice: empty, or a comment.
bool IsTunerCacheComment(absl::string_view line);

// "key|fft_h fft_w transform product tile_h tile_w ms", without a newline.
std::string FormatTunerCacheLine(const TunerCacheEntry& entry);

// The entry of a line that is not a comment, v2 or v1 (no tile fields: whole images).
// InvalidArgument saying what is wrong; callers add where the line came from.
absl::StatusOr<TunerCacheEntry> ParseTunerCacheLine(absl::string_view line);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CONV_METHOD_H_
