#include "fftconv/spectral_layout.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/memory_span.h"
#include "base/status_macros.h"
#include "fftconv/transform_size.h"

namespace fftrain::fftconv {

using ::fftrain::base::AlignUp;
using ::fftrain::base::kWorkspaceAlignment;
using ::fftrain::base::MemorySpan;

namespace {

absl::StatusOr<int64_t> ChooseTransformSize(int64_t requested, int64_t padded,
                                            const char* field) {
  if (requested == 0) return NextSmoothSize(padded);
  if (requested < padded) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FftConvOptions: ", field, "=", requested, " is smaller than the padded input (",
        padded, "); the circular convolution would wrap"));
  }
  return requested;
}

}  // namespace

absl::StatusOr<SpectralLayout> SpectralLayout::Create(const ConvShape& shape,
                                                      const FftConvOptions& options) {
  FFTRAIN_RETURN_IF_ERROR(shape.Validate());
  if (options.tiled()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "FftConvOptions: tile_h=", options.tile_h, " tile_w=", options.tile_w,
        " asks for overlap-save tiles, which only the CUDA backend runs; a layout (and the "
        "CPU backend) describes whole images"));
  }
  FFTRAIN_ASSIGN_OR_RETURN(int64_t fft_h,
                           ChooseTransformSize(options.fft_h, shape.padded_h(), "fft_h"));
  FFTRAIN_ASSIGN_OR_RETURN(int64_t fft_w,
                           ChooseTransformSize(options.fft_w, shape.padded_w(), "fft_w"));
  return SpectralLayout(shape, fft_h, fft_w, options.keep_input_spectrum);
}

int64_t SpectralLayout::max_maps() const {
  return std::max({input_maps(), weight_maps(), output_maps()});
}

size_t SpectralLayout::output_spectrum_offset() const {
  return input_spectrum_offset() + AlignUp(SpectrumBytes(input_maps()));
}

size_t SpectralLayout::filter_spectrum_offset() const {
  return output_spectrum_offset() + AlignUp(SpectrumBytes(output_maps()));
}

size_t SpectralLayout::staging_offset() const {
  return filter_spectrum_offset() + AlignUp(SpectrumBytes(weight_maps()));
}

size_t SpectralLayout::backend_offset() const {
  return staging_offset() +
         AlignUp(static_cast<size_t>(max_maps() * real_map_elements()) * sizeof(float));
}

std::string SpectralLayout::ToString() const {
  return absl::StrFormat("fft %dx%d, %d bins", fft_h_, fft_w_, bins());
}

const char* ProductEngineName(ProductEngine product) {
  switch (product) {
    case ProductEngine::kCgemm3m: return "cgemm3m";
    case ProductEngine::kThin: return "thin";
    case ProductEngine::kTf32x3: return "tf32x3";
    case ProductEngine::kTf32x3Wgmma: return "tf32x3_wgmma";
    default: return "cgemm";
  }
}

absl::Status CheckSpan(const MemorySpan& span, size_t required, const char* what) {
  if (required == 0) return absl::OkStatus();
  if (span.data == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is null; the plan needs ", required, " bytes"));
  }
  if (span.bytes < required) {
    return absl::InvalidArgumentError(absl::StrCat(what, " holds ", span.bytes,
                                                   " bytes; the plan needs ", required));
  }
  if (reinterpret_cast<uintptr_t>(span.data) % kWorkspaceAlignment != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be aligned to ", kWorkspaceAlignment, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace fftrain::fftconv
