// Every CUDA backend operation against the CPU backend on the same seeded inputs.
//
// Tolerances. Exact (bitwise) where both backends round the same way: ReLU, fill, bias,
// max-pooling (comparisons, and a float sum in the same order on both), argmax and
// `correct`. 1e-5 relative (max|gpu - cpu| / max|cpu|) where they round differently:
// cuBLAS sums GEMM products in another order and with FMAs (error ~k * eps, eps = 6e-8,
// ~8e-6 at worst for k = 129, usually far less); softmax and SumRows accumulate in double
// in another order and use the GPU's exp/log (1 ulp of float at most after the cast);
// SGD has the same per-operation rounding on both (no FMA) and is expected to agree
// bitwise, but is held to the same bound as the other float arithmetic; FFT
// convolutions are each within 1e-6 of the double reference (fftconv's measurements).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "base/cuda/cuda_resources.h"
#include "base/cuda/testing/spin_kernel.h"
#include "fftconv/cuda/gpu_test_util.h"
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
using ::testing::StartsWith;

constexpr double kTolerance = 1e-5;

// The measured error, checked against the bound and printed for the record (the GPU
// bundle's run_tests.sh shows lines that start with "worst").
class WorstError {
 public:
  explicit WorstError(const char* what) : what_(what) {}
  ~WorstError() { std::printf("worst relative error, cuda vs cpu, %s: %.2e\n", what_, worst_); }
  void Check(const std::vector<float>& got, const std::vector<float>& want) {
    const double error = RelativeError(got, want);
    EXPECT_LE(error, kTolerance) << what_;
    worst_ = std::max(worst_, error);
  }

 private:
  const char* what_;
  double worst_ = 0.0;
};

template <typename T>
::testing::AssertionResult SameBits(const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "sizes " << got.size() << " vs " << want.size();
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      return ::testing::AssertionFailure()
             << "first difference at " << i << ": " << got[i] << " vs " << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FFTRAIN_SKIP_WITHOUT_GPU();
    auto cpu = CreateCpuBackend();
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    cpu_ = std::move(cpu).value();
    auto gpu = CreateCudaBackend(0);
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    gpu_ = std::move(gpu).value();
  }

  Backend& cpu() { return *cpu_; }
  Backend& gpu() { return *gpu_; }

  std::unique_ptr<Backend> cpu_, gpu_;
};

// Values in {-1, -0.5, 0, 0.5, 1}: many ties inside pooling windows.
std::vector<float> Quantized(int64_t size, uint32_t seed) {
  std::vector<float> values = RandomVector(size, seed);
  for (float& v : values) v = std::round(v * 2.0f) / 2.0f;
  return values;
}

// Asking for a GPU that is not there is refused with the reason, with or without GPUs.
TEST(CudaBackendDeviceTest, RefusesMissingDevices) {
  std::string why;
  const int count = base::CudaDeviceCount(&why);
  if (count == 0) {
    auto backend = CreateCudaBackend(0);
    ASSERT_FALSE(backend.ok());
    EXPECT_EQ(backend.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(backend.status().message(), HasSubstr(why));
  } else {
    auto backend = CreateCudaBackend(count);  // ordinals run 0..count-1
    ASSERT_FALSE(backend.ok());
    EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_FALSE(CreateCudaBackend(-1).ok());
}

TEST_F(CudaBackendTest, DescribesItself) {
  EXPECT_EQ(gpu().device(), Device::kCuda);
  EXPECT_STREQ(DeviceName(gpu().device()), "cuda");
  EXPECT_THAT(gpu().Describe(), StartsWith("cuda: "));
  EXPECT_THAT(gpu().Describe(), HasSubstr("sm_"));
  ScopedRange range(gpu(), "cuda_backend_test.range");  // NVTX: must simply not fail
}

TEST_F(CudaBackendTest, RefusesANonexistentDevice) {
  auto backend = CreateCudaBackend(base::CudaDeviceCount());
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CudaBackendTest, AllocatesAndReportsFreeMemory) {
  auto buffer = gpu().Allocate(1 << 20);
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  EXPECT_EQ(buffer->bytes(), size_t{1} << 20);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer->data()) % base::kWorkspaceAlignment, 0u);
  auto free_bytes = gpu().FreeBytes();
  ASSERT_TRUE(free_bytes.ok()) << free_bytes.status();
  EXPECT_GT(*free_bytes, size_t{1} << 20);

  auto too_big = gpu().Allocate(size_t{1} << 50);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(too_big.status().message(), HasSubstr(std::to_string(size_t{1} << 50)));
  // The failed allocation leaves no error behind for later work.
  const std::vector<float> values = RandomVector(100, 1);
  Buffer after = Upload(gpu(), values);
  EXPECT_TRUE(SameBits(Download(gpu(), after, 100), values));
  EXPECT_TRUE(gpu().Synchronize().ok());
}

