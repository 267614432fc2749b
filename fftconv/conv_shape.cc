#include "fftconv/conv_shape.h"

#include <initializer_list>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fftrain::fftconv {
namespace {

// Largest byte count we accept for any one buffer; leaves headroom below 2^63.
constexpr int64_t kMaxBytes = int64_t{1} << 62;

// Multiplies the factors, false on overflow past kMaxBytes.
bool CheckedProduct(std::initializer_list<int64_t> factors, int64_t* product) {
  int64_t p = 1;
  for (int64_t f : factors) {
    if (__builtin_mul_overflow(p, f, &p) || p > kMaxBytes) return false;
  }
  *product = p;
  return true;
}

}  // namespace

absl::Status ConvShape::Validate() const {
  for (const auto& [name, value] :
       {std::pair<const char*, int64_t>{"N", n}, {"C", c}, {"H", h}, {"W", w}, {"K", k},
        {"kh", kh}, {"kw", kw}}) {
    if (value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("ConvShape: ", name, " must be positive, got ", value, " (",
                       ToString(), ")"));
    }
  }
  for (const auto& [name, value] :
       {std::pair<const char*, int64_t>{"pad_h", pad_h}, {"pad_w", pad_w}}) {
    if (value < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ConvShape: ", name, " must be >= 0, got ", value, " (", ToString(), ")"));
    }
  }
  int64_t padded;
  if (__builtin_mul_overflow(pad_h, 2, &padded) || __builtin_add_overflow(h, padded, &padded) ||
      padded > kMaxBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("ConvShape: H + 2*pad_h overflows (", ToString(), ")"));
  }
  if (__builtin_mul_overflow(pad_w, 2, &padded) || __builtin_add_overflow(w, padded, &padded) ||
      padded > kMaxBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("ConvShape: W + 2*pad_w overflows (", ToString(), ")"));
  }
  if (kh > padded_h()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ConvShape: kernel height kh=", kh, " is larger than the padded input height H+2*pad_h=",
        padded_h(), " (", ToString(), ")"));
  }
  if (kw > padded_w()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ConvShape: kernel width kw=", kw, " is larger than the padded input width W+2*pad_w=",
        padded_w(), " (", ToString(), ")"));
  }
  // Every buffer the passes touch, in bytes, the spectra of the padded maps included
  // (a transform is at most about twice the padded size; 8 bytes per complex bin).
  int64_t product;
  const struct {
    const char* what;
    std::initializer_list<int64_t> factors;
  } products[] = {
      {"input N*C*H*W", {n, c, h, w, 4}},
      {"weights K*C*kh*kw", {k, c, kh, kw, 4}},
      {"output N*K*out_h*out_w", {n, k, out_h(), out_w(), 4}},
      {"input spectra N*C*(H+2p)*(W+2p)", {n, c, padded_h(), padded_w(), 32}},
      {"output spectra N*K*(H+2p)*(W+2p)", {n, k, padded_h(), padded_w(), 32}},
      {"weight spectra K*C*(H+2p)*(W+2p)", {k, c, padded_h(), padded_w(), 32}},
  };
  for (const auto& p : products) {
    if (!CheckedProduct(p.factors, &product)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ConvShape: size of ", p.what, " in bytes overflows 2^62 (", ToString(), ")"));
    }
  }
  return absl::OkStatus();
}

double ConvShape::DirectMacs() const {
  return static_cast<double>(n) * c * k * out_h() * out_w() * kh * kw;
}

std::string ConvShape::ToString() const {
  return absl::StrFormat("N=%d C=%d H=%d W=%d K=%d k=%dx%d pad=%dx%d", n, c, h, w, k, kh, kw,
                         pad_h, pad_w);
}

}  // namespace fftrain::fftconv
