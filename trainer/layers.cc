#include "trainer/layers.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "fftconv/cost_model.h"

namespace fftrain::trainer {

fftconv::ConvShape ConvShapeOf(const LayerSpec& spec, const TensorShape& input, int64_t batch) {
  fftconv::ConvShape s;
  s.n = batch;
  s.c = input.c;
  s.h = input.h;
  s.w = input.w;
  s.k = spec.maps;
  s.kh = s.kw = spec.kernel;
  s.pad_h = s.pad_w = spec.padding;
  return s;
}

namespace {

// He/Kaiming initialisation: weights ~ N(0, 2 / fan_in), which keeps the variance of
// activations steady through ReLU layers.
void HeNormal(std::mt19937_64& rng, int64_t fan_in, int64_t count, float* out) {
  const double stddev = std::sqrt(2.0 / static_cast<double>(fan_in));
  for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(NextGaussian(rng) * stddev);
}

class ConvLayer : public Layer {
 public:
  ConvLayer(const LayerSpec& spec, const TensorShape& input, const TensorShape& output,
            int64_t batch, Backend& backend, std::unique_ptr<ConvEngine> engine,
            Buffer weight_spectrum, Buffer input_spectrum)
      : Layer(spec, input, output, batch, backend),
        engine_(std::move(engine)),
        weight_spectrum_(std::move(weight_spectrum)),
        input_spectrum_(std::move(input_spectrum)) {}

  int64_t weight_count() const { return spec().maps * input_shape().c * spec().kernel * spec().kernel; }
  int64_t ParameterCount() const override { return weight_count() + spec().maps; }

  void InitializeParameters(std::mt19937_64& rng, float* host) const override {
    HeNormal(rng, input_shape().c * spec().kernel * spec().kernel, weight_count(), host);
    for (int64_t k = 0; k < spec().maps; ++k) host[weight_count() + k] = 0.0f;
  }

  size_t WorkspaceBytes() const override { return engine_->WorkspaceBytes(); }
  std::string method() const override { return engine_->method(); }

  double PaperMemoryBytes() const override {
    // The layer's own shape: a tiled engine's layout describes its tiles.
    auto cost = fftconv::EstimateCost(ConvShapeOf(spec(), input_shape(), batch()));
    return cost.ok() ? cost->paper_memory_bytes : 0.0;
  }

  absl::Status Forward(const float* x, float* y, base::MemorySpan workspace) override {
    return engine_->Forward(x, parameters(), parameters() + weight_count(), y, spectra(),
                            workspace);
  }

  absl::Status Backward(const float* x, const float* y, const float* gy, float* gx,
                        base::MemorySpan workspace) override {
    auto source = fftconv::GradOutputSpectrum::kTransform;
    if (gx != nullptr) {
      FFTRAIN_RETURN_IF_ERROR(engine_->BackwardData(gy, gx, spectra(), workspace));
      source = fftconv::GradOutputSpectrum::kFromBackwardData;
    }
    return engine_->BackwardFilter(x, gy, gradients(), gradients() + weight_count(), spectra(),
                                   source, workspace);
  }

 private:
  fftconv::LayerSpectra spectra() const {
    return {weight_spectrum_.span(), input_spectrum_.span()};
  }

  std::unique_ptr<ConvEngine> engine_;
  Buffer weight_spectrum_;
  Buffer input_spectrum_;
};

class ReluLayer : public Layer {
 public:
  using Layer::Layer;

  absl::Status Forward(const float* x, float* y, base::MemorySpan) override {
    return backend().ReluForward(x, y, batch() * input_shape().elements());
  }
  absl::Status Backward(const float*, const float* y, const float* gy, float* gx,
                        base::MemorySpan) override {
    if (gx == nullptr) return absl::OkStatus();
    return backend().ReluBackward(y, gy, gx, batch() * input_shape().elements());
  }
};

class MaxPoolLayer : public Layer {
 public:
  MaxPoolLayer(const LayerSpec& spec, const TensorShape& input, const TensorShape& output,
               int64_t batch, Backend& backend, Buffer argmax)
      : Layer(spec, input, output, batch, backend), argmax_(std::move(argmax)) {}

  absl::Status Forward(const float* x, float* y, base::MemorySpan) override {
    return backend().MaxPoolForward(dims(), x, y, argmax_.ints());
  }
  absl::Status Backward(const float*, const float*, const float* gy, float* gx,
                        base::MemorySpan) override {
    if (gx == nullptr) return absl::OkStatus();
    return backend().MaxPoolBackward(dims(), gy, argmax_.ints(), gx);
  }

