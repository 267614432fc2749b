#include "fftconv/cuda/kernels/register_fft_kernels.h"

#include <cmath>
#include <complex>
#include <string>
#include <vector>

#include "fftconv/cuda/gpu_test_util.h"
#include "fftconv/test_util.h"
#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

using ::fftrain::base::DeviceBuffer;
using Complex = std::complex<double>;
using test_util::Download;
using test_util::Poisoned;
using test_util::RandomVector;
using test_util::RelativeError;
using test_util::Upload;

// A float FFT of n x n points rounds about 2 log2(n) times on the way through (one
// butterfly per stage and dimension); with unit roundoff 6e-8 the error relative to the
// largest value is about 1e-6 at n = 64. 1e-5 leaves a margin of ten, and any indexing
// mistake (a wrong bin, map or twiddle) gives errors of order one.
constexpr double kTolerance = 1e-5;

// Every launch geometry the kernels handle differently: the whole map, a corner window, an
// offset window, a single row and a single column; map counts with a partial last block.
struct Window {
  int64_t rows, cols, top, left;
};

// `count` maps of n x n holding data in window w: the kernels' MapBatch.
MapBatch Batch(int64_t count, int64_t n, const Window& w) {
  return {count, n, n, {w.rows, w.cols, w.top, w.left}};
}

std::vector<Window> WindowsFor(int64_t n) {
  return {{n, n, 0, 0}, {n / 2 + 1, n / 4 + 1, 0, 0}, {3, 5, n / 4, n / 2 - 1}, {1, n, n - 1, 0},
          {n, 1, 0, n - 1}};
}

// [bin][map] half spectra in double of maps (rows x cols each) placed at (top, left) of
// an n x n zero tile: a separable DFT, rows then columns.
std::vector<Complex> ReferenceHalfSpectra(const std::vector<float>& maps, int64_t count,
                                          int64_t n, const Window& w) {
  const int64_t half = n / 2 + 1;
  std::vector<Complex> spectra(n * half * count);
  const double two_pi = 2.0 * M_PI;
  for (int64_t m = 0; m < count; ++m) {
    std::vector<Complex> rows_done(n * half);
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t kc = 0; kc < half; ++kc) {
        Complex sum = 0;
        if (r >= w.top && r < w.top + w.rows) {
          for (int64_t c = w.left; c < w.left + w.cols; ++c) {
            const double v = maps[(m * w.rows + r - w.top) * w.cols + c - w.left];
            sum += v * std::polar(1.0, -two_pi * kc * c / n);
          }
        }
        rows_done[r * half + kc] = sum;
      }
    }
    for (int64_t kr = 0; kr < n; ++kr) {
      for (int64_t kc = 0; kc < half; ++kc) {
        Complex sum = 0;
        for (int64_t r = 0; r < n; ++r) sum += rows_done[r * half + kc] * std::polar(1.0, -two_pi * kr * r / n);
        spectra[(kr * half + kc) * count + m] = sum;
      }
    }
  }
  return spectra;
}

std::vector<float> Interleave(const std::vector<Complex>& v) {
  std::vector<float> out(2 * v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    out[2 * i] = static_cast<float>(v[i].real());
    out[2 * i + 1] = static_cast<float>(v[i].imag());
  }
  return out;
}

TEST(RegisterFftKernelsTest, SupportsTheListedSquareSides) {
  for (int64_t n : {8, 16, 32, 64, 128, 12, 13, 14, 24, 28, 56}) {
    EXPECT_TRUE(RegisterFftSupports(n, n)) << n;
  }
  for (int64_t n : kRegisterFftSides) EXPECT_TRUE(RegisterFftSupports(n, n)) << n;
  EXPECT_FALSE(RegisterFftSupports(4, 4));
  EXPECT_FALSE(RegisterFftSupports(256, 256));
  EXPECT_FALSE(RegisterFftSupports(32, 16));
  EXPECT_FALSE(RegisterFftSupports(15, 15));  // odd and smooth, but not built
  EXPECT_FALSE(RegisterFftSupports(18, 18));  // smooth, but not one of the sides built
}

// [bin][map] spectra reordered as [map][bin].
std::vector<Complex> ToMapMajor(const std::vector<Complex>& bin_major, int64_t count) {
  const int64_t bins = static_cast<int64_t>(bin_major.size()) / count;
  std::vector<Complex> out(bin_major.size());
  for (int64_t b = 0; b < bins; ++b) {
    for (int64_t m = 0; m < count; ++m) out[m * bins + b] = bin_major[b * count + m];
  }
  return out;
}

