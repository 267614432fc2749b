// A batch of 2-D real transforms between maps in the framework's layout and half spectra,
// bin-major ([bin][map]) or map-major ([map][bin]) as chosen at creation, zero-padding on the way in and cropping, scaling and adding
// bias on the way out. The CUDA plan holds one per map count (N*C, K*C, N*K). cuFFT
// implements it (cufft_map_transform.h); custom batched FFT kernels implement the same
// interface and fuse the padding, transposition and cropping into the transform.
// Internal: includes the CUDA headers.
#ifndef FFTRAIN_FFTCONV_CUDA_MAP_TRANSFORM_H_
#define FFTRAIN_FFTCONV_CUDA_MAP_TRANSFORM_H_

#include <cuda_runtime.h>
#include <cufft.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "fftconv/cuda/kernels/transform_params.h"  // MapWindow

namespace fftrain::fftconv {

// Device scratch for one call: the layout's real staging region (max maps x fft_h x fft_w
// floats) and WorkBytes() more for the transform library.
struct TransformScratch {
  float* staging;
  void* work;
};

class MapTransform {
 public:
  virtual ~MapTransform() = default;

  // "cufft" or "batched".
  virtual const char* name() const = 0;

  // Bytes of TransformScratch::work a call needs.
  virtual size_t WorkBytes() const = 0;

  // spectrum = DFT of each map (rows x cols, stored one after another) zero-padded to
  // fft_h x fft_w at the window's corner.
  virtual absl::Status Forward(const float* maps, const MapWindow& window,
                               cufftComplex* spectrum, const TransformScratch& scratch,
                               cudaStream_t stream) const = 0;

  // out = the window of each map's inverse DFT times `scale`, plus bias[map % period]
  // (bias may be null). Overwrites the spectrum.
  virtual absl::Status InverseAndCrop(cufftComplex* spectrum, const MapWindow& window,
                                      float scale, const float* bias, int64_t bias_period,
                                      float* out, const TransformScratch& scratch,
                                      cudaStream_t stream) const = 0;
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_MAP_TRANSFORM_H_
