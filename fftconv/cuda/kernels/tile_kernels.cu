#include "fftconv/cuda/kernels/tile_kernels.h"

#include <algorithm>
#include <climits>
#include <initializer_list>

namespace fftrain::fftconv {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridRows = 65535;  // gridDim.y

// One block per destination plane, so the per-element index math stays in 32 bits within
// a plane and only the plane's base is 64-bit.
bool Launchable(int64_t planes, std::initializer_list<int64_t> plane_sizes) {
  if (planes <= 0 || planes > INT_MAX) return false;
  for (int64_t size : plane_sizes) {
    if (size <= 0 || size > INT_MAX) return false;
  }
  return true;
}

// What a gather cuts: `channels` planes of rows x cols per image, read through the
// padding (pad_h, pad_w) as windows of window_h x window_w every tile_h rows and tile_w
// columns. Input tiles: x through the layer's padding in input-tile windows; output
// tiles: dL/dy, unpadded, in output-tile windows.
struct GatherSource {
  int64_t channels, rows, cols, pad_h, pad_w, window_h, window_w;
};

// tiles[i*T + t][ch] = the window of tile t; zeros outside the source.
__global__ void GatherTilesKernel(const float* __restrict__ source, GatherSource g, TileDims d,
                                  float* __restrict__ tiles) {
  const int64_t plane = blockIdx.x;  // (i*T + t)*channels + ch
  const int64_t ch = plane % g.channels;
  const int64_t image_tile = plane / g.channels;
  const int64_t t = image_tile % (d.tiles_y * d.tiles_x);
  const int64_t i = image_tile / (d.tiles_y * d.tiles_x);
  const int top = static_cast<int>((t / d.tiles_x) * d.tile_h - g.pad_h);
  const int left = static_cast<int>((t % d.tiles_x) * d.tile_w - g.pad_w);
  const int rows = static_cast<int>(g.rows), cols = static_cast<int>(g.cols);
  const int window_w = static_cast<int>(g.window_w);
  const int size = static_cast<int>(g.window_h) * window_w;
  const float* src = source + (i * g.channels + ch) * g.rows * g.cols;
  float* dst = tiles + plane * size;
  for (int e = threadIdx.x; e < size; e += blockDim.x) {
    const int r = e / window_w, q = e - r * window_w;
    const int yy = top + r, xx = left + q;
    dst[e] = (yy >= 0 && yy < rows && xx >= 0 && xx < cols) ? src[yy * cols + xx] : 0.0f;
  }
}

cudaError_t LaunchGatherTiles(const float* source, const GatherSource& g, const TileDims& d,
                              float* tiles, cudaStream_t stream) {
  const int64_t planes = d.n * d.tiles_y * d.tiles_x * g.channels;
  if (!Launchable(planes, {g.rows * g.cols, g.window_h * g.window_w})) {
    return cudaErrorInvalidValue;
  }
  GatherTilesKernel<<<static_cast<unsigned>(planes), kThreads, 0, stream>>>(source, g, d,
                                                                            tiles);
  return cudaGetLastError();
}

__global__ void ScatterOutputTilesKernel(const float* __restrict__ tiles, TileDims d,
                                         float* __restrict__ y) {
  const int64_t plane = blockIdx.x;  // i*K + k
  const int64_t k = plane % d.k;
  const int64_t i = plane / d.k;
  const int tile_h = static_cast<int>(d.tile_h), tile_w = static_cast<int>(d.tile_w);
  const int tile_size = tile_h * tile_w;
  const int out_w = static_cast<int>(d.out_w);
  const int size = static_cast<int>(d.out_h) * out_w;
  const int64_t tiles_per_image = d.tiles_y * d.tiles_x;
  float* dst = y + plane * size;
  for (int e = threadIdx.x; e < size; e += blockDim.x) {
    const int oy = e / out_w, ox = e - oy * out_w;
    const int ty = oy / tile_h, tx = ox / tile_w;
    const int64_t tile_plane = (i * tiles_per_image + ty * d.tiles_x + tx) * d.k + k;
    dst[e] = tiles[tile_plane * tile_size + (oy - ty * tile_h) * tile_w + (ox - tx * tile_w)];
  }
}

// A block per (plane, row) of dL/dx: the covering tile rows are the block's; faster than a
// block per plane here, slower for the scatter, which stays per plane (docs/profiling.md,
// "Design choices and their measurements"). Both still run well below DRAM bandwidth;
// fusing them into the transforms' loads and stores is the way to remove them.
__global__ void OverlapAddInputTilesKernel(const float* __restrict__ tiles, TileDims d,
                                           float* __restrict__ gx) {
  const int64_t plane = blockIdx.x;  // i*C + c
  const int yy = blockIdx.y;
  const int64_t c = plane % d.c;
  const int64_t i = plane / d.c;
  const int tile_h = static_cast<int>(d.tile_h), tile_w = static_cast<int>(d.tile_w);
  const int in_h = static_cast<int>(d.in_tile_h), in_w = static_cast<int>(d.in_tile_w);
  const int tiles_x = static_cast<int>(d.tiles_x);
  const int w = static_cast<int>(d.w);
  // Tile ty covers padded rows [ty*tile_h, ty*tile_h + in_h); likewise for columns.
  const int py = yy + static_cast<int>(d.pad_h);
  const int ty_first = py >= in_h ? (py - in_h) / tile_h + 1 : 0;
  const int ty_last = min(py / tile_h, static_cast<int>(d.tiles_y) - 1);
  const int64_t first_tile = i * d.tiles_y * d.tiles_x;
  const int64_t tile_size = static_cast<int64_t>(in_h) * in_w;
  float* dst = gx + (plane * d.h + yy) * w;
  for (int xx = threadIdx.x; xx < w; xx += blockDim.x) {
    const int px = xx + static_cast<int>(d.pad_w);
    const int tx_first = px >= in_w ? (px - in_w) / tile_w + 1 : 0;
    const int tx_last = min(px / tile_w, tiles_x - 1);
    float sum = 0.0f;
    for (int ty = ty_first; ty <= ty_last; ++ty) {
      for (int tx = tx_first; tx <= tx_last; ++tx) {
        const int64_t tile_plane = (first_tile + ty * tiles_x + tx) * d.c + c;
        sum += tiles[tile_plane * tile_size + (py - ty * tile_h) * in_w + (px - tx * tile_w)];
      }
    }
    dst[xx] = sum;
  }
}

// A warp-multiple up to 256: one or a few elements a thread for a row of `cols`.
unsigned RowThreads(int64_t cols) {
  return static_cast<unsigned>(std::min<int64_t>(256, (cols + 31) / 32 * 32));
}

}  // namespace

