// A network built from a spec for one backend and batch size: its layers, one contiguous
// buffer each for parameters and gradients (so gradients can be all-reduced in buckets),
// the activations, and the shared workspace pool.
#ifndef FFTRAIN_TRAINER_NETWORK_H_
#define FFTRAIN_TRAINER_NETWORK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "trainer/backend/backend.h"
#include "trainer/layers.h"
#include "trainer/network_spec.h"
#include "trainer/workspace_pool.h"

namespace fftrain::trainer {

enum class KeepSpectra { kOff, kOn, kAuto };

struct NetworkOptions {
  // Convolutions keep their input's spectrum from forward for backward (memory for one
  // batch of transforms per layer and step). kAuto keeps them when, with everything else
  // allocated, they take at most half of the device's free memory.
  KeepSpectra keep_spectra = KeepSpectra::kOff;
};

class Network {
 public:
  static absl::StatusOr<std::unique_ptr<Network>> Create(const NetworkSpec& spec,
                                                         const TensorShape& input,
                                                         int64_t batch, Backend& backend,
                                                         const NetworkOptions& options);

  const NetworkSpec& spec() const { return spec_; }
  int64_t batch() const { return batch_; }
  const TensorShape& input_shape() const { return input_; }
  int64_t classes() const { return layers_.back()->output_shape().c; }
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }
  const WorkspacePool& workspace_pool() const { return *pool_; }
  bool keeps_spectra() const { return keeps_spectra_; }
  // Lines for the start-up log: layer table, the pool, the spectra decision.
  const std::vector<std::string>& startup_notes() const { return notes_; }

  int64_t parameter_count() const { return parameter_count_; }
  float* parameters() const { return parameters_.floats(); }
  float* gradients() const { return gradients_.floats(); }
  // Offset of each layer's parameters in parameters() (and gradients()).
  int64_t parameter_offset(size_t layer) const { return offsets_[layer]; }

  // Fresh He-initialised parameters from `seed` (the same seed, the same values).
  absl::Status InitializeParameters(uint64_t seed);

  // The batch's images go here (batch x input elements) before Forward.
  float* input() const { return activations_[0].floats(); }
  // Runs every layer; the class scores are then in logits() (batch x classes).
  absl::Status Forward();
  const float* logits() const { return activations_.back().floats(); }
  // dL/dlogits goes here before Backward.
  float* logits_gradient() const { return activation_gradients_.back().floats(); }

  // Called during Backward once a layer's parameter gradients are complete (enqueued on
  // the backend's stream), with their range in gradients(): the hook for all-reducing
  // gradients while backward continues.
  using GradientsReady = std::function<absl::Status(const Layer& layer, int64_t offset,
                                                    int64_t count)>;
  absl::Status Backward(const GradientsReady& ready = nullptr);

 private:
  Network(NetworkSpec spec, TensorShape input, int64_t batch, Backend& backend)
      : spec_(std::move(spec)), input_(input), batch_(batch), backend_(backend) {}

  NetworkSpec spec_;
  TensorShape input_;
  int64_t batch_;
  Backend& backend_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<int64_t> offsets_;
  int64_t parameter_count_ = 0;
  Buffer parameters_, gradients_;
  // activations_[0] is the input; activations_[i + 1] is layer i's output. Gradients
  // alike (activation_gradients_[0] is unused: nothing needs dL/dinput).
  std::vector<Buffer> activations_, activation_gradients_;
  std::unique_ptr<WorkspacePool> pool_;
  bool keeps_spectra_ = false;
  std::vector<std::string> notes_;
};

}  // namespace fftrain::trainer

#endif  // FFTRAIN_TRAINER_NETWORK_H_
