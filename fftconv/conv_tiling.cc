#include "fftconv/conv_tiling.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/memory_span.h"
#include "base/status_macros.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::fftconv {

using ::fftrain::base::AlignUp;

namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

absl::StatusOr<int64_t> ChooseTile(int64_t requested, int64_t extent, const char* field,
                                   const ConvShape& shape) {
  if (requested < 0 || requested > extent) {
    return absl::InvalidArgumentError(
        absl::StrCat("tiling: ", field, "=", requested, " must be in [0, ", extent,
                     "] (0 takes the whole output) for ", shape.ToString()));
  }
  return requested == 0 ? extent : requested;
}

}  // namespace

absl::StatusOr<ConvTiling> ConvTiling::Create(const ConvShape& shape, int64_t tile_h,
                                              int64_t tile_w) {
  FFTRAIN_RETURN_IF_ERROR(shape.Validate());
  if (tile_h == 0 && tile_w == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tiling: tile_h and tile_w are both 0, which is the whole-image method, for ",
        shape.ToString()));
  }
  FFTRAIN_ASSIGN_OR_RETURN(int64_t h, ChooseTile(tile_h, shape.out_h(), "tile_h", shape));
  FFTRAIN_ASSIGN_OR_RETURN(int64_t w, ChooseTile(tile_w, shape.out_w(), "tile_w", shape));
  ConvTiling tiling(shape, h, w);
  FFTRAIN_RETURN_IF_ERROR(tiling.TileShape().Validate());
  return tiling;
}

ConvTiling::ConvTiling(const ConvShape& shape, int64_t tile_h, int64_t tile_w)
    : shape_(shape),
      tile_h_(tile_h),
      tile_w_(tile_w),
      tiles_y_(CeilDiv(shape.out_h(), tile_h)),
      tiles_x_(CeilDiv(shape.out_w(), tile_w)) {}

ConvShape ConvTiling::TileShape() const {
  ConvShape s = shape_;
  s.n = shape_.n * tiles();
  s.h = input_tile_h();
  s.w = input_tile_w();
  s.pad_h = s.pad_w = 0;
  return s;
}

size_t ConvTiling::TiledInputBytes() const {
  return static_cast<size_t>(TileShape().input_elements()) * sizeof(float);
}

size_t ConvTiling::TiledOutputBytes() const {
  return static_cast<size_t>(TileShape().output_elements()) * sizeof(float);
}

size_t ConvTiling::TiledInputOffset(size_t tile_plan_workspace_bytes) const {
  return AlignUp(tile_plan_workspace_bytes);
}
size_t ConvTiling::TiledOutputOffset(size_t tile_plan_workspace_bytes) const {
  return TiledInputOffset(tile_plan_workspace_bytes) + AlignUp(TiledInputBytes());
}
size_t ConvTiling::WorkspaceBytes(size_t tile_plan_workspace_bytes) const {
  return TiledOutputOffset(tile_plan_workspace_bytes) + AlignUp(TiledOutputBytes());
}

std::string ConvTiling::ToString() const {
  return absl::StrFormat("tiles %dx%d (%dx%d)", tile_h_, tile_w_, tiles_y_, tiles_x_);
}

}  // namespace fftrain::fftconv
