// A convolution's sizes as a plain struct that .cu files can take by value (ConvShape's
// header pulls in Abseil, which device code does not need).
#ifndef FFTRAIN_FFTCONV_CUDA_KERNELS_CONV_DIMS_H_
#define FFTRAIN_FFTCONV_CUDA_KERNELS_CONV_DIMS_H_

#include <cstdint>

namespace fftrain::fftconv {

struct ConvDims {
  int64_t n, c, h, w, k, kh, kw, pad_h, pad_w, out_h, out_w;
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_KERNELS_CONV_DIMS_H_
