// Every layer's gradients against central finite differences, on each backend.
#include "trainer/layers.h"

#include <cmath>
#include <random>
#include <vector>

#include "fftconv/test_util.h"
#include "gtest/gtest.h"
#include "trainer/network.h"
#include "trainer/test_backends.h"

namespace fftrain::trainer {
namespace {

using test_util::MakeTestBackend;

// Central differences with step h = 1e-2 have truncation error O(h^2 f''') ~ 1e-4 for
// these smooth pieces, and float rounding of the loss (a double sum of float outputs,
// each with relative error ~1e-6 through the FFT) divided by 2h: ~1e-3 absolute. So a
// gradient matches when |numeric - analytic| <= 5e-3 + 1e-2 |analytic|. ReLU and
// max-pooling inputs are kept at least 4h away from their kinks and ties, where finite
// differences are not defined.
constexpr float kStep = 1e-2f;
constexpr double kAbsTolerance = 5e-3, kRelTolerance = 1e-2;

class Harness {
 public:
  Harness(Backend& backend, const std::string& spec_text, const TensorShape& input,
          int64_t batch)
      : backend_(backend), batch_(batch), input_(input) {
    auto spec = ParseNetworkSpec(spec_text + ",fc1");
    EXPECT_TRUE(spec.ok()) << spec.status();
    spec_ = spec->layers[0];
    auto shapes = ChainShapes(*spec, input);
    EXPECT_TRUE(shapes.ok()) << shapes.status();
    output_ = (*shapes)[0];
    auto layer = CreateLayer(spec_, input, output_, batch, backend, {});
    EXPECT_TRUE(layer.ok()) << layer.status();
    layer_ = std::move(layer).value();
    params_ = Alloc(std::max<int64_t>(1, layer_->ParameterCount()));
    grads_ = Alloc(std::max<int64_t>(1, layer_->ParameterCount()));
    layer_->BindParameters(params_.floats(), grads_.floats());
    workspace_ = Alloc((layer_->WorkspaceBytes() + 3) / 4 + 1);
    x_ = Alloc(batch * input.elements());
    y_ = Alloc(batch * output_.elements());
    gy_ = Alloc(batch * output_.elements());
    gx_ = Alloc(batch * input.elements());
  }

  Layer& layer() { return *layer_; }
  int64_t input_size() const { return batch_ * input_.elements(); }
  int64_t output_size() const { return batch_ * output_.elements(); }

  Buffer Alloc(int64_t floats) {
    auto b = backend_.Allocate(sizeof(float) * floats);
    EXPECT_TRUE(b.ok()) << b.status();
    return std::move(b).value();
  }
  void Upload(const std::vector<float>& host, const Buffer& to) {
    ASSERT_TRUE(backend_.CopyFromHost(host.data(), to.data(), 4 * host.size()).ok());
  }
  std::vector<float> Download(const Buffer& from, int64_t n) {
    std::vector<float> host(n);
    EXPECT_TRUE(backend_.CopyToHost(from.data(), host.data(), 4 * n).ok());
    return host;
  }

  // L = sum(y * r) for the layer's y at (x, params).
  double Loss(const std::vector<float>& x, const std::vector<float>& params,
              const std::vector<float>& r) {
    Upload(x, x_);
    if (!params.empty()) Upload(params, params_);
    EXPECT_TRUE(layer_->Forward(x_.floats(), y_.floats(), workspace_.span()).ok());
    const std::vector<float> y = Download(y_, output_size());
    double loss = 0;
    for (size_t i = 0; i < y.size(); ++i) loss += static_cast<double>(y[i]) * r[i];
    return loss;
  }

  // Analytic gx and parameter gradients at (x, params) for gy = r.
  void Gradients(const std::vector<float>& x, const std::vector<float>& params,
                 const std::vector<float>& r, std::vector<float>* gx, std::vector<float>* gp) {
    Loss(x, params, r);
    Upload(r, gy_);
    ASSERT_TRUE(
        layer_->Backward(x_.floats(), y_.floats(), gy_.floats(), gx_.floats(), workspace_.span())
            .ok());
    *gx = Download(gx_, input_size());
    *gp = layer_->ParameterCount() > 0 ? Download(grads_, layer_->ParameterCount())
                                       : std::vector<float>();
  }

