#include "fftconv/transform_size.h"

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

}  // namespace fftrain::fftconv