TEST_F(CudaBackendTest, CopiesAndFills) {
  const std::vector<float> values = RandomVector(1001, 2);
  Buffer buffer = Upload(gpu(), values);
  EXPECT_TRUE(SameBits(Download(gpu(), buffer, 1001), values));
  ASSERT_TRUE(gpu().Fill(buffer.floats() + 3, -4.25f, 900).ok());
  std::vector<float> want = values;
  for (int i = 3; i < 903; ++i) want[i] = -4.25f;
  EXPECT_TRUE(SameBits(Download(gpu(), buffer, 1001), want));
}

TEST_F(CudaBackendTest, ScalesExactlyLikeTheCpu) {
  const std::vector<float> values = RandomVector(1003, 4);
  Buffer buffer = Upload(gpu(), values);
  ASSERT_TRUE(gpu().Scale(buffer.floats() + 1, 0.125f, 1000).ok());
  std::vector<float> want = values;
  for (int i = 1; i < 1001; ++i) want[i] *= 0.125f;
  EXPECT_TRUE(SameBits(Download(gpu(), buffer, 1003), want));
}

TEST_F(CudaBackendTest, ReluMatchesCpu) {
  const int64_t n = 100003;
  const std::vector<float> x = Quantized(n, 3), gy = RandomVector(n, 4);
  auto run = [&](Backend& b) {
    Buffer dx = Upload(b, x), dy = Poisoned(b, n), dgy = Upload(b, gy), dgx = Poisoned(b, n);
    EXPECT_TRUE(b.ReluForward(dx.floats(), dy.floats(), n).ok());
    EXPECT_TRUE(b.ReluBackward(dy.floats(), dgy.floats(), dgx.floats(), n).ok());
    // In place, as the layers call it.
    EXPECT_TRUE(b.ReluForward(dx.floats(), dx.floats(), n).ok());
    return std::vector<std::vector<float>>{Download(b, dy, n), Download(b, dgx, n),
                                           Download(b, dx, n)};
  };
  const auto want = run(cpu()), got = run(gpu());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(SameBits(got[i], want[i])) << i;
}

TEST_F(CudaBackendTest, MaxPoolMatchesCpuExactly) {
  const PoolDims cases[] = {
      {2, 3, 7, 9, 2, 2, 3, 4},       // 2x2 stride 2, odd sizes: edges dropped
      {2, 3, 9, 8, 3, 2, 4, 3},       // 3x3 stride 2: overlapping windows
      {8, 16, 33, 35, 3, 2, 16, 17},  // larger, overlapping, several blocks
      {4, 8, 32, 32, 2, 2, 16, 16},   // the common case
      {1, 2, 10, 12, 5, 3, 2, 3},     // window > stride by more than one
  };
  uint32_t seed = 10;
  for (const PoolDims& d : cases) {
    SCOPED_TRACE(::testing::Message()
                 << d.h << "x" << d.w << " window " << d.window << " stride " << d.stride);
    const int64_t in = d.n * d.c * d.h * d.w, out = d.n * d.c * d.out_h * d.out_w;
    const std::vector<float> x = Quantized(in, seed++), gy = RandomVector(out, seed++);
    auto run = [&](Backend& b) {
      Buffer dx = Upload(b, x), dy = Poisoned(b, out), argmax = Poisoned(b, out);
      Buffer dgy = Upload(b, gy), dgx = Poisoned(b, in);
      EXPECT_TRUE(b.MaxPoolForward(d, dx.floats(), dy.floats(), argmax.ints()).ok());
      EXPECT_TRUE(b.MaxPoolBackward(d, dgy.floats(), argmax.ints(), dgx.floats()).ok());
      return std::tuple{Download(b, dy, out), DownloadInts(b, argmax, out), Download(b, dgx, in)};
    };
    const auto [want_y, want_argmax, want_gx] = run(cpu());
    const auto [got_y, got_argmax, got_gx] = run(gpu());
    EXPECT_TRUE(SameBits(got_y, want_y));
    EXPECT_TRUE(SameBits(got_argmax, want_argmax));
    EXPECT_TRUE(SameBits(got_gx, want_gx));
  }
}

