// Every CPU backend operation against a naive reference written here (loops in double).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fftconv/reference_conv.h"
#include "fftconv/spectral_layout.h"
#include "fftconv/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/backend/backend.h"
#include "trainer/backend/backend_test_util.h"

namespace fftrain::trainer {
namespace {

using fftconv::test_util::RandomVector;
using fftconv::test_util::RelativeError;
using test_util::Download;
using test_util::DownloadInts;
using test_util::Poisoned;
using test_util::RunSoftmax;
using test_util::SoftmaxOutputs;
using test_util::Upload;
using test_util::UploadInts;
using ::testing::HasSubstr;

// GEMM: each output is a float dot product of k terms; its error against the double
// reference is at most about k * eps * sum|a||b| (eps = 6e-8), ~2e-6 relative for
// k <= 40 here. fftconv's bound for FFT passes (see fftconv/cpu/cpu_fft_conv_test.cc) is
// the same 1e-5.
constexpr double kGemmTolerance = 1e-5;
constexpr double kConvTolerance = 1e-5;

class CpuBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto backend = CreateCpuBackend();
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(backend).value();
  }
  Backend& b() { return *backend_; }

  std::unique_ptr<Backend> backend_;
};

// Values in {-1, -0.5, 0, 0.5, 1}: many ties inside pooling windows.
std::vector<float> Quantized(int64_t size, uint32_t seed) {
  std::vector<float> values = RandomVector(size, seed);
  for (float& v : values) v = std::round(v * 2.0f) / 2.0f;
  return values;
}

TEST_F(CpuBackendTest, DescribesItself) {
  EXPECT_EQ(b().device(), Device::kCpu);
  EXPECT_STREQ(DeviceName(b().device()), "cpu");
  EXPECT_STREQ(DeviceName(Device::kCuda), "cuda");
  EXPECT_EQ(b().Describe(), "cpu (FFTW + OpenBLAS)");
}

TEST_F(CpuBackendTest, AllocatesAlignedMemoryAndReportsFreeMemory) {
  auto buffer = b().Allocate(1000);
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  EXPECT_EQ(buffer->bytes(), 1000u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer->data()) % base::kWorkspaceAlignment, 0u);
  EXPECT_EQ(buffer->span().data, buffer->data());
  EXPECT_EQ(buffer->floats(), static_cast<float*>(buffer->data()));

  auto empty = b().Allocate(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->bytes(), 0u);

  Buffer moved = std::move(buffer).value();
  EXPECT_EQ(moved.bytes(), 1000u);

  auto free_bytes = b().FreeBytes();
  ASSERT_TRUE(free_bytes.ok()) << free_bytes.status();
  EXPECT_GT(*free_bytes, 0u);
}

