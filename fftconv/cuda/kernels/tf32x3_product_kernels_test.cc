#include "fftconv/cuda/kernels/tf32x3_product_kernels.h"

#include <complex>
#include <string>
#include <vector>

#include "fftconv/cuda/gpu_test_util.h"
#include "fftconv/cuda/kernels/tf32x3_wgmma_product_kernels.h"
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

// fftconv's tolerance. The split products carry each operand to 2^-21 relative and sum
// in fp32 on the tensor cores: errors of 1e-6 relative to the largest output (3e-6 at
// worst on the benchmark layers). One TF32 product per term would give 1e-4 to 1e-3
// here, so the bound also fails a kernel that drops the small parts.
constexpr double kTolerance = 1e-5;

// The two kernels share the launch signature, the arguments and the accuracy: every test
// runs on both (the wgmma one only where the device is compute capability 9.0).
using Launcher = cudaError_t (*)(const ComplexProductDims&, const ComplexMatrices&,
                                 const ComplexMatrices&, float2*, int64_t, int64_t,
                                 cudaStream_t);
struct Kernel {
  std::string name;
  Launcher launch;
  bool needs_hopper;
};

struct Operand {
  bool transposed, conjugated;
  int64_t ld_extra;  // elements past the stored row: padded leading dimensions
};

struct ProductCase {
  std::string name;
  int64_t m, n, k, batch;
};

// Stored rows and columns of an operand whose op() is rows x cols.
int64_t StoredRows(const Operand& o, int64_t rows, int64_t cols) {
  return o.transposed ? cols : rows;
}
int64_t StoredCols(const Operand& o, int64_t rows, int64_t cols) {
  return o.transposed ? rows : cols;
}

Complex At(const std::vector<float>& data, const Operand& o, int64_t ld, int64_t stride,
           int64_t batch, int64_t row, int64_t col) {
  const int64_t index = batch * stride + (o.transposed ? col * ld + row : row * ld + col);
  const Complex v(data[2 * index], data[2 * index + 1]);
  return o.conjugated ? std::conj(v) : v;
}

