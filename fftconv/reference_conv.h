// Direct convolution for the three passes, accumulated in double: the reference the FFT
// passes are tested against. Slow by design; simple enough to check by reading.
#ifndef FFTRAIN_FFTCONV_REFERENCE_CONV_H_
#define FFTRAIN_FFTCONV_REFERENCE_CONV_H_

#include "absl/status/status.h"
#include "fftconv/conv_shape.h"

namespace fftrain::fftconv {

// y[n,k,i,j] = bias[k] + sum_{c,u,v} xp[n,c,i+u,j+v] * w[k,c,u,v]; bias may be null.
absl::Status ReferenceForward(const ConvShape& shape, const float* x, const float* w,
                              const float* bias, float* y);

// gx = dL/dx given gy = dL/dy.
absl::Status ReferenceBackwardData(const ConvShape& shape, const float* gy, const float* w,
                                   float* gx);

// gw = dL/dw and, when gb is not null, gb[k] = sum_{n,i,j} gy[n,k,i,j].
absl::Status ReferenceBackwardFilter(const ConvShape& shape, const float* x, const float* gy,
                                     float* gw, float* gb);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_REFERENCE_CONV_H_
