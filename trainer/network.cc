#include "trainer/network.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "base/system_memory.h"
#include "fftconv/spectral_layout.h"

namespace fftrain::trainer {
namespace {

double MiB(double bytes) { return bytes / (1 << 20); }

// Bytes every convolution's kept input spectrum would take, and a bound on the largest
// workspace (the layout's part; the libraries' work areas are small beside it).
struct SpectraNeed {
  size_t kept_spectra = 0;
  size_t largest_workspace = 0;
};

absl::StatusOr<SpectraNeed> EstimateSpectra(const NetworkSpec& spec,
                                            const std::vector<TensorShape>& inputs,
                                            int64_t batch) {
  SpectraNeed need;
  fftconv::FftConvOptions keep;
  keep.keep_input_spectrum = true;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    if (spec.layers[i].kind != LayerKind::kConv) continue;
    FFTRAIN_ASSIGN_OR_RETURN(
        auto layout,
        fftconv::SpectralLayout::Create(ConvShapeOf(spec.layers[i], inputs[i], batch), keep));
    need.kept_spectra += layout.InputSpectrumBytes();
    need.largest_workspace = std::max(need.largest_workspace, layout.backend_offset());
  }
  return need;
}

// What one layer takes, in bytes, estimated from shapes before anything is allocated.
struct LayerMemory {
  std::string name;
  double activations = 0;  // its output and the output's gradient (and the batch's input)
  double parameters = 0;   // parameters, gradients, momentum
  double spectra = 0;      // weight spectrum, and the kept input spectrum
  double other = 0;        // max-pooling's arg-max indices
  double workspace = 0;    // its need from the shared pool (a lower bound)
  double own() const { return activations + parameters + spectra + other; }
};

std::string LayerText(const LayerSpec& spec) {
  return absl::StrCat("layer ", spec.index, " '", spec.text, "'");
}

// Refuses a network whose buffers cannot fit in the backend's free memory, naming the
// layer that needs the most, before anything is allocated: on the CPU, allocations larger
// than the free memory can succeed and then take the machine's memory page by page.
absl::Status CheckNetworkFits(const NetworkSpec& spec, const std::vector<TensorShape>& inputs,
                              const std::vector<TensorShape>& outputs, int64_t batch,
                              bool keep_spectra, Backend& backend) {
  std::vector<LayerMemory> layers;
  double own = 0, pool = 0;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& layer = spec.layers[i];
    LayerMemory m;
    m.name = LayerText(layer);
    const double in = static_cast<double>(inputs[i].elements());
    const double out = static_cast<double>(outputs[i].elements());
    m.activations = 2.0 * 4 * batch * out + (i == 0 ? 4.0 * batch * in : 0.0);
    if (layer.kind == LayerKind::kConv) {
      const double c = static_cast<double>(inputs[i].c);
      m.parameters = 3.0 * 4 * (layer.maps * c * layer.kernel * layer.kernel + layer.maps);
      fftconv::FftConvOptions options;
      options.keep_input_spectrum = keep_spectra;
      absl::StatusOr<fftconv::SpectralLayout> layout =
          fftconv::SpectralLayout::Create(ConvShapeOf(layer, inputs[i], batch), options);
      if (!layout.ok()) {
        return absl::Status(layout.status().code(),
                            absl::StrCat(m.name, ": ", layout.status().message()));
      }
      m.spectra = static_cast<double>(layout->WeightSpectrumBytes()) +
                  static_cast<double>(layout->InputSpectrumBytes());
      m.workspace = static_cast<double>(layout->backend_offset());
    } else if (layer.kind == LayerKind::kLinear) {
      m.parameters = 3.0 * 4 * (layer.outputs * in + layer.outputs);
    } else if (layer.kind == LayerKind::kMaxPool) {
      m.other = 4.0 * batch * out;
    }
    own += m.own();
    pool = std::max(pool, m.workspace);
    layers.push_back(std::move(m));
  }
  absl::StatusOr<size_t> free_bytes = backend.FreeBytes();
  if (!free_bytes.ok() || own + pool <= static_cast<double>(*free_bytes)) {
    return absl::OkStatus();
  }
  const LayerMemory& worst = *std::max_element(
      layers.begin(), layers.end(), [](const LayerMemory& a, const LayerMemory& b) {
        return a.own() + a.workspace < b.own() + b.workspace;
      });
  return absl::ResourceExhaustedError(absl::StrFormat(
      "the network needs at least %s of %s memory at batch %d but %s is free; %s needs %s "
      "(activations and their gradients %s, parameters %s, spectra %s, workspace %s). "
      "Use a smaller --batch_size or smaller layers",
      base::HumanBytes(own + pool), DeviceName(backend.device()), batch,
      base::HumanBytes(static_cast<double>(*free_bytes)), worst.name,
      base::HumanBytes(worst.own() + worst.workspace), base::HumanBytes(worst.activations),
      base::HumanBytes(worst.parameters), base::HumanBytes(worst.spectra + worst.other),
      base::HumanBytes(worst.workspace)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Network>> Network::Create(const NetworkSpec& spec,
                                                         const TensorShape& input,
                                                         int64_t batch, Backend& backend,
                                                         const NetworkOptions& options) {
  if (batch <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("batch size must be positive, got ", batch));
  }
  FFTRAIN_ASSIGN_OR_RETURN(std::vector<TensorShape> outputs, ChainShapes(spec, input));
  std::vector<TensorShape> inputs = {input};
  for (size_t i = 0; i + 1 < outputs.size(); ++i) inputs.push_back(outputs[i]);

  FFTRAIN_RETURN_IF_ERROR(CheckNetworkFits(spec, inputs, outputs, batch,
                                           options.keep_spectra == KeepSpectra::kOn, backend));

  auto net = std::unique_ptr<Network>(new Network(spec, input, batch, backend));
  // Activations first: they are needed whatever is decided about spectra.
  for (const TensorShape& shape : inputs) {
    FFTRAIN_ASSIGN_OR_RETURN(Buffer b, backend.Allocate(sizeof(float) * batch * shape.elements()));
    net->activations_.push_back(std::move(b));
  }
  FFTRAIN_ASSIGN_OR_RETURN(Buffer logits,
                           backend.Allocate(sizeof(float) * batch * outputs.back().elements()));
  net->activations_.push_back(std::move(logits));
  net->activation_gradients_.emplace_back();  // dL/dinput: never needed
  for (size_t i = 0; i < outputs.size(); ++i) {
    FFTRAIN_ASSIGN_OR_RETURN(Buffer b,
                             backend.Allocate(sizeof(float) * batch * outputs[i].elements()));
    net->activation_gradients_.push_back(std::move(b));
  }

  bool keep = options.keep_spectra == KeepSpectra::kOn;
  FFTRAIN_ASSIGN_OR_RETURN(SpectraNeed need, EstimateSpectra(spec, inputs, batch));
  if (options.keep_spectra == KeepSpectra::kAuto && need.kept_spectra > 0) {
    FFTRAIN_ASSIGN_OR_RETURN(size_t free_bytes, backend.FreeBytes());
    const size_t after_pool = free_bytes > need.largest_workspace
                                  ? free_bytes - need.largest_workspace : 0;
    keep = need.kept_spectra <= after_pool / 2;
    net->notes_.push_back(absl::StrFormat(
        "keep forward spectra (auto): %s; they need %.1f MiB, %.1f MiB free besides the pool",
        keep ? "yes" : "no, not enough memory", MiB(need.kept_spectra), MiB(after_pool)));
  } else if (need.kept_spectra > 0) {
    net->notes_.push_back(absl::StrFormat(
        "keep forward spectra: %s%s", keep ? "yes" : "no",
        keep ? absl::StrFormat(" (%.1f MiB)", MiB(need.kept_spectra)) : std::string()));
  }
  net->keeps_spectra_ = keep;

  LayerOptions layer_options;
  layer_options.keep_input_spectrum = keep;
  std::vector<WorkspaceRequest> requests;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    FFTRAIN_ASSIGN_OR_RETURN(auto layer, CreateLayer(spec.layers[i], inputs[i], outputs[i],
                                                     batch, backend, layer_options));
    net->offsets_.push_back(net->parameter_count_);
    net->parameter_count_ += layer->ParameterCount();
    if (layer->WorkspaceBytes() > 0) {
      requests.push_back({layer->name(), layer->WorkspaceBytes(), layer->PaperMemoryBytes()});
    }
    net->notes_.push_back(absl::StrFormat(
        "  %-28s %4dx%-4dx%-4d -> %4dx%-4dx%-4d params %-9d workspace %7.1f MiB  %s",
        layer->name(), inputs[i].c, inputs[i].h, inputs[i].w, outputs[i].c, outputs[i].h,
        outputs[i].w, layer->ParameterCount(), MiB(layer->WorkspaceBytes()), layer->method()));
    net->layers_.push_back(std::move(layer));
  }
  FFTRAIN_ASSIGN_OR_RETURN(WorkspacePool pool, WorkspacePool::Create(backend, requests));
  net->pool_ = std::make_unique<WorkspacePool>(std::move(pool));
  net->notes_.push_back(net->pool_->Describe());

  FFTRAIN_ASSIGN_OR_RETURN(net->parameters_,
                           backend.Allocate(sizeof(float) * net->parameter_count_));
  FFTRAIN_ASSIGN_OR_RETURN(net->gradients_,
                           backend.Allocate(sizeof(float) * net->parameter_count_));
  for (size_t i = 0; i < net->layers_.size(); ++i) {
    net->layers_[i]->BindParameters(net->parameters() + net->offsets_[i],
                                    net->gradients() + net->offsets_[i]);
  }
  net->notes_.push_back(absl::StrFormat("parameters: %d (%.1f MiB)", net->parameter_count_,
                                        MiB(4.0 * net->parameter_count_)));
  return net;
}

absl::Status Network::InitializeParameters(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> host(parameter_count_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->InitializeParameters(rng, host.data() + offsets_[i]);
  }
  return backend_.CopyFromHost(host.data(), parameters(), sizeof(float) * host.size());
}

absl::Status Network::Forward() {
  for (size_t i = 0; i < layers_.size(); ++i) {
    ScopedRange range(backend_, layers_[i]->spec().text.c_str());
    FFTRAIN_RETURN_IF_ERROR(layers_[i]->Forward(activations_[i].floats(),
                                                activations_[i + 1].floats(), pool_->span()));
  }
  return absl::OkStatus();
}

absl::Status Network::Backward(const GradientsReady& ready) {
  for (size_t i = layers_.size(); i-- > 0;) {
    Layer& layer = *layers_[i];
    {
      ScopedRange range(backend_, (layer.spec().text + ".backward").c_str());
      float* gx = i == 0 ? nullptr : activation_gradients_[i].floats();
      FFTRAIN_RETURN_IF_ERROR(layer.Backward(activations_[i].floats(),
                                             activations_[i + 1].floats(),
                                             activation_gradients_[i + 1].floats(), gx,
                                             pool_->span()));
    }
    if (ready && layer.ParameterCount() > 0) {
      FFTRAIN_RETURN_IF_ERROR(ready(layer, offsets_[i], layer.ParameterCount()));
    }
  }
  return absl::OkStatus();
}

}  // namespace fftrain::trainer