TEST_F(CpuBackendTest, RefusesAnImpossibleAllocationNamingTheSize) {
  auto buffer = b().Allocate(size_t{1} << 62);
  ASSERT_FALSE(buffer.ok());
  EXPECT_EQ(buffer.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(buffer.status().message(), HasSubstr(std::to_string(size_t{1} << 62)));
  EXPECT_THAT(buffer.status().message(), HasSubstr("available"));
}

TEST_F(CpuBackendTest, CopiesAndFills) {
  const std::vector<float> values = RandomVector(37, 1);
  Buffer buffer = Upload(b(), values);
  EXPECT_EQ(Download(b(), buffer, 37), values);
  ASSERT_TRUE(b().Fill(buffer.floats() + 5, 2.5f, 30).ok());
  const std::vector<float> filled = Download(b(), buffer, 37);
  for (int i = 0; i < 37; ++i) {
    EXPECT_EQ(filled[i], i >= 5 && i < 35 ? 2.5f : values[i]) << i;
  }
}

TEST_F(CpuBackendTest, Scales) {
  const std::vector<float> values = RandomVector(19, 3);
  Buffer buffer = Upload(b(), values);
  ASSERT_TRUE(b().Scale(buffer.floats() + 2, 0.25f, 15).ok());
  const std::vector<float> scaled = Download(b(), buffer, 19);
  for (int i = 0; i < 19; ++i) {
    EXPECT_EQ(scaled[i], i >= 2 && i < 17 ? values[i] * 0.25f : values[i]) << i;
  }
  EXPECT_EQ(b().Scale(buffer.floats(), 2.0f, -1).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CpuBackendTest, Relu) {
  std::vector<float> x = Quantized(301, 2);  // exact zeros included
  const std::vector<float> gy = RandomVector(301, 3);
  Buffer dx = Upload(b(), x), dy = Poisoned(b(), 301), dgy = Upload(b(), gy);
  Buffer dgx = Poisoned(b(), 301);
  ASSERT_TRUE(b().ReluForward(dx.floats(), dy.floats(), 301).ok());
  const std::vector<float> y = Download(b(), dy, 301);
  ASSERT_TRUE(b().ReluBackward(dy.floats(), dgy.floats(), dgx.floats(), 301).ok());
  const std::vector<float> gx = Download(b(), dgx, 301);
  for (int i = 0; i < 301; ++i) {
    EXPECT_EQ(y[i], x[i] > 0 ? x[i] : 0.0f) << i;
    EXPECT_EQ(gx[i], x[i] > 0 ? gy[i] : 0.0f) << i;
  }
  // In place, as the layers call it.
  ASSERT_TRUE(b().ReluForward(dx.floats(), dx.floats(), 301).ok());
  EXPECT_EQ(Download(b(), dx, 301), y);
  ASSERT_TRUE(b().ReluBackward(dy.floats(), dgy.floats(), dgy.floats(), 301).ok());
  EXPECT_EQ(Download(b(), dgy, 301), gx);
}

struct PoolReference {
  std::vector<float> y;
  std::vector<int32_t> argmax;
};

PoolReference ReferencePoolForward(const PoolDims& d, const std::vector<float>& x) {
  PoolReference r;
  for (int64_t plane = 0; plane < d.n * d.c; ++plane) {
    for (int64_t i = 0; i < d.out_h; ++i) {
      for (int64_t j = 0; j < d.out_w; ++j) {
        int64_t best = -1;
        for (int64_t u = 0; u < d.window; ++u) {
          for (int64_t v = 0; v < d.window; ++v) {
            const int64_t at = (plane * d.h + i * d.stride + u) * d.w + j * d.stride + v;
            if (best < 0 || x[at] > x[best]) best = at;
          }
        }
        r.y.push_back(x[best]);
        r.argmax.push_back(static_cast<int32_t>(best));
      }
    }
  }
  return r;
}

std::vector<float> ReferencePoolBackward(const PoolDims& d, const std::vector<float>& gy,
                                         const std::vector<int32_t>& argmax) {
  std::vector<double> gx(d.n * d.c * d.h * d.w, 0.0);
  for (size_t o = 0; o < gy.size(); ++o) gx[argmax[o]] += gy[o];
  return std::vector<float>(gx.begin(), gx.end());
}

void CheckPool(Backend& b, const PoolDims& d, uint32_t seed) {
  SCOPED_TRACE(::testing::Message()
               << d.h << "x" << d.w << " window " << d.window << " stride " << d.stride);
  const int64_t in = d.n * d.c * d.h * d.w, out = d.n * d.c * d.out_h * d.out_w;
  const std::vector<float> x = Quantized(in, seed);
  const std::vector<float> gy = RandomVector(out, seed + 1);
  Buffer dx = Upload(b, x), dy = Poisoned(b, out), dargmax = Poisoned(b, out);
  Buffer dgy = Upload(b, gy), dgx = Poisoned(b, in);
  ASSERT_TRUE(b.MaxPoolForward(d, dx.floats(), dy.floats(), dargmax.ints()).ok());
  const PoolReference want = ReferencePoolForward(d, x);
  EXPECT_EQ(Download(b, dy, out), want.y);
  EXPECT_EQ(DownloadInts(b, dargmax, out), want.argmax);
  ASSERT_TRUE(b.MaxPoolBackward(d, dgy.floats(), dargmax.ints(), dgx.floats()).ok());
  // A gx element receives at most ceil(window/stride)^2 = 4 terms here, summed in float:
  // a few ulps from the double reference.
  EXPECT_LE(RelativeError(Download(b, dgx, in), ReferencePoolBackward(d, gy, want.argmax)), 1e-6);
}

TEST_F(CpuBackendTest, MaxPool2x2Stride2WithOddSizes) {
  // 7x9: the last row and column belong to no window.
  CheckPool(b(), {2, 3, 7, 9, 2, 2, 3, 4}, 10);
  CheckPool(b(), {1, 2, 8, 6, 2, 2, 4, 3}, 11);
}

TEST_F(CpuBackendTest, MaxPool3x3Stride2Overlapping) {
  // (9-3)/2+1 = 4, (8-3)/2+1 = 3: the last column belongs to no window.
  CheckPool(b(), {2, 3, 9, 8, 3, 2, 4, 3}, 12);
  CheckPool(b(), {1, 1, 13, 11, 3, 2, 6, 5}, 13);
}

TEST_F(CpuBackendTest, MaxPoolTiesPickTheFirstInRowMajorOrder) {
  const PoolDims d{1, 1, 3, 3, 3, 1, 1, 1};
  Buffer x = Upload(b(), {0, 1, 0, 1, 0, 1, 0, 0, 1});
  Buffer y = Poisoned(b(), 1), argmax = Poisoned(b(), 1);
  ASSERT_TRUE(b().MaxPoolForward(d, x.floats(), y.floats(), argmax.ints()).ok());
  EXPECT_EQ(Download(b(), y, 1)[0], 1.0f);
  EXPECT_EQ(DownloadInts(b(), argmax, 1)[0], 1);
}

TEST_F(CpuBackendTest, MaxPoolRefusesBadDims) {
  Buffer x = Poisoned(b(), 64), y = Poisoned(b(), 64), argmax = Poisoned(b(), 64);
  const PoolDims wrong_output{1, 1, 7, 7, 2, 2, 4, 3};
  absl::Status status = b().MaxPoolForward(wrong_output, x.floats(), y.floats(), argmax.ints());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("expected 3x3"));
  const PoolDims big_window{1, 1, 2, 2, 3, 1, 0, 0};
  EXPECT_EQ(b().MaxPoolForward(big_window, x.floats(), y.floats(), argmax.ints()).code(),
            absl::StatusCode::kInvalidArgument);
  const PoolDims zero_stride{1, 1, 4, 4, 2, 0, 3, 3};
  EXPECT_THAT(b().MaxPoolForward(zero_stride, x.floats(), y.floats(), argmax.ints()).message(),
              HasSubstr("stride"));
  // An argmax outside its output's window.
  const PoolDims d{1, 1, 4, 4, 2, 2, 2, 2};
  Buffer bad_argmax = UploadInts(b(), {0, 2, 8, 0});
  EXPECT_EQ(b().MaxPoolBackward(d, y.floats(), bad_argmax.ints(), x.floats()).code(),
            absl::StatusCode::kInvalidArgument);
}

std::vector<float> ReferenceGemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                                 const std::vector<float>& a, const std::vector<float>& b,
                                 float beta, const std::vector<float>& c) {
  std::vector<float> out(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = ta ? a[p * m + i] : a[i * k + p];
        const double bv = tb ? b[j * k + p] : b[p * n + j];
        sum += av * bv;
      }
      const double prior = beta == 0.0f ? 0.0 : double{beta} * c[i * n + j];
      out[i * n + j] = static_cast<float>(alpha * sum + prior);
    }
  }
  return out;
}

