// How the CUDA backend orders a batch of spectra in memory, and the channel limit of the
// products that use the map-major order. Dependency-free, so CUDA sources include it.
#ifndef FFTRAIN_FFTCONV_SPECTRUM_ORDER_H_
#define FFTRAIN_FFTCONV_SPECTRUM_ORDER_H_

#include <cstdint>

namespace fftrain::fftconv {

// CGEMM needs each bin's maps as one matrix (bin-major); the thin products
// (ProductEngine::kThin) read bins on threads, and map-major spectra let the transforms
// move whole maps.
enum class SpectrumOrder {
  kBinMajor,  // [bin][map]
  kMapMajor,  // [map][bin]
};

// The most input channels ProductEngine::kThin takes (it holds C complex values per row in
// registers).
inline constexpr int64_t kMaxThinChannels = 8;

}  // namespace fftrain::fftconv

#endif  // FFTRAIN_FFTCONV_SPECTRUM_ORDER_H_
