// The copies around a tiled (overlap-save) convolution (fftconv/conv_tiling.h): input
// tiles gathered from x with the layer's zero padding applied, output tiles scattered
// into y, dL/dy cut into output tiles, and input-tile gradients overlap-added into dL/dx.
// Tiled tensors hold N*T images, image i*T + t being tile t (row-major) of image i. Each
// launch is asynchronous on `stream` and returns the launch error; cudaErrorInvalidValue
// when a plane has 2^31 elements or more, a grid needs more than 2^31-1 planes, or the
// layer's input planes have more than 65535 rows.
#ifndef FFTRAIN_FFTCONV_CUDA_KERNELS_TILE_KERNELS_H_
#define FFTRAIN_FFTCONV_CUDA_KERNELS_TILE_KERNELS_H_

#include <cuda_runtime.h>

#include <cstdint>

namespace fftrain::fftconv {

// ConvTiling's numbers as a plain struct for device code.
struct TileDims {
  int64_t n, c, k;         // images, input and output channels
  int64_t h, w;            // input planes
  int64_t pad_h, pad_w;    // the layer's zero padding
  int64_t out_h, out_w;    // output planes
  int64_t tile_h, tile_w;  // output rows and columns per tile
  int64_t in_tile_h, in_tile_w;  // input rows and columns per tile (tile + kernel - 1)
  int64_t tiles_y, tiles_x;
};

// tiles[i*T + t][c] (in_tile_h x in_tile_w) = the padded input's window at
// (ty*tile_h, tx*tile_w); zeros in the padding and past the input's edge.
cudaError_t LaunchGatherInputTiles(const float* x, const TileDims& d, float* tiles,
                                   cudaStream_t stream);

// tiles[i*T + t][k] (tile_h x tile_w) = gy[i][k] at (ty*tile_h, tx*tile_w); zeros past the
// output's edge, so the last tiles add nothing to the gradients.
cudaError_t LaunchGatherOutputTiles(const float* gy, const TileDims& d, float* tiles,
                                    cudaStream_t stream);

// y[i][k] = the output tiles put side by side, cropped to out_h x out_w.
cudaError_t LaunchScatterOutputTiles(const float* tiles, const TileDims& d, float* y,
                                     cudaStream_t stream);

// gx[i][c] = at each input position, the sum of the input-tile gradients that cover it
// (overlap-add), in a fixed order: deterministic, no atomics.
cudaError_t LaunchOverlapAddInputTiles(const float* tiles, const TileDims& d, float* gx,
                                       cudaStream_t stream);

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CUDA_KERNELS_TILE_KERNELS_H_
