#include "fftconv/reference_conv.h"

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "base/status_macros.h"

namespace fftrain::fftconv {
namespace {

absl::Status CheckPointers(std::initializer_list<const void*> pointers) {
  for (const void* p : pointers) {
    if (p == nullptr) return absl::InvalidArgumentError("reference convolution: null tensor");
  }
  return absl::OkStatus();
}

// Input element (n, c, row, col) of the padded input, zero outside the image.
inline double PaddedInput(const ConvShape& s, const float* x, int64_t n, int64_t c,
                          int64_t row, int64_t col) {
  const int64_t r = row - s.pad_h;
  const int64_t q = col - s.pad_w;
  if (r < 0 || r >= s.h || q < 0 || q >= s.w) return 0.0;
  return x[((n * s.c + c) * s.h + r) * s.w + q];
}

}  // namespace

absl::Status ReferenceForward(const ConvShape& s, const float* x, const float* w,
                              const float* bias, float* y) {
  FFTRAIN_RETURN_IF_ERROR(s.Validate());
  FFTRAIN_RETURN_IF_ERROR(CheckPointers({x, w, y}));
  const int64_t oh = s.out_h(), ow = s.out_w();
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t k = 0; k < s.k; ++k) {
      for (int64_t i = 0; i < oh; ++i) {
        for (int64_t j = 0; j < ow; ++j) {
          double sum = bias != nullptr ? bias[k] : 0.0;
          for (int64_t c = 0; c < s.c; ++c) {
            const float* wkc = w + (k * s.c + c) * s.kh * s.kw;
            for (int64_t u = 0; u < s.kh; ++u) {
              for (int64_t v = 0; v < s.kw; ++v) {
                sum += PaddedInput(s, x, n, c, i + u, j + v) * wkc[u * s.kw + v];
              }
            }
          }
          y[((n * s.k + k) * oh + i) * ow + j] = static_cast<float>(sum);
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ReferenceBackwardData(const ConvShape& s, const float* gy, const float* w,
                                   float* gx) {
  FFTRAIN_RETURN_IF_ERROR(s.Validate());
  FFTRAIN_RETURN_IF_ERROR(CheckPointers({gy, w, gx}));
  const int64_t oh = s.out_h(), ow = s.out_w();
  // gx[n,c,a,b] = sum_{k,u,v} gy[n,k,a+pad_h-u, b+pad_w-v] * w[k,c,u,v], where in range.
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t c = 0; c < s.c; ++c) {
      for (int64_t a = 0; a < s.h; ++a) {
        for (int64_t b = 0; b < s.w; ++b) {
          double sum = 0.0;
          for (int64_t k = 0; k < s.k; ++k) {
            const float* wkc = w + (k * s.c + c) * s.kh * s.kw;
            const float* gynk = gy + (n * s.k + k) * oh * ow;
            for (int64_t u = 0; u < s.kh; ++u) {
              const int64_t i = a + s.pad_h - u;
              if (i < 0 || i >= oh) continue;
              for (int64_t v = 0; v < s.kw; ++v) {
                const int64_t j = b + s.pad_w - v;
                if (j < 0 || j >= ow) continue;
                sum += static_cast<double>(gynk[i * ow + j]) * wkc[u * s.kw + v];
              }
            }
          }
          gx[((n * s.c + c) * s.h + a) * s.w + b] = static_cast<float>(sum);
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ReferenceBackwardFilter(const ConvShape& s, const float* x, const float* gy,
                                     float* gw, float* gb) {
  FFTRAIN_RETURN_IF_ERROR(s.Validate());
  FFTRAIN_RETURN_IF_ERROR(CheckPointers({x, gy, gw}));
  const int64_t oh = s.out_h(), ow = s.out_w();
  for (int64_t k = 0; k < s.k; ++k) {
    for (int64_t c = 0; c < s.c; ++c) {
      for (int64_t u = 0; u < s.kh; ++u) {
        for (int64_t v = 0; v < s.kw; ++v) {
          double sum = 0.0;
          for (int64_t n = 0; n < s.n; ++n) {
            const float* gynk = gy + (n * s.k + k) * oh * ow;
            for (int64_t i = 0; i < oh; ++i) {
              for (int64_t j = 0; j < ow; ++j) {
                sum += gynk[i * ow + j] * PaddedInput(s, x, n, c, i + u, j + v);
              }
            }
          }
          gw[((k * s.c + c) * s.kh + u) * s.kw + v] = static_cast<float>(sum);
        }
      }
    }
  }
  if (gb != nullptr) {
    for (int64_t k = 0; k < s.k; ++k) {
      double sum = 0.0;
      for (int64_t n = 0; n < s.n; ++n) {
        const float* gynk = gy + (n * s.k + k) * oh * ow;
        for (int64_t e = 0; e < oh * ow; ++e) sum += gynk[e];
      }
      gb[k] = static_cast<float>(sum);
    }
  }
  return absl::OkStatus();
}

}  // namespace fftrain::fftconv