class RegisterFftOrderTest : public ::testing::TestWithParam<SpectrumOrder> {};

TEST_P(RegisterFftOrderTest, ForwardAndInverseMatchDoubleDft) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  ASSERT_EQ(PrepareRegisterFft(), cudaSuccess);
  const SpectrumOrder order = GetParam();
  const auto in_order = [&](const std::vector<Complex>& bin_major, int64_t count) {
    return order == SpectrumOrder::kMapMajor ? ToMapMajor(bin_major, count) : bin_major;
  };
  uint32_t seed = 900;
  for (int64_t n : kRegisterFftSides) {
    // Maps per block: 256 / ((n + 1) / 2) below 40, 128 / (n / 2) from 40 to 64 (rounded
    // down), 2 at 128 bin-major (1 map-major); these counts leave a partial last block
    // wherever a block holds several maps (13: 36 a block, 81 maps).
    const int64_t count = n == 128 ? 3 : n >= 40 ? 11 : 1024 / n + 3;
    for (const Window& w : WindowsFor(n)) {
      SCOPED_TRACE("n " + std::to_string(n) + " window " + std::to_string(w.rows) + "x" +
                   std::to_string(w.cols) + " at " + std::to_string(w.top) + "," +
                   std::to_string(w.left));
      const int64_t bins = n * (n / 2 + 1);
      const auto maps = RandomVector(count * w.rows * w.cols, seed++);
      const auto want = ReferenceHalfSpectra(maps, count, n, w);
      DeviceBuffer d_maps = Upload(maps);
      DeviceBuffer d_spectra = Poisoned(2 * bins * count);
      ASSERT_EQ(LaunchRegisterRealToHalfSpectrum({d_maps.as<float>(), Batch(count, n, w), order,
                                                  d_spectra.as<float2>()},
                                                 nullptr),
                cudaSuccess);
      const auto got = Download(d_spectra, 2 * bins * count);
      // The references round to float for the comparison: 6e-8, far below the bound.
      EXPECT_LE(RelativeError(got, Interleave(in_order(want, count))), kTolerance)
          << "forward";

      // Inverse of a spectrum whose window is all of the map, so every bin matters.
      const Window all{n, n, 0, 0};
      const auto full_maps = RandomVector(count * n * n, seed++);
      const auto spectra = ReferenceHalfSpectra(full_maps, count, n, all);
      const auto bias = RandomVector(7, seed++);
      const double scale = 0.5 / (n * n);
      // The unnormalised inverse of a real map's spectrum is n^2 times the map.
      std::vector<float> want_out(count * w.rows * w.cols);
      for (int64_t m = 0; m < count; ++m) {
        for (int64_t r = 0; r < w.rows; ++r) {
          for (int64_t c = 0; c < w.cols; ++c) {
            want_out[(m * w.rows + r) * w.cols + c] =
                static_cast<float>(full_maps[(m * n + w.top + r) * n + w.left + c] * (n * n * scale) +
                                   bias[m % 7]);
          }
        }
      }
      DeviceBuffer d_in = Upload(Interleave(in_order(spectra, count))), d_bias = Upload(bias);
      DeviceBuffer d_out = Poisoned(count * w.rows * w.cols);
      ASSERT_EQ(LaunchRegisterHalfSpectrumToReal(
                    {d_in.as<float2>(), order, Batch(count, n, w), static_cast<float>(scale),
                     {d_bias.as<float>(), 7, 0}, d_out.as<float>()},
                    nullptr),
                cudaSuccess);
      EXPECT_LE(RelativeError(Download(d_out, want_out.size()), want_out), kTolerance)
          << "inverse";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Orders, RegisterFftOrderTest,
                         ::testing::Values(SpectrumOrder::kBinMajor, SpectrumOrder::kMapMajor),
                         [](const ::testing::TestParamInfo<SpectrumOrder>& info) {
                           return std::string(info.param == SpectrumOrder::kMapMajor
                                                  ? "MapMajor"
                                                  : "BinMajor");
                         });

// An odd side's inverse of any half spectrum, Hermitian or not, is what a C2R transform
// computes: the columns' inverses, column 0's imaginary part dropped, then each row
// extended by Hermitian symmetry (there is no bin N/2). Products of real maps' spectra are
// Hermitian only up to rounding; this pins down what happens to the rest.
TEST(RegisterFftKernelsTest, OddSideInverseDropsColumnZerosImaginaryPart) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  ASSERT_EQ(PrepareRegisterFft(), cudaSuccess);
  const int64_t n = 13, half = n / 2 + 1, bins = n * half, count = 40;
  const auto spectra = RandomVector(2 * bins * count, 77);  // [bin][map], re and im
  const double two_pi = 2.0 * M_PI;
  std::vector<float> want(count * n * n);
  for (int64_t m = 0; m < count; ++m) {
    for (int64_t row = 0; row < n; ++row) {
      std::vector<Complex> g(half);
      for (int64_t kc = 0; kc < half; ++kc) {
        for (int64_t kr = 0; kr < n; ++kr) {
          const int64_t i = (kr * half + kc) * count + m;
          g[kc] += Complex(spectra[2 * i], spectra[2 * i + 1]) *
                   std::polar(1.0, two_pi * kr * row / n);
        }
      }
      for (int64_t col = 0; col < n; ++col) {
        double sum = g[0].real();
        for (int64_t kc = 1; kc < half; ++kc) {
          sum += 2.0 * (g[kc] * std::polar(1.0, two_pi * kc * col / n)).real();
        }
        want[(m * n + row) * n + col] = static_cast<float>(sum);
      }
    }
  }
  DeviceBuffer d_in = Upload(spectra);
  DeviceBuffer d_out = Poisoned(count * n * n);
  ASSERT_EQ(LaunchRegisterHalfSpectrumToReal({d_in.as<float2>(), SpectrumOrder::kBinMajor,
                                              Batch(count, n, {n, n, 0, 0}), 1.0f,
                                              {nullptr, 0, 0}, d_out.as<float>()},
                                             nullptr),
            cudaSuccess);
  EXPECT_LE(RelativeError(Download(d_out, want.size()), want), kTolerance);
}

