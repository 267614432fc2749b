#include "fftconv/transform_size.h"

#include <algorithm>
#include <initializer_list>

namespace fftrain::fftconv {

bool IsSmooth(int64_t n) {
  if (n <= 0) return false;
  for (int64_t p : {2, 3, 5, 7}) {
    while (n % p == 0) n /= p;
  }
  return n == 1;
}

int64_t NextSmoothSize(int64_t n) {
  if (n <= 1) return 1;
  // Smooth numbers are dense (the gap after n is far below n), so a linear scan is cheap.
  while (!IsSmooth(n)) ++n;
  return n;
}

int64_t NextPowerOfTwo(int64_t n) {
  int64_t p = 1;
  while (p < n) p *= 2;
  return p;
}

int64_t RegisterFftSideAtLeast(int64_t n) {
  for (int64_t side : kRegisterFftSides) {
    if (side >= n) return side;
  }
  return 0;
}

int64_t HalfSpectrumBins(int64_t fft_h, int64_t fft_w) { return fft_h * (fft_w / 2 + 1); }

int64_t RegisterFftSideWithFewerBins(int64_t padded_h, int64_t padded_w, int64_t other_h,
                                     int64_t other_w) {
  const int64_t side = RegisterFftSideAtLeast(std::max(padded_h, padded_w));
  return side != 0 && HalfSpectrumBins(side, side) < HalfSpectrumBins(other_h, other_w) ? side
                                                                                         : 0;
}

}  // namespace fftrain::fftconv
