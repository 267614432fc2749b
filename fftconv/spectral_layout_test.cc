#include "fftconv/spectral_layout.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

using ::fftrain::base::AlignUp;
using ::fftrain::base::kWorkspaceAlignment;
using ::testing::HasSubstr;

ConvShape Shape() {
  ConvShape s;
  s.n = 5;
  s.c = 3;
  s.h = 11;
  s.w = 20;
  s.k = 7;
  s.kh = 3;
  s.kw = 4;
  s.pad_h = 1;
  s.pad_w = 0;
  return s;
}

TEST(SpectralLayoutTest, PicksSmoothSizesAtLeastThePaddedInput) {
  auto layout = SpectralLayout::Create(Shape(), {});
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->fft_h(), 14);  // 13 padded -> 14
  EXPECT_EQ(layout->fft_w(), 20);
  EXPECT_EQ(layout->bins(), 14 * 11);
}

TEST(SpectralLayoutTest, WorkspaceMatchesTheDocumentedFormula) {
  // docs/fftconv.md: workspace = align(8*bins*N*C) + align(8*bins*N*K) + align(8*bins*K*C)
  //                  + align(4*fft_h*fft_w*max(N*C, N*K, K*C)), align = 256 bytes.
  auto layout = SpectralLayout::Create(Shape(), {});
  ASSERT_TRUE(layout.ok());
  const size_t bins = 14 * 11;
  const size_t expected = AlignUp(8 * bins * 15) + AlignUp(8 * bins * 35) +
                          AlignUp(8 * bins * 21) + AlignUp(4 * 14 * 20 * 35);
  EXPECT_EQ(layout->backend_offset(), expected);
  EXPECT_EQ(layout->WeightSpectrumBytes(), 8 * bins * 21);
  EXPECT_EQ(layout->InputSpectrumBytes(), 0u);
  for (size_t offset : {layout->output_spectrum_offset(), layout->filter_spectrum_offset(),
                        layout->staging_offset(), layout->backend_offset()}) {
    EXPECT_EQ(offset % kWorkspaceAlignment, 0u);
  }
}

TEST(SpectralLayoutTest, KeptInputSpectrumIsSizedByTheInputMaps) {
  FftConvOptions options;
  options.keep_input_spectrum = true;
  auto layout = SpectralLayout::Create(Shape(), options);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->InputSpectrumBytes(), 8u * 14 * 11 * 15);
}

TEST(SpectralLayoutTest, ExplicitTransformSizes) {
  FftConvOptions options;
  options.fft_h = 16;
  options.fft_w = 32;
  auto layout = SpectralLayout::Create(Shape(), options);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->fft_h(), 16);
  EXPECT_EQ(layout->fft_w(), 32);
  options.fft_h = 12;  // below the padded 13 rows: would wrap
  const auto refused = SpectralLayout::Create(Shape(), options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("fft_h=12"));
}

// Tiles are the CUDA plan's (it makes a layout for the tiles' layer); a layout, and so the
// CPU backend, takes whole images and says so.
TEST(SpectralLayoutTest, RefusesTiledOptions) {
  FftConvOptions options;
  options.tile_h = 4;
  const auto layout = SpectralLayout::Create(Shape(), options);
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(layout.status().message()), HasSubstr("only the CUDA backend"));
}

TEST(SpectralLayoutTest, CheckSpanNamesTheProblem) {
  alignas(256) static char buffer[1024];
  EXPECT_TRUE(CheckSpan({buffer, 1024}, 1000, "workspace").ok());
  EXPECT_TRUE(CheckSpan({nullptr, 0}, 0, "workspace").ok());
  EXPECT_THAT(std::string(CheckSpan({nullptr, 0}, 10, "workspace").message()),
              HasSubstr("workspace is null"));
  EXPECT_THAT(std::string(CheckSpan({buffer, 100}, 1000, "workspace").message()),
              HasSubstr("holds 100 bytes; the plan needs 1000"));
  EXPECT_THAT(std::string(CheckSpan({buffer + 4, 1000}, 10, "workspace").message()),
              HasSubstr("aligned"));
}

}  // namespace
}  // namespace fftrain::fftconv