TEST_F(CudaBackendTest, GemmMatchesCpu) {
  const int64_t m = 67, n = 45, k = 129;
  uint32_t seed = 20;
  WorstError worst("gemm");
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (auto [alpha, beta] : {std::pair{1.0f, 0.0f}, std::pair{-1.5f, 0.75f}}) {
        SCOPED_TRACE(::testing::Message()
                     << "ta " << ta << " tb " << tb << " alpha " << alpha << " beta " << beta);
        const std::vector<float> a = RandomVector(m * k, seed++);
        const std::vector<float> bm = RandomVector(k * n, seed++);
        const std::vector<float> c = RandomVector(m * n, seed++);
        auto run = [&](Backend& b) {
          Buffer da = Upload(b, a), db = Upload(b, bm);
          // beta = 0 must overwrite C, even NaN.
          Buffer dc = beta == 0.0f ? Poisoned(b, m * n) : Upload(b, c);
          EXPECT_TRUE(
              b.Gemm(ta, tb, m, n, k, alpha, da.floats(), db.floats(), beta, dc.floats()).ok());
          return Download(b, dc, m * n);
        };
        worst.Check(run(gpu()), run(cpu()));
      }
    }
  }
  // An empty inner dimension scales C.
  auto run_empty = [&](Backend& b) {
    Buffer c = Upload(b, {1, 2, 3, 4, 5, 6});
    EXPECT_TRUE(b.Gemm(false, false, 2, 3, 0, 1.0f, nullptr, nullptr, 0.5f, c.floats()).ok());
    return Download(b, c, 6);
  };
  EXPECT_TRUE(SameBits(run_empty(gpu()), run_empty(cpu())));
}

TEST_F(CudaBackendTest, AddBiasAndSumRowsMatchCpu) {
  WorstError worst("sum rows");
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1000, 77}, {3, 5}, {128, 4096}, {0, 9}}) {
    SCOPED_TRACE(::testing::Message() << rows << "x" << cols);
    const std::vector<float> m = RandomVector(rows * cols, 30);
    const std::vector<float> bias = RandomVector(cols, 31);
    auto run = [&](Backend& b) {
      Buffer dm = Upload(b, m), dbias = Upload(b, bias), sums = Poisoned(b, cols);
      EXPECT_TRUE(b.SumRows(dm.floats(), rows, cols, sums.floats()).ok());
      EXPECT_TRUE(b.AddBiasToRows(dm.floats(), dbias.floats(), rows, cols).ok());
      return std::pair{Download(b, sums, cols), Download(b, dm, rows * cols)};
    };
    const auto [want_sums, want_biased] = run(cpu());
    const auto [got_sums, got_biased] = run(gpu());
    worst.Check(got_sums, want_sums);
    EXPECT_TRUE(SameBits(got_biased, want_biased));
  }
}

TEST_F(CudaBackendTest, SoftmaxCrossEntropyMatchesCpu) {
  WorstError loss("softmax loss"), grad("softmax gradient");
  // 10 classes: one warp-sized block per example; 1000: a full block, several values per
  // thread; 300: not a power of two.
  for (int64_t classes : {10, 300, 1000}) {
    SCOPED_TRACE(::testing::Message() << classes << " classes");
    const int64_t batch = 77;
    std::vector<float> logits = RandomVector(batch * classes, 40);
    for (float& v : logits) v *= 8.0f;
    std::vector<int32_t> labels(batch);
    for (int64_t i = 0; i < batch; ++i) labels[i] = static_cast<int32_t>((i * 7) % classes);
    for (int64_t i = 0; i < batch; i += 3) logits[i * classes + labels[i]] = 20.0f;
    // Ties for the arg-max: the first wins on both.
    for (int64_t i = 1; i < batch; i += 5) {
      logits[i * classes] = 30.0f;
      logits[i * classes + classes - 1] = 30.0f;
      labels[i] = static_cast<int32_t>(i % 2 == 0 ? 0 : classes - 1);
    }
    const SoftmaxOutputs want = RunSoftmax(cpu(), logits, labels, classes);
    const SoftmaxOutputs got = RunSoftmax(gpu(), logits, labels, classes);
    loss.Check(got.loss, want.loss);
    grad.Check(got.grad, want.grad);
    EXPECT_TRUE(SameBits(got.correct, want.correct));
  }
}

