// The layers of a network, written once against the Backend interface so they run on
// the GPU and the CPU alike. Each layer reads its input and writes its output in buffers
// the network owns, and keeps its parameters in the network's contiguous buffers.
#ifndef FFTRAIN_TRAINER_LAYERS_H_
#define FFTRAIN_TRAINER_LAYERS_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fftconv/spectral_layout.h"
#include "trainer/backend/backend.h"
#include "trainer/network_spec.h"

namespace fftrain::trainer {

class Layer {
 public:
  Layer(const LayerSpec& spec, const TensorShape& input, const TensorShape& output,
        int64_t batch, Backend& backend)
      : spec_(spec), input_(input), output_(output), batch_(batch), backend_(backend) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const LayerSpec& spec() const { return spec_; }
  const TensorShape& input_shape() const { return input_; }
  const TensorShape& output_shape() const { return output_; }
  int64_t batch() const { return batch_; }
  // "layer 4 'conv5x128p2'".
  std::string name() const;

  virtual int64_t ParameterCount() const { return 0; }
  // Where this layer's parameters and their gradients live (ParameterCount() floats each,
  // in the backend's memory).
  void BindParameters(float* parameters, float* gradients) {
    parameters_ = parameters;
    gradients_ = gradients;
  }
  // Initial values (He/Kaiming normal weights, zero biases) into host memory.
  virtual void InitializeParameters(std::mt19937_64& rng, float* host) const {}
  // Scratch this layer needs from the shared workspace pool.
  virtual size_t WorkspaceBytes() const { return 0; }
  // The paper's memory formula for this layer's frequency buffers (0 if not a convolution).
  virtual double PaperMemoryBytes() const { return 0; }
  // How a convolution's passes run ("batched 32x32 cgemm"); empty for other layers.
  virtual std::string method() const { return ""; }

  // y = layer(x) for the whole batch.
  virtual absl::Status Forward(const float* x, float* y, base::MemorySpan workspace) = 0;
  // Given x, y from Forward and gy = dL/dy: the parameter gradients and, unless gx is null
  // (the first layer), gx = dL/dx.
  virtual absl::Status Backward(const float* x, const float* y, const float* gy, float* gx,
                                base::MemorySpan workspace) = 0;

 protected:
  Backend& backend() const { return backend_; }
  float* parameters() const { return parameters_; }
  float* gradients() const { return gradients_; }

 private:
  LayerSpec spec_;
  TensorShape input_, output_;
  int64_t batch_;
  Backend& backend_;
  float* parameters_ = nullptr;
  float* gradients_ = nullptr;
};

struct LayerOptions {
  // Convolutions keep their input's spectrum from Forward for BackwardFilter.
  bool keep_input_spectrum = false;
};

// The layer `spec` describes, for inputs of shape `input` (per example) in batches of
// `batch`; `output` is its output shape from ChainShapes.
absl::StatusOr<std::unique_ptr<Layer>> CreateLayer(const LayerSpec& spec,
                                                   const TensorShape& input,
                                                   const TensorShape& output, int64_t batch,
                                                   Backend& backend,
                                                   const LayerOptions& options);

// The fftconv shape of a convolution layer.
fftconv::ConvShape ConvShapeOf(const LayerSpec& spec, const TensorShape& input, int64_t batch);

// Standard normal values from a generator, the same on every platform (the standard
// library's distributions are not).
double NextGaussian(std::mt19937_64& rng);

}  // namespace fftrain::trainer

#endif  // FFTRAIN_TRAINER_LAYERS_H_