 private:
  Backend& backend_;
  int64_t batch_;
  TensorShape input_, output_;
  LayerSpec spec_;
  std::unique_ptr<Layer> layer_;
  Buffer params_, grads_, workspace_, x_, y_, gy_, gx_;
};

// Checks `count` coordinates of x and of the parameters (sampled with `seed`).
void CheckGradients(Harness& h, std::vector<float> x, std::vector<float> params,
                    const std::vector<float>& r, uint32_t seed) {
  std::vector<float> gx, gp;
  h.Gradients(x, params, r, &gx, &gp);
  std::mt19937 pick(seed);
  auto check = [&](std::vector<float>& values, const std::vector<float>& analytic,
                   const char* what) {
    for (int trial = 0; trial < 12 && !values.empty(); ++trial) {
      const size_t i = pick() % values.size();
      const float saved = values[i];
      values[i] = saved + kStep;
      const double plus = h.Loss(x, params, r);
      values[i] = saved - kStep;
      const double minus = h.Loss(x, params, r);
      values[i] = saved;
      const double numeric = (plus - minus) / (2 * kStep);
      EXPECT_NEAR(numeric, analytic[i], kAbsTolerance + kRelTolerance * std::abs(analytic[i]))
          << what << "[" << i << "] of " << h.layer().name();
    }
  };
  check(x, gx, "dL/dx");
  check(params, gp, "dL/dparams");
}

// Values whose magnitudes stay >= 4 steps from 0 and pairwise >= 4 steps apart, so ReLU
// kinks and pooling ties are never crossed by a finite difference.
std::vector<float> SpreadValues(int64_t n, uint32_t seed) {
  std::vector<float> values(n);
  for (int64_t i = 0; i < n; ++i) {
    values[i] = (0.05f + 0.05f * static_cast<float>(i)) * (i % 2 == 0 ? 1.f : -1.f);
  }
  std::mt19937 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) std::swap(values[i], values[rng() % (i + 1)]);
  return values;
}

class LayerGradientTest : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    backend_ = MakeTestBackend(GetParam(), &skip_);
    if (backend_ == nullptr && !skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_NE(backend_, nullptr);
  }
  std::unique_ptr<Backend> backend_;
  std::string skip_;
};

TEST_P(LayerGradientTest, ConvolutionWithPaddingAndBias) {
  Harness h(*backend_, "conv3x4p1", {3, 7, 6}, 2);
  std::mt19937_64 rng(7);
  std::vector<float> params(h.layer().ParameterCount());
  h.layer().InitializeParameters(rng, params.data());
  for (float& p : params) p += 0.1f;  // non-zero biases too
  CheckGradients(h, fftconv::test_util::RandomVector(h.input_size(), 1), params,
                 fftconv::test_util::RandomVector(h.output_size(), 2), 3);
}

TEST_P(LayerGradientTest, ValidConvolutionWithLargeKernel) {
  Harness h(*backend_, "conv5x3", {2, 9, 8}, 3);
  std::mt19937_64 rng(8);
  std::vector<float> params(h.layer().ParameterCount());
  h.layer().InitializeParameters(rng, params.data());
  CheckGradients(h, fftconv::test_util::RandomVector(h.input_size(), 4), params,
                 fftconv::test_util::RandomVector(h.output_size(), 5), 6);
}

TEST_P(LayerGradientTest, Relu) {
  Harness h(*backend_, "relu", {2, 3, 4}, 2);
  CheckGradients(h, SpreadValues(h.input_size(), 9), {},
                 fftconv::test_util::RandomVector(h.output_size(), 10), 11);
}

TEST_P(LayerGradientTest, MaxPool2x2) {
  Harness h(*backend_, "pool2", {2, 6, 5}, 2);  // odd width: the last column is dropped
  CheckGradients(h, SpreadValues(h.input_size(), 12), {},
                 fftconv::test_util::RandomVector(h.output_size(), 13), 14);
}

TEST_P(LayerGradientTest, MaxPoolOverlapping3x3Stride2) {
  Harness h(*backend_, "pool3s2", {1, 7, 7}, 2);
  CheckGradients(h, SpreadValues(h.input_size(), 15), {},
                 fftconv::test_util::RandomVector(h.output_size(), 16), 17);
}

