#include "fftconv/conv_tiling.h"

#include <cstdint>
#include <vector>

#include "fftconv/reference_conv.h"
#include "fftconv/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

using test_util::RandomVector;
using ::testing::HasSubstr;

ConvShape Layer(int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t pad_h, int64_t pad_w) {
  ConvShape s;
  s.n = 2;
  s.c = 3;
  s.h = h;
  s.w = w;
  s.k = 4;
  s.kh = kh;
  s.kw = kw;
  s.pad_h = pad_h;
  s.pad_w = pad_w;
  return s;
}

TEST(ConvTilingTest, CountsTilesAndSizesTheTileImages) {
  const ConvShape s = Layer(56, 56, 3, 3, 0, 0);  // 54x54 output
  auto tiling = ConvTiling::Create(s, 14, 30);
  ASSERT_TRUE(tiling.ok()) << tiling.status();
  EXPECT_EQ(tiling->tiles_y(), 4);  // 54 = 3*14 + 12: the last tile is partly past the edge
  EXPECT_EQ(tiling->tiles_x(), 2);
  EXPECT_EQ(tiling->input_tile_h(), 16);
  EXPECT_EQ(tiling->input_tile_w(), 32);
  const ConvShape tiles = tiling->TileShape();
  EXPECT_EQ(tiles.n, 2 * 8);
  EXPECT_EQ(tiles.h, 16);
  EXPECT_EQ(tiles.w, 32);
  EXPECT_EQ(tiles.out_h(), 14);
  EXPECT_EQ(tiles.out_w(), 30);
  EXPECT_EQ(tiles.pad_h, 0);
  EXPECT_EQ(tiling->TiledInputBytes(), sizeof(float) * 16 * 3 * 16 * 32);
  EXPECT_EQ(tiling->TiledOutputBytes(), sizeof(float) * 16 * 4 * 14 * 30);
  EXPECT_EQ(tiling->ToString(), "tiles 14x30 (4x2)");
}

TEST(ConvTilingTest, ZeroTakesTheWholeExtent) {
  auto tiling = ConvTiling::Create(Layer(20, 11, 5, 3, 2, 1), 0, 4);
  ASSERT_TRUE(tiling.ok()) << tiling.status();
  EXPECT_EQ(tiling->tile_h(), 20);
  EXPECT_EQ(tiling->tiles_y(), 1);
  EXPECT_EQ(tiling->tiles_x(), 3);  // 11 outputs in tiles of 4
}

TEST(ConvTilingTest, RefusesTilesThatAreNotTiles) {
  const ConvShape s = Layer(16, 16, 3, 3, 0, 0);
  EXPECT_THAT(ConvTiling::Create(s, 0, 0).status().message(), HasSubstr("whole-image"));
  EXPECT_THAT(ConvTiling::Create(s, -2, 4).status().message(), HasSubstr("tile_h=-2"));
  EXPECT_THAT(ConvTiling::Create(s, 4, 15).status().message(), HasSubstr("tile_w=15"));
  ConvShape bad = s;
  bad.kh = 40;
  EXPECT_FALSE(ConvTiling::Create(bad, 4, 4).ok());
}

// Overlap-save is exact: the reference convolution of the tile images, put side by side,
// is the layer's convolution. Tiles are cut here by the definition ConvTiling documents,
// so this checks the geometry (sizes, counts, padding) that the GPU kernels follow.
TEST(ConvTilingTest, TilesOfTheReferenceConvolutionMakeTheLayersOutput) {
  for (const ConvShape& s : {Layer(13, 13, 3, 3, 0, 0), Layer(17, 10, 5, 3, 2, 1),
                             Layer(9, 23, 2, 4, 0, 3)}) {
    for (auto [tile_h, tile_w] : {std::pair<int64_t, int64_t>{4, 4}, {0, 3}, {5, 0}}) {
      auto tiling = ConvTiling::Create(s, tile_h, tile_w);
      ASSERT_TRUE(tiling.ok()) << tiling.status();
      const ConvShape t = tiling->TileShape();
      const std::vector<float> x = RandomVector(s.input_elements(), 1);
      const std::vector<float> w = RandomVector(s.weight_elements(), 2);
      std::vector<float> expected(s.output_elements());
      ASSERT_TRUE(ReferenceForward(s, x.data(), w.data(), nullptr, expected.data()).ok());

      std::vector<float> tiles_in(t.input_elements());
      for (int64_t i = 0; i < s.n; ++i)
        for (int64_t ti = 0; ti < tiling->tiles(); ++ti)
          for (int64_t c = 0; c < s.c; ++c)
            for (int64_t r = 0; r < t.h; ++r)
              for (int64_t q = 0; q < t.w; ++q) {
                const int64_t yy = (ti / tiling->tiles_x()) * tiling->tile_h() + r - s.pad_h;
                const int64_t xx = (ti % tiling->tiles_x()) * tiling->tile_w() + q - s.pad_w;
                const bool inside = yy >= 0 && yy < s.h && xx >= 0 && xx < s.w;
                tiles_in[(((i * tiling->tiles() + ti) * s.c + c) * t.h + r) * t.w + q] =
                    inside ? x[((i * s.c + c) * s.h + yy) * s.w + xx] : 0.0f;
              }
      std::vector<float> tiles_out(t.output_elements());
      ASSERT_TRUE(
          ReferenceForward(t, tiles_in.data(), w.data(), nullptr, tiles_out.data()).ok());
      std::vector<float> actual(s.output_elements());
      for (int64_t i = 0; i < s.n; ++i)
        for (int64_t k = 0; k < s.k; ++k)
          for (int64_t oy = 0; oy < s.out_h(); ++oy)
            for (int64_t ox = 0; ox < s.out_w(); ++ox) {
              const int64_t ty = oy / tiling->tile_h(), tx = ox / tiling->tile_w();
              const int64_t ti = ty * tiling->tiles_x() + tx;
              actual[((i * s.k + k) * s.out_h() + oy) * s.out_w() + ox] =
                  tiles_out[(((i * tiling->tiles() + ti) * s.k + k) * t.out_h() +
                             oy - ty * tiling->tile_h()) *
                                t.out_w() +
                            ox - tx * tiling->tile_w()];
            }
      // Same sums in the same order: the reference is exact here, not just close.
      EXPECT_EQ(actual, expected) << s.ToString() << " " << tiling->ToString();
    }
  }
}

}  // namespace
}  // namespace fftrain::fftconv
