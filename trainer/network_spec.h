// Networks written as spec strings, e.g. "conv5x64p2,relu,pool2,conv5x128p2,relu,pool2,fc10":
//   conv<k>x<maps>[p<pad>]   k x k FFT convolution to <maps> output maps, zero padding
//                            <pad> on each side (default 0: valid convolution), with bias
//   relu                     rectified linear unit
//   pool<w>[s<stride>]       max-pooling over w x w windows, stride w unless given
//   fc<n>                    fully connected layer to n outputs, with bias
// The last layer must be fc: its outputs are the class scores (softmax cross-entropy).
#ifndef FFTRAIN_TRAINER_NETWORK_SPEC_H_
#define FFTRAIN_TRAINER_NETWORK_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fftrain::trainer {

enum class LayerKind { kConv, kRelu, kMaxPool, kLinear };

struct LayerSpec {
  LayerKind kind;
  std::string text;  // as written, e.g. "conv5x64p2"
  int index = 0;     // 1-based position in the spec
  int64_t kernel = 0, maps = 0, padding = 0;  // conv
  int64_t window = 0, stride = 0;             // pool
  int64_t outputs = 0;                        // fc
};

// The per-example shape of a tensor between layers: channels x height x width (a fully
// connected layer's output is outputs x 1 x 1).
struct TensorShape {
  int64_t c = 0, h = 0, w = 0;
  int64_t elements() const { return c * h * w; }
  friend bool operator==(const TensorShape& a, const TensorShape& b) {
    return a.c == b.c && a.h == b.h && a.w == b.w;
  }
};

struct NetworkSpec {
  std::vector<LayerSpec> layers;
  // The spec as a normalised string ("conv5x64p2,relu,..."); checkpoints compare it.
  std::string canonical;
};

// "fmnist" and "paper128" name presets; anything else is parsed as a spec. Errors name
// the layer's position, its text and the reason.
absl::StatusOr<NetworkSpec> ParseNetworkSpec(absl::string_view text);

// The shape after each layer for one input shape (result[i] is layer i's output), or an
// error naming the first layer whose shapes do not chain (a kernel larger than its padded
// input, pooling below one pixel, a convolution or pooling after a fully connected layer).
absl::StatusOr<std::vector<TensorShape>> ChainShapes(const NetworkSpec& spec,
                                                     const TensorShape& input);

// The input a preset expects (fmnist: 1x28x28, paper128: 3x128x128); empty for others.
struct Preset {
  const char* name;
  const char* spec;
  TensorShape input;
  int32_t classes;
};
const std::vector<Preset>& Presets();

}  // namespace fftrain::trainer

#endif  // FFTRAIN_TRAINER_NETWORK_SPEC_H_
