// The shape of one stride-1 convolution layer: the value that keys plans and caches.
#ifndef FFTRAIN_FFTCONV_CONV_SHAPE_H_
#define FFTRAIN_FFTCONV_CONV_SHAPE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace fftrain::fftconv {

// x is N x C x H x W, w is K x C x kh x kw, y is N x K x out_h() x out_w(), all NCHW and
// contiguous. pad_h and pad_w zeros are added on each side of the input.
struct ConvShape {
  int64_t n = 1;
  int64_t c = 1;
  int64_t h = 1;
  int64_t w = 1;
  int64_t k = 1;
  int64_t kh = 1;
  int64_t kw = 1;
  int64_t pad_h = 0;
  int64_t pad_w = 0;

  // OK, or InvalidArgument naming the offending field: non-positive sizes, negative
  // padding, a kernel larger than the padded input, or a size product (elements of any
  // tensor or spectrum, in bytes) that does not fit in 63 bits.
  absl::Status Validate() const;

  int64_t padded_h() const { return h + 2 * pad_h; }
  int64_t padded_w() const { return w + 2 * pad_w; }
  int64_t out_h() const { return padded_h() - kh + 1; }
  int64_t out_w() const { return padded_w() - kw + 1; }

  int64_t input_elements() const { return n * c * h * w; }
  int64_t weight_elements() const { return k * c * kh * kw; }
  int64_t output_elements() const { return n * k * out_h() * out_w(); }

  // Multiply-adds of the direct method for one pass (all three passes have the same).
  double DirectMacs() const;

  // "N=128 C=3 H=128 W=128 K=96 k=11x11 pad=0x0".
  std::string ToString() const;

  friend bool operator==(const ConvShape& a, const ConvShape& b) {
    return a.n == b.n && a.c == b.c && a.h == b.h && a.w == b.w && a.k == b.k &&
           a.kh == b.kh && a.kw == b.kw && a.pad_h == b.pad_h && a.pad_w == b.pad_w;
  }
  friend bool operator!=(const ConvShape& a, const ConvShape& b) { return !(a == b); }

  template <typename H>
  friend H AbslHashValue(H state, const ConvShape& s) {
    return H::combine(std::move(state), s.n, s.c, s.h, s.w, s.k, s.kh, s.kw, s.pad_h,
                      s.pad_w);
  }
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CONV_SHAPE_H_