TEST_F(CudaBackendTest, SoftmaxCrossEntropyIsStableForHugeLogits) {
  const std::vector<float> logits = {1000, -1000, 0,    999,  -1000, -1000, -1000, -1000,
                                     1000, 1000,  1000, 1000, 1000,  -1000, 0,     999};
  const std::vector<int32_t> labels = {3, 0, 2, 1};
  const SoftmaxOutputs want = RunSoftmax(cpu(), logits, labels, 4);
  const SoftmaxOutputs got = RunSoftmax(gpu(), logits, labels, 4);
  EXPECT_LE(RelativeError(got.loss, want.loss), kTolerance);
  EXPECT_LE(RelativeError(got.grad, want.grad), kTolerance);
  EXPECT_TRUE(SameBits(got.correct, want.correct));
}

TEST_F(CudaBackendTest, SoftmaxCrossEntropySurvivesBadLabels) {
  // Labels in device memory cannot be checked on the host; the kernel must neither read
  // out of bounds nor poison the rest of the batch.
  const int64_t classes = 5;
  const std::vector<float> logits = RandomVector(4 * classes, 50);
  const SoftmaxOutputs got = RunSoftmax(gpu(), logits, {0, 7, -1, 2}, classes);
  EXPECT_TRUE(std::isnan(got.loss[1]));
  EXPECT_TRUE(std::isnan(got.loss[2]));
  EXPECT_TRUE(std::isfinite(got.loss[0]));
  EXPECT_TRUE(std::isfinite(got.loss[3]));
  EXPECT_EQ(got.correct[1], 0);
  EXPECT_EQ(got.correct[2], 0);
  for (int64_t j = 0; j < classes; ++j) {
    EXPECT_EQ(got.grad[1 * classes + j], 0.0f);
    EXPECT_EQ(got.grad[2 * classes + j], 0.0f);
    EXPECT_TRUE(std::isfinite(got.grad[j]));
    EXPECT_TRUE(std::isfinite(got.grad[3 * classes + j]));
  }
  EXPECT_TRUE(gpu().Synchronize().ok());
}

TEST_F(CudaBackendTest, SgdMomentumMatchesCpu) {
  const int64_t n = 300007;
  const std::vector<float> p = RandomVector(n, 60), g = RandomVector(n, 61),
                           v = RandomVector(n, 62);
  const SgdHyper hyper{0.05f, 0.9f, 5e-4f};
  auto run = [&](Backend& b) {
    Buffer dp = Upload(b, p), dg = Upload(b, g), dv = Upload(b, v);
    for (int step = 0; step < 3; ++step) {
      EXPECT_TRUE(b.SgdMomentumStep(dp.floats(), dg.floats(), dv.floats(), n, hyper).ok());
    }
    return std::pair{Download(b, dp, n), Download(b, dv, n)};
  };
  const auto [want_p, want_v] = run(cpu());
  const auto [got_p, got_v] = run(gpu());
  WorstError worst("sgd (parameters and velocity)");
  worst.Check(got_p, want_p);
  worst.Check(got_v, want_v);
}