TEST_P(LayerGradientTest, FullyConnected) {
  Harness h(*backend_, "fc5", {3, 2, 2}, 4);
  std::mt19937_64 rng(18);
  std::vector<float> params(h.layer().ParameterCount());
  h.layer().InitializeParameters(rng, params.data());
  for (float& p : params) p += 0.05f;
  CheckGradients(h, fftconv::test_util::RandomVector(h.input_size(), 19), params,
                 fftconv::test_util::RandomVector(h.output_size(), 20), 21);
}

// The whole chain, loss included: d(mean cross-entropy)/d(parameters) of a small network
// against finite differences of the loss the backend computes.
TEST_P(LayerGradientTest, WholeNetworkWithCrossEntropy) {
  auto spec = ParseNetworkSpec("conv3x4p1,relu,pool2,conv3x5,relu,fc3");
  ASSERT_TRUE(spec.ok());
  const int64_t batch = 4;
  auto net = Network::Create(*spec, {2, 8, 8}, batch, *backend_, {});
  ASSERT_TRUE(net.ok()) << net.status();
  Network& n = **net;
  ASSERT_TRUE(n.InitializeParameters(3).ok());
  const auto images = fftconv::test_util::RandomVector(batch * 2 * 8 * 8, 22);
  const std::vector<int32_t> labels = {0, 2, 1, 2};
  auto labels_buffer = backend_->Allocate(4 * batch);
  auto loss_buffer = backend_->Allocate(4 * batch);
  auto correct_buffer = backend_->Allocate(4 * batch);
  ASSERT_TRUE(labels_buffer.ok() && loss_buffer.ok() && correct_buffer.ok());
  ASSERT_TRUE(backend_->CopyFromHost(labels.data(), labels_buffer->data(), 4 * batch).ok());
  ASSERT_TRUE(backend_->CopyFromHost(images.data(), n.input(), 4 * images.size()).ok());
  auto mean_loss = [&]() {
    EXPECT_TRUE(n.Forward().ok());
    EXPECT_TRUE(backend_->SoftmaxCrossEntropy(n.logits(), labels_buffer->ints(), batch, 3,
                                              n.logits_gradient(), loss_buffer->floats(),
                                              correct_buffer->ints())
                    .ok());
    std::vector<float> losses(batch);
    EXPECT_TRUE(backend_->CopyToHost(loss_buffer->data(), losses.data(), 4 * batch).ok());
    double sum = 0;
    for (float l : losses) sum += l;
    return sum / batch;
  };
  mean_loss();
  std::vector<int64_t> ready_layers;
  ASSERT_TRUE(n.Backward([&](const Layer& layer, int64_t offset, int64_t count) {
                 ready_layers.push_back(layer.spec().index);
                 EXPECT_EQ(offset, n.parameter_offset(layer.spec().index - 1));
                 EXPECT_EQ(count, layer.ParameterCount());
                 return absl::OkStatus();
               }).ok());
  // Notified once per layer with parameters, last layer first.
  EXPECT_EQ(ready_layers, (std::vector<int64_t>{6, 4, 1}));
  std::vector<float> analytic(n.parameter_count()), params(n.parameter_count());
  ASSERT_TRUE(backend_->CopyToHost(n.gradients(), analytic.data(), 4 * analytic.size()).ok());
  ASSERT_TRUE(backend_->CopyToHost(n.parameters(), params.data(), 4 * params.size()).ok());
  std::mt19937 pick(23);
  for (int trial = 0; trial < 24; ++trial) {
    const size_t i = pick() % params.size();
    const float saved = params[i];
    auto loss_at = [&](float value) {
      params[i] = value;
      EXPECT_TRUE(backend_->CopyFromHost(params.data(), n.parameters(), 4 * params.size()).ok());
      return mean_loss();
    };
    const double numeric = (loss_at(saved + kStep) - loss_at(saved - kStep)) / (2 * kStep);
    loss_at(saved);
    EXPECT_NEAR(numeric, analytic[i], kAbsTolerance + kRelTolerance * std::abs(analytic[i]))
        << "parameter " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, LayerGradientTest,
                         ::testing::Values(Device::kCpu, Device::kCuda),
                         test_util::DeviceParamName);

}  // namespace
}  // namespace fftrain::trainer
