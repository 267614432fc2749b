#include "fftconv/conv_method.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace fftrain::fftconv {
namespace {

const char* TransformName(TransformEngine e) {
  return e == TransformEngine::kBatchedKernels ? "batched" : "cufft";
}

// The product named in a cache line; false for an unknown name.
bool ParseProduct(absl::string_view name, ProductEngine* p) {
  for (ProductEngine candidate :
       {ProductEngine::kCgemm, ProductEngine::kCgemm3m, ProductEngine::kThin,
        ProductEngine::kTf32x3, ProductEngine::kTf32x3Wgmma}) {
    if (name == ProductEngineName(candidate)) {
      *p = candidate;
      return true;
    }
  }
  return false;
}

}  // namespace

FftConvOptions ConvMethod::ToOptions(bool keep_input_spectrum) const {
  FftConvOptions options;
  options.fft_h = fft_h;
  options.fft_w = fft_w;
  options.transform = transform;
  options.product = product;
  options.keep_input_spectrum = keep_input_spectrum;
  options.tile_h = tile_h;
  options.tile_w = tile_w;
  return options;
}

std::string ConvMethod::ToString() const {
  std::string name = absl::StrFormat("%s %dx%d %s", TransformName(transform), fft_h, fft_w,
                                     ProductEngineName(product));
  if (tiled()) absl::StrAppendFormat(&name, " tiles %dx%d", tile_h, tile_w);
  return name;
}

bool IsTunerCacheComment(absl::string_view line) { return line.empty() || line[0] == '#'; }

std::string FormatTunerCacheLine(const TunerCacheEntry& e) {
  const ConvMethod& m = e.method;
  return absl::StrFormat("%s|%d %d %s %s %d %d %.4f", e.key, m.fft_h, m.fft_w,
                         TransformName(m.transform), ProductEngineName(m.product), m.tile_h,
                         m.tile_w, e.milliseconds);
}

absl::StatusOr<TunerCacheEntry> ParseTunerCacheLine(absl::string_view line) {
  // The key has four fields (device|shape|keep|cap), the method one.
  const std::vector<absl::string_view> parts = absl::StrSplit(line, '|');
  if (parts.size() != 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected 5 fields separated by '|', found ", parts.size()));
  }
  const std::vector<absl::string_view> fields = absl::StrSplit(parts[4], ' ', absl::SkipEmpty());
  // v1: fft_h fft_w transform product ms; v2 inserts tile_h tile_w before ms.
  const bool v2 = fields.size() == 7;
  if (fields.size() != 5 && !v2) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected 7 method fields (5 before tiles), found ", fields.size()));
  }
  TunerCacheEntry entry;
  ConvMethod& m = entry.method;
  if (!absl::SimpleAtoi(fields[0], &m.fft_h) || !absl::SimpleAtoi(fields[1], &m.fft_w)) {
    return absl::InvalidArgumentError("the transform size is not two integers");
  }
  if (fields[2] != "cufft" && fields[2] != "batched") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown transform '", fields[2], "' (cufft or batched)"));
  }
  m.transform = fields[2] == "batched" ? TransformEngine::kBatchedKernels : TransformEngine::kCufft;
  if (!ParseProduct(fields[3], &m.product)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown product '", fields[3], "'"));
  }
  if (v2 && (!absl::SimpleAtoi(fields[4], &m.tile_h) || !absl::SimpleAtoi(fields[5], &m.tile_w) ||
             m.tile_h < 0 || m.tile_w < 0)) {
    return absl::InvalidArgumentError("the tile is not two integers >= 0");
  }
  if (!absl::SimpleAtod(fields.back(), &entry.milliseconds)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the milliseconds '", fields.back(), "' are not a number"));
  }
  entry.key = absl::StrCat(parts[0], "|", parts[1], "|", parts[2], "|", parts[3]);
  return entry;
}

}  // namespace fftrain::fftconv