// Runs one product and compares it with a double-precision one. The batch stride leaves a
// gap after each matrix, and C's leading dimension is padded, so no index may assume a
// dense layout; C starts poisoned (NaN), so an element left unwritten fails.
void CheckProduct(Launcher launch, const ProductCase& c, const Operand& a_op,
                  const Operand& b_op, uint32_t seed) {
  SCOPED_TRACE(c.name + " A" + (a_op.transposed ? "^T" : "") + (a_op.conjugated ? "*" : "") +
               " B" + (b_op.transposed ? "^T" : "") + (b_op.conjugated ? "*" : ""));
  const int64_t lda = StoredCols(a_op, c.m, c.k) + a_op.ld_extra;
  const int64_t ldb = StoredCols(b_op, c.k, c.n) + b_op.ld_extra;
  const int64_t ldc = c.n + 1;
  const int64_t stride_a = StoredRows(a_op, c.m, c.k) * lda + 2;
  const int64_t stride_b = StoredRows(b_op, c.k, c.n) * ldb + 2;
  const int64_t stride_c = c.m * ldc;
  const auto a = RandomVector(2 * stride_a * c.batch, seed);
  const auto b = RandomVector(2 * stride_b * c.batch, seed + 1);

  std::vector<float> want(2 * stride_c * c.batch, 0.0f), mask(want.size(), 0.0f);
  for (int64_t z = 0; z < c.batch; ++z) {
    for (int64_t i = 0; i < c.m; ++i) {
      for (int64_t j = 0; j < c.n; ++j) {
        Complex sum = 0;
        for (int64_t l = 0; l < c.k; ++l) {
          sum += At(a, a_op, lda, stride_a, z, i, l) * At(b, b_op, ldb, stride_b, z, l, j);
        }
        const int64_t index = z * stride_c + i * ldc + j;
        want[2 * index] = static_cast<float>(sum.real());
        want[2 * index + 1] = static_cast<float>(sum.imag());
        mask[2 * index] = mask[2 * index + 1] = 1.0f;
      }
    }
  }
  DeviceBuffer d_a = Upload(a), d_b = Upload(b);
  DeviceBuffer d_c = Poisoned(want.size());
  const ComplexMatrices a_view{d_a.as<float2>(), lda, stride_a, a_op.transposed,
                               a_op.conjugated};
  const ComplexMatrices b_view{d_b.as<float2>(), ldb, stride_b, b_op.transposed,
                               b_op.conjugated};
  ASSERT_EQ(launch({c.m, c.n, c.k, c.batch}, a_view, b_view, d_c.as<float2>(), ldc, stride_c,
                   nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  auto got = Download(d_c, want.size());
  // The padding column of C is not the product's: compare only what it writes.
  for (size_t i = 0; i < got.size(); ++i) {
    if (mask[i] == 0.0f) got[i] = 0.0f;
  }
  EXPECT_LE(RelativeError(got, want), kTolerance);
}

class Tf32x3ProductTest : public ::testing::TestWithParam<Kernel> {
 protected:
  void SetUp() override {
    if (GetParam().needs_hopper) {
      FFTRAIN_SKIP_WITHOUT_WGMMA();
    } else {
      FFTRAIN_SKIP_WITHOUT_GPU();
    }
  }
  Launcher launch() const { return GetParam().launch; }
};

TEST_P(Tf32x3ProductTest, MatchesDoubleProductInEveryLayout) {
  // Odd sizes copy one complex number at a time, even ones two; all leave partial tiles
  // (16 deep in k) and batches of several matrices. With mma.sync "odd" runs on 128 x 32
  // tiles of C (its 67 columns would leave a 64-wide tile half empty), the others on
  // 64 x 64; wgmma's tiles are all 64 x 64.
  const std::vector<ProductCase> cases = {
      {"odd", 70, 67, 37, 3},
      {"even", 130, 66, 48, 2},
      {"one_deep", 9, 5, 1, 2},
  };
  uint32_t seed = 4100;
  for (const ProductCase& c : cases) {
    for (const bool a_transposed : {false, true}) {
      for (const bool b_transposed : {false, true}) {
        for (const bool conjugated : {false, true}) {
          // Leading dimensions padded by one keep the odd cases' copies one at a time; the
          // even case, padded by two, keeps its pairs.
          const int64_t extra = c.name == "even" ? 2 : 1;
          CheckProduct(launch(), c, {a_transposed, conjugated, extra}, {b_transposed, !conjugated, extra},
                       seed);
          seed += 2;
        }
      }
    }
  }
}

TEST_P(Tf32x3ProductTest, TheFftPassesLayoutsAtLayerScale) {
  // The three passes' products as cuda_fft_conv.cc issues them, at a layer's depth (sums
  // of 96 and 128 terms, where rounding grows), on 4 bins; backward data's 96 columns
  // take the 128 x 32 tiles.
  const int64_t n = 128, c = 96, k = 64, bins = 4;
  CheckProduct(launch(), {"forward", n, k, c, bins}, {false, false, 0}, {true, true, 0}, 5000);
  CheckProduct(launch(), {"backward_data", n, c, k, bins}, {false, false, 0}, {false, false, 0},
               5002);
  CheckProduct(launch(), {"backward_filter", k, c, n, bins}, {true, true, 0}, {false, false, 0},
               5004);
}

TEST_P(Tf32x3ProductTest, BatchesBeyondOneGridDimension) {
  // More bins than a grid's z extent (65535): blocks loop over the rest.
  CheckProduct(launch(), {"many_bins", 2, 3, 2, 70001}, {false, false, 0}, {false, false, 0}, 6000);
}

TEST_P(Tf32x3ProductTest, RejectsBadSizes) {
  const Launcher launch = GetParam().launch;
  DeviceBuffer buffer = Poisoned(128);
  float2* p = buffer.as<float2>();
  float2* out = p + 32;
  const ComplexMatrices ok{p, 4, 16, false, false};
  EXPECT_EQ(launch({4, 4, 4, 1}, ok, ok, out, 4, 16, nullptr), cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(launch({0, 4, 4, 1}, ok, ok, out, 4, 16, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(launch({4, 4, 4, 0}, ok, ok, out, 4, 16, nullptr), cudaErrorInvalidValue);
  // A's rows hold k = 5 elements; ld 4 cannot.
  EXPECT_EQ(launch({4, 4, 5, 1}, ok, {p, 5, 20, false, false}, out, 4, 16, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(launch({4, 5, 4, 1}, ok, {p, 5, 20, false, false}, out, 4, 16, nullptr),
            cudaErrorInvalidValue);  // ldc 4 < n 5
  EXPECT_EQ(launch({4, 4, 4, 1}, {nullptr, 4, 16, false, false}, ok, out, 4, 16, nullptr),
            cudaErrorInvalidValue);
}

INSTANTIATE_TEST_SUITE_P(Kernels, Tf32x3ProductTest,
                         ::testing::Values(Kernel{"mma_sync", LaunchTf32x3ComplexProduct, false},
                                           Kernel{"wgmma", LaunchTf32x3WgmmaComplexProduct, true}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace fftrain::fftconv
