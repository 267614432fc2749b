// Overlap-save tiling of a layer: the output is cut into tile_h x tile_w tiles, and each
// tile is computed from its (tile_h+kh-1) x (tile_w+kw-1) window of the padded input as
// an image of its own. A large image with a small kernel then pays for small transforms
// (a 256x256 map with a 5x5 kernel: 81 tiles of 32x32 instead of one 256x256 transform),
// and the tiles are N*T more images of the same whole-image method.
#ifndef FFTRAIN_FFTCONV_CONV_TILING_H_
#define FFTRAIN_FFTCONV_CONV_TILING_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "fftconv/conv_shape.h"

namespace fftrain::fftconv {

class ConvTiling {
 public:
  // tile_h and tile_w are output rows and columns per tile; 0 takes the whole output
  // extent in that dimension. InvalidArgument for a negative tile, a tile larger than the
  // output, both tiles 0 (that is the whole-image method), or an invalid shape.
  static absl::StatusOr<ConvTiling> Create(const ConvShape& shape, int64_t tile_h,
                                           int64_t tile_w);

  const ConvShape& shape() const { return shape_; }
  int64_t tile_h() const { return tile_h_; }
  int64_t tile_w() const { return tile_w_; }
  int64_t tiles_y() const { return tiles_y_; }
  int64_t tiles_x() const { return tiles_x_; }
  int64_t tiles() const { return tiles_y_ * tiles_x_; }
  // Input rows and columns one tile reads: its output plus the kernel's overlap.
  int64_t input_tile_h() const { return tile_h_ + shape_.kh - 1; }
  int64_t input_tile_w() const { return tile_w_ + shape_.kw - 1; }

  // The layer the tiles form: N*T images of one input tile each (image n*T + t is tile t
  // of image n, tiles row-major), no padding (the gather applies it), same channels and
  // kernel. Its output is N*T output tiles.
  ConvShape TileShape() const;

  // Bytes of the tiled tensors the gathers write: N*T*C input tiles and N*T*K output
  // tiles, in floats.
  size_t TiledInputBytes() const;
  size_t TiledOutputBytes() const;

  // A tiled plan's workspace, given its tiles' plan's: that plan's workspace, then the
  // tiled input, then the tiled output, each aligned (AlignUp). The plan and the tuner's
  // estimate both lay it out here.
  size_t TiledInputOffset(size_t tile_plan_workspace_bytes) const;
  size_t TiledOutputOffset(size_t tile_plan_workspace_bytes) const;
  size_t WorkspaceBytes(size_t tile_plan_workspace_bytes) const;

  // "tiles 14x14 (4x4)".
  std::string ToString() const;

 private:
  ConvTiling(const ConvShape& shape, int64_t tile_h, int64_t tile_w);

  ConvShape shape_;
  int64_t tile_h_;
  int64_t tile_w_;
  int64_t tiles_y_;
  int64_t tiles_x_;
};

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_CONV_TILING_H_
