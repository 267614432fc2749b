// Transform sizes: the planner uses 7-smooth sizes (2^a 3^b 5^c 7^d), for which FFT
// libraries and our kernels have efficient radices, instead of the paper's powers of two;
// the tuner also offers the register kernels' sides (13 among them).
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

// The square sides the register FFT kernels take (fftconv/cuda/kernels/register_fft_kernels.h):
// every power of two from 8 to 128 and the smooth sides between them that layers need
// most (56, 28, 24, ...), where the next power of two costs more bins in every
// per-frequency product (64x64: 2112 bins, 56x56: 1624). 13 is the side of the paper's
// L5 input (13x13, k3): 91 bins where 14x14 has 112 and 16x16 144; 14 serves 14x14
// inputs and 3x3 layers padded from 12.
inline constexpr int64_t kRegisterFftSides[] = {8,  12, 13, 14, 16, 20, 24, 28,
                                                32, 40, 48, 56, 64, 128};

// The smallest side in kRegisterFftSides at least n, or 0 where n > 128.
int64_t RegisterFftSideAtLeast(int64_t n);

// Complex bins of an fft_h x fft_w real transform's half spectrum.
int64_t HalfSpectrumBins(int64_t fft_h, int64_t fft_w);

// RegisterFftSideAtLeast of the larger padded dimension where its square transform has
// fewer bins than an other_h x other_w one, else 0: the side the tuner offers beside the
// power of two, and the roofline's size where it beats the smooth one.
int64_t RegisterFftSideWithFewerBins(int64_t padded_h, int64_t padded_w, int64_t other_h,
                                     int64_t other_w);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_TRANSFORM_SIZE_H_