TEST_F(CudaBackendTest, ConvEngineMatchesCpu) {
  fftconv::ConvShape s;
  s.n = 4;
  s.c = 3;
  s.h = 19;
  s.w = 17;
  s.k = 8;
  s.kh = 5;
  s.kw = 3;
  s.pad_h = 2;
  s.pad_w = 1;
  const std::vector<float> x = RandomVector(s.input_elements(), 70);
  const std::vector<float> w = RandomVector(s.weight_elements(), 71);
  const std::vector<float> bias = RandomVector(s.k, 72);
  const std::vector<float> gy = RandomVector(s.output_elements(), 73);
  WorstError worst_y("conv forward"), worst_gx("conv backward data"),
      worst_gw("conv backward filter"), worst_gb("conv bias gradient");
  WorstError* worst[] = {&worst_y, &worst_gx, &worst_gw, &worst_gb};
  for (bool keep_input : {false, true}) {
    SCOPED_TRACE(keep_input ? "keep input spectrum" : "transform x again");
    fftconv::FftConvOptions options;
    options.keep_input_spectrum = keep_input;
    auto run = [&](Backend& b) {
      std::vector<std::vector<float>> results;
      auto engine = b.CreateConv(s, options);
      EXPECT_TRUE(engine.ok()) << engine.status();
      if (!engine.ok()) return results;
      auto workspace = b.Allocate((*engine)->WorkspaceBytes());
      auto weights = b.Allocate((*engine)->WeightSpectrumBytes());
      auto input = b.Allocate((*engine)->InputSpectrumBytes());
      EXPECT_TRUE(workspace.ok() && weights.ok() && input.ok());
      if (!workspace.ok() || !weights.ok() || !input.ok()) return results;
      const fftconv::LayerSpectra spectra{weights->span(), input->span()};
      Buffer dx = Upload(b, x), dw = Upload(b, w), dbias = Upload(b, bias), dgy = Upload(b, gy);
      Buffer dy = Poisoned(b, s.output_elements()), dgx = Poisoned(b, s.input_elements());
      Buffer dgw = Poisoned(b, s.weight_elements()), dgb = Poisoned(b, s.k);
      EXPECT_TRUE((*engine)
                      ->Forward(dx.floats(), dw.floats(), dbias.floats(), dy.floats(), spectra,
                                workspace->span())
                      .ok());
      EXPECT_TRUE(
          (*engine)->BackwardData(dgy.floats(), dgx.floats(), spectra, workspace->span()).ok());
      EXPECT_TRUE((*engine)
                      ->BackwardFilter(dx.floats(), dgy.floats(), dgw.floats(), dgb.floats(),
                                       spectra, fftconv::GradOutputSpectrum::kFromBackwardData,
                                       workspace->span())
                      .ok());
      EXPECT_TRUE(b.Synchronize().ok());
      results.push_back(Download(b, dy, s.output_elements()));
      results.push_back(Download(b, dgx, s.input_elements()));
      results.push_back(Download(b, dgw, s.weight_elements()));
      results.push_back(Download(b, dgb, s.k));
      return results;
    };
    const auto want = run(cpu()), got = run(gpu());
    ASSERT_EQ(want.size(), 4u);
    ASSERT_EQ(got.size(), 4u);
    for (int i = 0; i < 4; ++i) worst[i]->Check(got[i], want[i]);
  }
}

TEST_F(CudaBackendTest, SameInputsGiveBitwiseSameOutputs) {
  const test_util::NamedOutputs first = test_util::RunAllOps(gpu(), 80);
  const test_util::NamedOutputs second = test_util::RunAllOps(gpu(), 80);
  ASSERT_EQ(first.size(), second.size());
  ASSERT_FALSE(first.empty());
  for (size_t i = 0; i < first.size(); ++i) {
    SCOPED_TRACE(first[i].first);
    for (float v : first[i].second) ASSERT_TRUE(std::isfinite(v));
    EXPECT_TRUE(SameBits(first[i].second, second[i].second));
  }
}