 private:
  PoolDims dims() const {
    return {batch(),         input_shape().c, input_shape().h,  input_shape().w,
            spec().window,   spec().stride,   output_shape().h, output_shape().w};
  }
  Buffer argmax_;
};

// y (batch x outputs) = x (batch x inputs) W^T + b, W being outputs x inputs.
class LinearLayer : public Layer {
 public:
  using Layer::Layer;

  int64_t inputs() const { return input_shape().elements(); }
  int64_t outputs() const { return spec().outputs; }
  int64_t ParameterCount() const override { return outputs() * inputs() + outputs(); }

  void InitializeParameters(std::mt19937_64& rng, float* host) const override {
    HeNormal(rng, inputs(), outputs() * inputs(), host);
    for (int64_t o = 0; o < outputs(); ++o) host[outputs() * inputs() + o] = 0.0f;
  }

  absl::Status Forward(const float* x, float* y, base::MemorySpan) override {
    FFTRAIN_RETURN_IF_ERROR(backend().Gemm(false, true, batch(), outputs(), inputs(), 1.0f, x,
                                           parameters(), 0.0f, y));
    return backend().AddBiasToRows(y, parameters() + outputs() * inputs(), batch(), outputs());
  }

  absl::Status Backward(const float* x, const float*, const float* gy, float* gx,
                        base::MemorySpan) override {
    // dW (outputs x inputs) = gy^T x; db = column sums of gy; dx = gy W.
    FFTRAIN_RETURN_IF_ERROR(backend().Gemm(true, false, outputs(), inputs(), batch(), 1.0f, gy,
                                           x, 0.0f, gradients()));
    FFTRAIN_RETURN_IF_ERROR(
        backend().SumRows(gy, batch(), outputs(), gradients() + outputs() * inputs()));
    if (gx == nullptr) return absl::OkStatus();
    return backend().Gemm(false, false, batch(), inputs(), outputs(), 1.0f, gy, parameters(),
                          0.0f, gx);
  }
};

}  // namespace

std::string Layer::name() const { return absl::StrCat("layer ", spec_.index, " '", spec_.text, "'"); }


absl::StatusOr<std::unique_ptr<Layer>> CreateLayer(const LayerSpec& spec,
                                                   const TensorShape& input,
                                                   const TensorShape& output, int64_t batch,
                                                   Backend& backend,
                                                   const LayerOptions& options) {
  switch (spec.kind) {
    case LayerKind::kConv: {
      fftconv::FftConvOptions conv_options;
      conv_options.keep_input_spectrum = options.keep_input_spectrum;
      auto engine = backend.CreateConv(ConvShapeOf(spec, input, batch), conv_options);
      if (!engine.ok()) {
        return absl::Status(engine.status().code(),
                            absl::StrCat("layer ", spec.index, " '", spec.text,
                                         "': ", engine.status().message()));
      }
      FFTRAIN_ASSIGN_OR_RETURN(Buffer weight_spectrum,
                               backend.Allocate((*engine)->WeightSpectrumBytes()));
      FFTRAIN_ASSIGN_OR_RETURN(Buffer input_spectrum,
                               backend.Allocate((*engine)->InputSpectrumBytes()));
      return std::make_unique<ConvLayer>(spec, input, output, batch, backend,
                                         std::move(engine).value(), std::move(weight_spectrum),
                                         std::move(input_spectrum));
    }
    case LayerKind::kRelu:
      return std::make_unique<ReluLayer>(spec, input, output, batch, backend);
    case LayerKind::kMaxPool: {
      FFTRAIN_ASSIGN_OR_RETURN(Buffer argmax,
                               backend.Allocate(sizeof(int32_t) * batch * output.elements()));
      return std::make_unique<MaxPoolLayer>(spec, input, output, batch, backend,
                                            std::move(argmax));
    }
    case LayerKind::kLinear:
      return std::make_unique<LinearLayer>(spec, input, output, batch, backend);
  }
  return absl::InternalError("CreateLayer: unknown layer kind");
}

double NextGaussian(std::mt19937_64& rng) {
  // Box-Muller on two uniforms in (0, 1].
  constexpr double kScale = 1.0 / 18446744073709551616.0;  // 2^-64
  const double u1 = (static_cast<double>(rng()) + 1.0) * kScale;
  const double u2 = (static_cast<double>(rng()) + 1.0) * kScale;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace fftrain::trainer
