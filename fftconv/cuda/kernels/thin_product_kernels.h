// The per-frequency products of a layer with few input channels (C <= kMaxThinChannels),
// on map-major spectra ([map][bin]; maps [n][c], [k][c], [n][k]). cuBLAS tiles each bin's
// product in blocks of 32 or more rows, so with C = 3 most of a tile is empty and CGEMM
// runs instruction-bound on what is a memory-bound pass over the [n][k] spectra (L1's
// figures: docs/fftconv.md). Here a thread
// owns one bin of a group of kThinRows rows and streams the large operand with coalesced
// reads, the C-wide one held in registers. Sums run in a fixed order (deterministic).
// Each launch is asynchronous on `stream` and returns the launch error;
// cudaErrorInvalidValue for c outside 1..kMaxThinChannels or counts that do not fit.
#ifndef FFTRAIN_FFTCONV_CUDA_KERNELS_THIN_PRODUCT_KERNELS_H_
#define FFTRAIN_FFTCONV_CUDA_KERNELS_THIN_PRODUCT_KERNELS_H_

#include <cuda_runtime.h>

#include <cstdint>

namespace fftrain::fftconv {

struct ThinProductDims {
  int64_t n, c, k, bins;
};

// Y[n][k] = sum_c X[n][c] conj(W[k][c]), per bin.
cudaError_t LaunchThinForwardProduct(const ThinProductDims& d, const float2* x_hat,
                                     const float2* w_hat, float2* y_hat, cudaStream_t stream);

// GX[n][c] = sum_k GY[n][k] W[k][c], per bin.
cudaError_t LaunchThinBackwardDataProduct(const ThinProductDims& d, const float2* gy_hat,
                                          const float2* w_hat, float2* gx_hat,
                                          cudaStream_t stream);

// GW[k][c] = sum_n conj(GY[n][k]) X[n][c], per bin.
cudaError_t LaunchThinBackwardFilterProduct(const ThinProductDims& d, const float2* gy_hat,
                                            const float2* x_hat, float2* gw_hat,
                                            cudaStream_t stream);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_KERNELS_THIN_PRODUCT_KERNELS_H_