// Marks time the backend's stream, not the host: 100 ms of GPU work enqueued between two
// marks is measured although recording returns at once. Loose bounds: the GPU's timer
// is exact, but a launch may start late.
TEST_F(CudaBackendTest, TimingMarksMeasureTheStreamsWork) {
  ASSERT_NE(gpu().compute_stream(), nullptr);
  auto before = gpu().CreateTimingMark();
  auto after = gpu().CreateTimingMark();
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_EQ((*after)->SecondsSince(**before).status().code(),
            absl::StatusCode::kFailedPrecondition);  // neither recorded yet
  ASSERT_TRUE((*before)->Record().ok());
  ASSERT_EQ(base::test_util::LaunchSpin(100 * 1000 * 1000,
                                      static_cast<cudaStream_t>(gpu().compute_stream())),
            cudaSuccess);
  ASSERT_TRUE((*after)->Record().ok());
  auto seconds = (*after)->SecondsSince(**before);
  ASSERT_TRUE(seconds.ok()) << seconds.status();
  std::printf("timing mark around a 100 ms spin: %.4f s\n", *seconds);
  EXPECT_GE(*seconds, 0.099);
  EXPECT_LT(*seconds, 0.5);

  // Marks of another backend, CUDA (another stream) or CPU (a host clock), are refused.
  auto other = CreateCudaBackend(0);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE((*other)->compute_stream(), gpu().compute_stream());
  auto foreign = (*other)->CreateTimingMark();
  ASSERT_TRUE(foreign.ok());
  ASSERT_TRUE((*foreign)->Record().ok());
  EXPECT_EQ((*after)->SecondsSince(**foreign).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto host = cpu().CreateTimingMark();
  ASSERT_TRUE(host.ok());
  ASSERT_TRUE((*host)->Record().ok());
  EXPECT_EQ((*after)->SecondsSince(**host).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*host)->SecondsSince(**after).status().code(), absl::StatusCode::kInvalidArgument);
}

// A capture records without running; each replay runs the recorded operations, reading
// the learning rate from device memory at that time, with the CPU backend's arithmetic:
// bitwise the CPU's steps at the same rates (SGD rounds alike on both, see above).
TEST_F(CudaBackendTest, CapturedStepsReplayWithTheRateOfEachReplay) {
  ASSERT_TRUE(gpu().CanCapture());
  EXPECT_FALSE(cpu().CanCapture());
  const int64_t n = 4099;
  const std::vector<float> p = RandomVector(n, 70), g = RandomVector(n, 71);
  const std::vector<float> rates = {0.5f, 0.25f, 0.125f};
  Buffer dp = Upload(gpu(), p), dg = Upload(gpu(), g), dv = Upload(gpu(), std::vector<float>(n));
  Buffer rate = Upload(gpu(), {rates[0]});
  auto graph = gpu().Capture([&] {
    return gpu().SgdMomentumStep(dp.floats(), dg.floats(), dv.floats(), n,
                                 {0.0f, 0.9f, 1e-3f, rate.floats()});
  });
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_THAT((*graph)->Describe(), StartsWith("a CUDA graph of "));
  EXPECT_TRUE(SameBits(Download(gpu(), dp, n), p)) << "the capture ran the step";

  Buffer cp = Upload(cpu(), p), cg = Upload(cpu(), g), cv = Upload(cpu(), std::vector<float>(n));
  for (float r : rates) {
    ASSERT_TRUE(gpu().CopyFromHost(&r, rate.data(), sizeof(float)).ok());
    ASSERT_TRUE((*graph)->Replay().ok());
    ASSERT_TRUE(cpu().SgdMomentumStep(cp.floats(), cg.floats(), cv.floats(), n,
                                      {r, 0.9f, 1e-3f}).ok());
  }
  EXPECT_TRUE(SameBits(Download(gpu(), dp, n), Download(cpu(), cp, n)));
  EXPECT_TRUE(SameBits(Download(gpu(), dv, n), Download(cpu(), cv, n)));
}

// Timing marks recorded inside a capture are recorded again by every replay, around
// what the replay runs (loose bounds as above).
TEST_F(CudaBackendTest, TimingMarksInsideACaptureTimeEachReplay) {
  auto before = gpu().CreateTimingMark();
  auto after = gpu().CreateTimingMark();
  ASSERT_TRUE(before.ok() && after.ok());
  const auto stream = static_cast<cudaStream_t>(gpu().compute_stream());
  auto graph = gpu().Capture([&]() -> absl::Status {
    if (absl::Status s = (*before)->Record(); !s.ok()) return s;
    if (base::test_util::LaunchSpin(20 * 1000 * 1000, stream) != cudaSuccess) {
      return absl::InternalError("LaunchSpin failed");
    }
    return (*after)->Record();
  });
  ASSERT_TRUE(graph.ok()) << graph.status();
  for (int replay = 0; replay < 2; ++replay) {
    ASSERT_TRUE((*graph)->Replay().ok());
    auto seconds = (*after)->SecondsSince(**before);
    ASSERT_TRUE(seconds.ok()) << seconds.status();
    EXPECT_GE(*seconds, 0.019) << "replay " << replay;
    EXPECT_LT(*seconds, 0.5) << "replay " << replay;
  }
}