TEST(RegisterFftKernelsTest, BiasPhaseOffsetsTheBiasIndex) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  ASSERT_EQ(PrepareRegisterFft(), cudaSuccess);
  const int64_t n = 16, count = 5, bins = n * (n / 2 + 1);
  // A zero spectrum inverts to zero, leaving the bias alone in the output.
  DeviceBuffer d_in = Upload(std::vector<float>(2 * bins * count, 0.0f));
  const std::vector<float> bias = {1, 2, 3};
  DeviceBuffer d_bias = Upload(bias);
  DeviceBuffer d_out = Poisoned(count * 4);
  ASSERT_EQ(LaunchRegisterHalfSpectrumToReal({d_in.as<float2>(), SpectrumOrder::kBinMajor,
                                              Batch(count, n, {2, 2, 1, 1}), 1.0f,
                                              {d_bias.as<float>(), 3, 2}, d_out.as<float>()},
                                             nullptr),
            cudaSuccess);
  const auto out = Download(d_out, count * 4);
  for (int64_t m = 0; m < count; ++m) {
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out[m * 4 + i], bias[(2 + m) % 3]) << m;
  }
}

TEST(RegisterFftKernelsTest, RefusesWhatItCannotDo) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  ASSERT_EQ(PrepareRegisterFft(), cudaSuccess);
  DeviceBuffer d = Poisoned(1 << 16);
  float2* spectra = d.as<float2>();
  // Unsupported size, no maps, a window past the transform's edge, a zero bias period.
  constexpr SpectrumOrder kOrder = SpectrumOrder::kBinMajor;
  EXPECT_EQ(LaunchRegisterRealToHalfSpectrum(
                {d.as<float>(), Batch(4, 256, {8, 8, 0, 0}), kOrder, spectra}, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(LaunchRegisterRealToHalfSpectrum(
                {d.as<float>(), Batch(0, 16, {8, 8, 0, 0}), kOrder, spectra}, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(LaunchRegisterRealToHalfSpectrum(
                {d.as<float>(), Batch(4, 16, {8, 8, 9, 0}), kOrder, spectra}, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(LaunchRegisterHalfSpectrumToReal({spectra, kOrder, Batch(4, 16, {8, 8, 0, 0}), 1.0f,
                                              {d.as<float>(), 0, 0}, d.as<float>()},
                                             nullptr),
            cudaErrorInvalidValue);
}

}  // namespace
}  // namespace fftrain::fftconv