cudaError_t LaunchGatherInputTiles(const float* x, const TileDims& d, float* tiles,
                                   cudaStream_t stream) {
  return LaunchGatherTiles(x, {d.c, d.h, d.w, d.pad_h, d.pad_w, d.in_tile_h, d.in_tile_w}, d,
                           tiles, stream);
}

cudaError_t LaunchGatherOutputTiles(const float* gy, const TileDims& d, float* tiles,
                                    cudaStream_t stream) {
  return LaunchGatherTiles(gy, {d.k, d.out_h, d.out_w, 0, 0, d.tile_h, d.tile_w}, d, tiles,
                           stream);
}

cudaError_t LaunchScatterOutputTiles(const float* tiles, const TileDims& d, float* y,
                                     cudaStream_t stream) {
  const int64_t planes = d.n * d.k;
  if (!Launchable(planes, {d.out_h * d.out_w, d.tile_h * d.tile_w})) return cudaErrorInvalidValue;
  ScatterOutputTilesKernel<<<static_cast<unsigned>(planes), kThreads, 0, stream>>>(tiles, d, y);
  return cudaGetLastError();
}

cudaError_t LaunchOverlapAddInputTiles(const float* tiles, const TileDims& d, float* gx,
                                       cudaStream_t stream) {
  const int64_t planes = d.n * d.c;
  if (!Launchable(planes, {d.h * d.w, d.in_tile_h * d.in_tile_w}) || d.h > kMaxGridRows) {
    return cudaErrorInvalidValue;
  }
  const dim3 grid(static_cast<unsigned>(planes), static_cast<unsigned>(d.h));
  OverlapAddInputTilesKernel<<<grid, RowThreads(d.w), 0, stream>>>(tiles, d, gx);
  return cudaGetLastError();
}

}  // namespace fftrain::fftconv