// What cannot be captured is reported, and the backend works on afterwards: enqueue's
// own error, and a synchronisation inside the capture (CopyToHost waits for the stream).
TEST_F(CudaBackendTest, FailedCapturesAreReportedAndLeaveTheStreamUsable) {
  auto failed = gpu().Capture([] { return absl::InternalError("enqueue failed here"); });
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("enqueue failed here"));

  Buffer x = Upload(gpu(), {1.0f, 2.0f});
  float host[2];
  auto synchronising = gpu().Capture([&] {
    if (absl::Status s = gpu().Scale(x.floats(), 2.0f, 2); !s.ok()) return s;
    return gpu().CopyToHost(x.data(), host, sizeof(host));
  });
  ASSERT_FALSE(synchronising.ok());
  EXPECT_THAT(synchronising.status().message(), HasSubstr("capturing a CUDA graph"));

  // Nothing captured ran; the stream takes work again.
  EXPECT_TRUE(SameBits(Download(gpu(), x, 2), std::vector<float>{1.0f, 2.0f}));
  ASSERT_TRUE(gpu().Scale(x.floats(), 3.0f, 2).ok());
  EXPECT_TRUE(SameBits(Download(gpu(), x, 2), std::vector<float>{3.0f, 6.0f}));
  EXPECT_TRUE(gpu().Synchronize().ok());
}

// The peak counts what the backend's buffers held at most at once, and falls back to
// nothing held once they are freed.
TEST_F(CudaBackendTest, CountsItsDeviceMemory) {
  auto start = gpu().DeviceMemoryUse();
  ASSERT_TRUE(start.ok()) << start.status();
  constexpr size_t kBytes = size_t{64} << 20;
  {
    auto a = gpu().Allocate(kBytes);
    auto b = gpu().Allocate(kBytes);
    ASSERT_TRUE(a.ok() && b.ok());
    auto held = gpu().DeviceMemoryUse();
    ASSERT_TRUE(held.ok());
    EXPECT_GE(held->allocated, start->allocated + 2 * kBytes);
    EXPECT_GE(held->device_in_use, 2 * kBytes);
  }
  auto after = gpu().DeviceMemoryUse();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->allocated, start->allocated);
  EXPECT_GE(after->peak_allocated, start->allocated + 2 * kBytes);
}

// Rank 0's tuning, exported, makes another backend run the same methods without tuning;
// a backend that does not tune refuses choices (the ranks' settings differ).
TEST_F(CudaBackendTest, TuningExportedByOneBackendIsRunByAnother) {
  CudaBackendOptions tuning;
  tuning.tuning = ConvTuning::kCostModel;
  auto first = CreateCudaBackend(0, tuning);
  auto second = CreateCudaBackend(0, tuning);
  ASSERT_TRUE(first.ok() && second.ok());
  fftconv::ConvShape s;
  s.n = 8;
  s.c = 3;
  s.k = 16;
  s.h = s.w = 27;
  s.kh = s.kw = 5;
  auto tuned = (*first)->CreateConv(s, {});
  ASSERT_TRUE(tuned.ok()) << tuned.status();
  auto text = (*first)->ExportTuning();
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(*text, "");
  ASSERT_TRUE((*second)->ImportTuning(*text).ok());
  auto imported = (*second)->CreateConv(s, {});
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ((*imported)->method(), (*tuned)->method());
  auto again = (*second)->ExportTuning();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *text);

  auto untuned = gpu().ExportTuning();
  ASSERT_TRUE(untuned.ok());
  EXPECT_EQ(*untuned, "");
  EXPECT_TRUE(gpu().ImportTuning("").ok());
  EXPECT_EQ(gpu().ImportTuning(*text).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*second)->ImportTuning("not a line").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fftrain::trainer
