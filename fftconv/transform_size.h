// Transform sizes: the planner uses 7-smooth sizes (2^a 3^b 5^c 7^d), for which FFT
// libraries and our kernels have efficient radices, instead of the paper's powers of two.
#ifndef FFTRAIN_FFTCONV_TRANSFORM_SIZE_H_
#define FFTRAIN_FFTCONV_TRANSFORM_SIZE_H_

#include <cstdint>

namespace fftrain::fftconv {

// True when n > 0 has no prime factor above 7.
bool IsSmooth(int64_t n);

// The smallest 7-smooth integer >= n (n >= 1).
int64_t NextSmoothSize(int64_t n);

// The smallest power of two >= n (n >= 1): what the paper's implementation needed.
int64_t NextPowerOfTwo(int64_t n);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_TRANSFORM_SIZE_H_