TEST_F(CpuBackendTest, GemmAllTransposes) {
  const int64_t m = 13, n = 7, k = 29;
  uint32_t seed = 20;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{-1.5f, 0.75f}}) {
        SCOPED_TRACE(::testing::Message()
                     << "ta " << ta << " tb " << tb << " alpha " << alpha << " beta " << beta);
        const std::vector<float> a = RandomVector(m * k, seed++);
        const std::vector<float> bm = RandomVector(k * n, seed++);
        const std::vector<float> c = RandomVector(m * n, seed++);
        Buffer da = Upload(b(), a), db = Upload(b(), bm);
        // beta = 0 must overwrite C, even NaN.
        Buffer dc = beta == 0.0f ? Poisoned(b(), m * n) : Upload(b(), c);
        ASSERT_TRUE(
            b().Gemm(ta, tb, m, n, k, alpha, da.floats(), db.floats(), beta, dc.floats()).ok());
        EXPECT_LE(RelativeError(Download(b(), dc, m * n),
                                ReferenceGemm(ta, tb, m, n, k, alpha, a, bm, beta, c)),
                  kGemmTolerance);
      }
    }
  }
}

TEST_F(CpuBackendTest, GemmWithEmptyInnerDimensionScalesC) {
  Buffer c = Upload(b(), {1, 2, 3, 4, 5, 6});
  ASSERT_TRUE(b().Gemm(false, false, 2, 3, 0, 1.0f, nullptr, nullptr, 0.5f, c.floats()).ok());
  EXPECT_EQ(Download(b(), c, 6), (std::vector<float>{0.5, 1, 1.5, 2, 2.5, 3}));
  EXPECT_EQ(b().Gemm(false, false, 2, -3, 1, 1.0f, c.floats(), c.floats(), 0, c.floats()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CpuBackendTest, AddBiasAndSumRows) {
  const int64_t rows = 17, cols = 11;
  const std::vector<float> m = RandomVector(rows * cols, 30);
  const std::vector<float> bias = RandomVector(cols, 31);
  Buffer dm = Upload(b(), m), dbias = Upload(b(), bias), dsum = Poisoned(b(), cols);
  ASSERT_TRUE(b().SumRows(dm.floats(), rows, cols, dsum.floats()).ok());
  const std::vector<float> sums = Download(b(), dsum, cols);
  for (int64_t c = 0; c < cols; ++c) {
    double want = 0.0;
    for (int64_t r = 0; r < rows; ++r) want += m[r * cols + c];
    // Accumulated in double, as the reference: only the final cast to float rounds.
    EXPECT_FLOAT_EQ(sums[c], static_cast<float>(want)) << c;
  }
  ASSERT_TRUE(b().AddBiasToRows(dm.floats(), dbias.floats(), rows, cols).ok());
  const std::vector<float> biased = Download(b(), dm, rows * cols);
  for (int64_t i = 0; i < rows * cols; ++i) EXPECT_EQ(biased[i], m[i] + bias[i % cols]) << i;

  // No rows: the sums are zero.
  ASSERT_TRUE(b().SumRows(dm.floats(), 0, cols, dsum.floats()).ok());
  EXPECT_EQ(Download(b(), dsum, cols), std::vector<float>(cols, 0.0f));
}

TEST_F(CpuBackendTest, SoftmaxCrossEntropyMatchesReference) {
  const int64_t batch = 16, classes = 10;
  std::vector<float> logits = RandomVector(batch * classes, 40);
  for (float& v : logits) v *= 8.0f;
  std::vector<int32_t> labels(batch);
  for (int64_t i = 0; i < batch; ++i) labels[i] = static_cast<int32_t>((i * 7) % classes);
  // Make some examples right: the label's logit the largest.
  for (int64_t i = 0; i < batch; i += 3) logits[i * classes + labels[i]] = 20.0f;

  const SoftmaxOutputs got = RunSoftmax(b(), logits, labels, classes);
  int correct_count = 0;
  for (int64_t i = 0; i < batch; ++i) {
    const float* x = &logits[i * classes];
    int64_t arg = 0;
    for (int64_t j = 1; j < classes; ++j) {
      if (x[j] > x[arg]) arg = j;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < classes; ++j) sum += std::exp(double{x[j]} - x[arg]);
    const double lse = x[arg] + std::log(sum);
    // Loss: x - max is rounded to float before exp (relative 6e-8 of |x - max| <= 40),
    // so 1e-5 relative is ample.
    EXPECT_NEAR(got.loss[i], lse - x[labels[i]], 1e-5 * std::max(1.0, lse - x[labels[i]])) << i;
    EXPECT_EQ(got.correct[i], arg == labels[i] ? 1 : 0) << i;
    correct_count += got.correct[i];
    double row_sum = 0.0;
    for (int64_t j = 0; j < classes; ++j) {
      const double want = (std::exp(double{x[j]} - lse) - (j == labels[i] ? 1.0 : 0.0)) / batch;
      // Gradients are at most 1/batch = 0.0625; the float roundings (of x - max and of
      // the result) move them by ~1e-8.
      EXPECT_NEAR(got.grad[i * classes + j], want, 1e-7) << i << "," << j;
      row_sum += got.grad[i * classes + j];
    }
    // Softmax sums to 1, the one-hot to 1: each row of the gradient sums to 0, up to
    // float rounding of `classes` terms of size <= 1/batch.
    EXPECT_NEAR(row_sum, 0.0, 1e-7) << i;
  }
  EXPECT_GE(correct_count, 6);
}

TEST_F(CpuBackendTest, SoftmaxCrossEntropyIsStableForHugeLogits) {
  const int64_t classes = 4;
  const std::vector<float> logits = {1000,  -1000, 0,     999,    // label 3
                                     -1000, -1000, -1000, -1000,  // label 0: tie -> first
                                     1000,  1000,  1000,  1000,   // label 2: tie -> 0 wins
                                     1000,  -1000, 0,     999};   // label 1
  const std::vector<int32_t> labels = {3, 0, 2, 1};
  const SoftmaxOutputs got = RunSoftmax(b(), logits, labels, classes);
  const double log1pe = std::log1p(std::exp(-1.0));
  EXPECT_NEAR(got.loss[0], 1.0 + log1pe, 1e-6);
  EXPECT_NEAR(got.loss[1], std::log(4.0), 1e-6);
  EXPECT_NEAR(got.loss[2], std::log(4.0), 1e-6);
  EXPECT_NEAR(got.loss[3], 2000.0 + log1pe, 1e-3);  // float spacing at 2000 is 1.2e-4
  EXPECT_EQ(got.correct, (std::vector<int32_t>{0, 1, 0, 0}));
  for (int64_t i = 0; i < 4; ++i) {
    double row_sum = 0.0;
    for (int64_t j = 0; j < classes; ++j) {
      const float g = got.grad[i * classes + j];
      EXPECT_TRUE(std::isfinite(g)) << i << "," << j;
      row_sum += g;
    }
    EXPECT_NEAR(row_sum, 0.0, 1e-7) << i;
  }
  // Row 1: uniform softmax, so (1/4 - 1)/4 for the label and (1/4)/4 elsewhere.
  EXPECT_FLOAT_EQ(got.grad[4], -0.1875f);
  EXPECT_FLOAT_EQ(got.grad[5], 0.0625f);
}

TEST_F(CpuBackendTest, SoftmaxCrossEntropyRefusesBadLabelsNamingThem) {
  const std::vector<float> logits = RandomVector(4 * 5, 50);
  for (auto [bad, index] : {std::pair{7, 2}, std::pair{-1, 1}, std::pair{5, 3}}) {
    std::vector<int32_t> labels = {0, 1, 2, 3};
    labels[index] = bad;
    Buffer dlogits = Upload(b(), logits), dlabels = UploadInts(b(), labels);
    Buffer grad = Poisoned(b(), 20), loss = Poisoned(b(), 4), correct = Poisoned(b(), 4);
    const absl::Status status = b().SoftmaxCrossEntropy(
        dlogits.floats(), dlabels.ints(), 4, 5, grad.floats(), loss.floats(), correct.ints());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("label ", bad, " at index ", index)));
    EXPECT_THAT(status.message(), HasSubstr("[0, 5)"));
  }
  Buffer any = Poisoned(b(), 20);
  EXPECT_EQ(b().SoftmaxCrossEntropy(any.floats(), any.ints(), 4, 0, any.floats(), any.floats(),
                                    any.ints())
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CpuBackendTest, SgdMomentumTwoStepsByHand) {
  Buffer p = Upload(b(), {1.0f}), g = Upload(b(), {0.5f}), v = Upload(b(), {0.0f});
  const SgdHyper hyper{0.1f, 0.9f, 0.01f};
  // Float spacing near 1 is 6e-8 and each step rounds a few times: 3e-7 is ample.
  // Step 1: v = 0.9*0 + (0.5 + 0.01*1) = 0.51; p = 1 - 0.1*0.51 = 0.949.
  ASSERT_TRUE(b().SgdMomentumStep(p.floats(), g.floats(), v.floats(), 1, hyper).ok());
  EXPECT_NEAR(Download(b(), v, 1)[0], 0.51, 3e-7);
  EXPECT_NEAR(Download(b(), p, 1)[0], 0.949, 3e-7);
  // Step 2: v = 0.9*0.51 + (0.5 + 0.01*0.949) = 0.96849; p = 0.949 - 0.096849 = 0.852151.
  ASSERT_TRUE(b().SgdMomentumStep(p.floats(), g.floats(), v.floats(), 1, hyper).ok());
  EXPECT_NEAR(Download(b(), v, 1)[0], 0.96849, 3e-7);
  EXPECT_NEAR(Download(b(), p, 1)[0], 0.852151, 3e-7);
}

// With a rate source, the rate is read from it when the step runs; learning_rate is
// ignored. Same numbers as the first step above.
TEST_F(CpuBackendTest, SgdMomentumReadsTheRateFromItsSource) {
  Buffer p = Upload(b(), {1.0f}), g = Upload(b(), {0.5f}), v = Upload(b(), {0.0f});
  Buffer rate = Upload(b(), {0.1f});
  ASSERT_TRUE(
      b().SgdMomentumStep(p.floats(), g.floats(), v.floats(), 1, {7.0f, 0.9f, 0.01f, rate.floats()})
          .ok());
  EXPECT_NEAR(Download(b(), p, 1)[0], 0.949, 3e-7);
}

// The CPU runs operations as they are called: there is nothing to capture.
TEST_F(CpuBackendTest, RefusesToCapture) {
  EXPECT_FALSE(b().CanCapture());
  bool called = false;
  auto captured = b().Capture([&] {
    called = true;
    return absl::OkStatus();
  });
  EXPECT_EQ(captured.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(called);
  auto use = b().DeviceMemoryUse();
  ASSERT_TRUE(use.ok());
  EXPECT_EQ(use->peak_allocated, 0u);
}

TEST_F(CpuBackendTest, SgdMomentumMatchesReference) {
  const int64_t n = 1000;
  const std::vector<float> p0 = RandomVector(n, 60), g = RandomVector(n, 61),
                           v0 = RandomVector(n, 62);
  const SgdHyper hyper{0.05f, 0.9f, 5e-4f};
  Buffer p = Upload(b(), p0), dg = Upload(b(), g), v = Upload(b(), v0);
  ASSERT_TRUE(b().SgdMomentumStep(p.floats(), dg.floats(), v.floats(), n, hyper).ok());
  const std::vector<float> p1 = Download(b(), p, n), v1 = Download(b(), v, n);
  for (int64_t i = 0; i < n; ++i) {
    const double v_want =
        double{hyper.momentum} * v0[i] + (g[i] + double{hyper.weight_decay} * p0[i]);
    const double p_want = p0[i] - double{hyper.learning_rate} * v_want;
    // A handful of float roundings on values of size <= 2.
    EXPECT_NEAR(v1[i], v_want, 1e-6) << i;
    EXPECT_NEAR(p1[i], p_want, 1e-6) << i;
  }
}

TEST_F(CpuBackendTest, ConvEngineMatchesReferenceConvolution) {
  fftconv::ConvShape s;
  s.n = 2;
  s.c = 3;
  s.h = 11;
  s.w = 9;
  s.k = 4;
  s.kh = 3;
  s.kw = 5;
  s.pad_h = 1;
  s.pad_w = 2;
  auto engine = b().CreateConv(s, {});
  ASSERT_TRUE(engine.ok()) << engine.status();
  // The engine plans this layer: FFTW at the transform size the layout picks for it.
  auto layout = fftconv::SpectralLayout::Create(s, {});
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ((*engine)->method(), absl::StrCat("fftw ", layout->fft_h(), "x", layout->fft_w()));
  const std::vector<float> x = RandomVector(s.input_elements(), 70);
  const std::vector<float> w = RandomVector(s.weight_elements(), 71);
  const std::vector<float> bias = RandomVector(s.k, 72);
  const std::vector<float> gy = RandomVector(s.output_elements(), 73);
  Buffer dx = Upload(b(), x), dw = Upload(b(), w), dbias = Upload(b(), bias);
  Buffer dgy = Upload(b(), gy), dy = Poisoned(b(), s.output_elements());
  Buffer dgx = Poisoned(b(), s.input_elements()), dgw = Poisoned(b(), s.weight_elements());
  Buffer dgb = Poisoned(b(), s.k);
  auto workspace = b().Allocate((*engine)->WorkspaceBytes());
  auto weights = b().Allocate((*engine)->WeightSpectrumBytes());
  ASSERT_TRUE(workspace.ok() && weights.ok());
  const fftconv::LayerSpectra spectra{weights->span(), {}};
  ASSERT_TRUE((*engine)
                  ->Forward(dx.floats(), dw.floats(), dbias.floats(), dy.floats(), spectra,
                            workspace->span())
                  .ok());
  ASSERT_TRUE((*engine)->BackwardData(dgy.floats(), dgx.floats(), spectra, workspace->span()).ok());
  ASSERT_TRUE((*engine)
                  ->BackwardFilter(dx.floats(), dgy.floats(), dgw.floats(), dgb.floats(), spectra,
                                   fftconv::GradOutputSpectrum::kFromBackwardData,
                                   workspace->span())
                  .ok());

  std::vector<float> y(s.output_elements()), gx(s.input_elements()), gw(s.weight_elements()),
      gb(s.k);
  ASSERT_TRUE(fftconv::ReferenceForward(s, x.data(), w.data(), bias.data(), y.data()).ok());
  ASSERT_TRUE(fftconv::ReferenceBackwardData(s, gy.data(), w.data(), gx.data()).ok());
  ASSERT_TRUE(fftconv::ReferenceBackwardFilter(s, x.data(), gy.data(), gw.data(), gb.data()).ok());
  EXPECT_LE(RelativeError(Download(b(), dy, s.output_elements()), y), kConvTolerance);
  EXPECT_LE(RelativeError(Download(b(), dgx, s.input_elements()), gx), kConvTolerance);
  EXPECT_LE(RelativeError(Download(b(), dgw, s.weight_elements()), gw), kConvTolerance);
  EXPECT_LE(RelativeError(Download(b(), dgb, s.k), gb), kConvTolerance);
}

TEST_F(CpuBackendTest, RefusesNegativeSizesAndNullPointers) {
  Buffer buffer = Poisoned(b(), 8);
  EXPECT_EQ(b().Fill(buffer.floats(), 0.0f, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(b().ReluForward(nullptr, buffer.floats(), 8).message(), HasSubstr("x is null"));
  EXPECT_EQ(b().SumRows(buffer.floats(), -2, 4, buffer.floats()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      b().SgdMomentumStep(buffer.floats(), buffer.floats(), buffer.floats(), -5, {0.1f, 0.9f, 0.0f})
          .code(),
      absl::StatusCode::kInvalidArgument);
  // Nothing to do is fine, whatever the pointers.
  EXPECT_TRUE(b().Fill(nullptr, 0.0f, 0).ok());
  EXPECT_TRUE(b().CopyFromHost(nullptr, nullptr, 0).ok());
}

TEST_F(CpuBackendTest, SameInputsGiveBitwiseSameOutputs) {
  const test_util::NamedOutputs first = test_util::RunAllOps(b(), 80);
  const test_util::NamedOutputs second = test_util::RunAllOps(b(), 80);
  ASSERT_EQ(first.size(), second.size());
  ASSERT_FALSE(first.empty());
  for (size_t i = 0; i < first.size(); ++i) {
    SCOPED_TRACE(first[i].first);
    const std::vector<float>& a = first[i].second;
    const std::vector<float>& c = second[i].second;
    ASSERT_EQ(a.size(), c.size());
    for (float v : a) ASSERT_TRUE(std::isfinite(v));
    EXPECT_EQ(std::memcmp(a.data(), c.data(), a.size() * sizeof(float)), 0);
  }
}

}  // namespace
}  // namespace fftrain::trainer
