#include "trainer/network_spec.h"

#include <cctype>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace fftrain::trainer {
namespace {

// Largest size any one number in a spec may have.
constexpr int64_t kMaxSpecNumber = 1 << 20;
// Most values one example's tensor may have between layers (2^40, 4 TiB of floats): far
// beyond any machine, and far enough below 2^63 that sizes in bytes for a whole batch
// cannot overflow. Padding grows a map by up to 2^21 a layer, so without this bound a
// few padded layers overflow c * h * w (found by fuzz/network_spec_fuzzer).
constexpr int64_t kMaxTensorElements = int64_t{1} << 40;

// Whether c * h * w neither overflows nor exceeds kMaxTensorElements.
bool FitsTensorLimit(const TensorShape& s) {
  int64_t ch = 0, chw = 0;
  return !__builtin_mul_overflow(s.c, s.h, &ch) && !__builtin_mul_overflow(ch, s.w, &chw) &&
         chw <= kMaxTensorElements;
}

absl::Status LayerError(const LayerSpec& layer, absl::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat("network spec: layer ", layer.index, " '", layer.text, "': ", reason));
}

// Reads a positive decimal number at the front of `rest`.
bool ConsumeNumber(absl::string_view* rest, int64_t* value) {
  size_t digits = 0;
  while (digits < rest->size() && std::isdigit(static_cast<unsigned char>((*rest)[digits]))) {
    ++digits;
  }
  if (digits == 0 || digits > 7) return false;
  if (!absl::SimpleAtoi(rest->substr(0, digits), value)) return false;
  rest->remove_prefix(digits);
  return *value >= 1 && *value <= kMaxSpecNumber;
}

absl::Status ParseLayer(LayerSpec* layer) {
  absl::string_view rest = layer->text;
  const std::string number_hint = absl::StrCat("numbers must be integers from 1 to ", kMaxSpecNumber);
  if (rest == "relu") {
    layer->kind = LayerKind::kRelu;
    return absl::OkStatus();
  }
  if (absl::ConsumePrefix(&rest, "conv")) {
    layer->kind = LayerKind::kConv;
    if (!ConsumeNumber(&rest, &layer->kernel) || !absl::ConsumePrefix(&rest, "x") ||
        !ConsumeNumber(&rest, &layer->maps)) {
      return LayerError(*layer, absl::StrCat("expected conv<k>x<maps>[p<pad>], e.g. conv5x64p2; ",
                                             number_hint));
    }
    if (absl::ConsumePrefix(&rest, "p")) {
      if (rest == "0") {
        rest.remove_prefix(1);
      } else if (!ConsumeNumber(&rest, &layer->padding)) {
        return LayerError(*layer, "padding after 'p' must be a number, e.g. conv5x64p2");
      }
    }
    if (!rest.empty()) return LayerError(*layer, absl::StrCat("unexpected '", rest, "'"));
    return absl::OkStatus();
  }
  if (absl::ConsumePrefix(&rest, "pool")) {
    layer->kind = LayerKind::kMaxPool;
    if (!ConsumeNumber(&rest, &layer->window)) {
      return LayerError(*layer, absl::StrCat("expected pool<w>[s<stride>], e.g. pool2 or pool3s2; ",
                                             number_hint));
    }
    layer->stride = layer->window;
    if (absl::ConsumePrefix(&rest, "s") && !ConsumeNumber(&rest, &layer->stride)) {
      return LayerError(*layer, "stride after 's' must be a positive number, e.g. pool3s2");
    }
    if (!rest.empty()) return LayerError(*layer, absl::StrCat("unexpected '", rest, "'"));
    return absl::OkStatus();
  }
  if (absl::ConsumePrefix(&rest, "fc")) {
    layer->kind = LayerKind::kLinear;
    if (!ConsumeNumber(&rest, &layer->outputs) || !rest.empty()) {
      return LayerError(*layer, absl::StrCat("expected fc<outputs>, e.g. fc10; ", number_hint));
    }
    return absl::OkStatus();
  }
  return LayerError(*layer, "unknown layer; expected conv<k>x<maps>[p<pad>], relu, "
                            "pool<w>[s<stride>] or fc<n>");
}

}  // namespace

const std::vector<Preset>& Presets() {
  static const auto* presets = new std::vector<Preset>{
      {"fmnist", "conv5x64p2,relu,pool2,conv5x128p2,relu,pool2,fc10", {1, 28, 28}, 10},
      {"paper128",
       "conv11x96,relu,pool2,conv9x256,relu,pool2,conv7x384,relu,pool2,conv3x384,relu,fc1000",
       {3, 128, 128},
       1000},
  };
  return *presets;
}

absl::StatusOr<NetworkSpec> ParseNetworkSpec(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  for (const Preset& preset : Presets()) {
    if (text == preset.name) return ParseNetworkSpec(preset.spec);
  }
  if (text.empty()) return absl::InvalidArgumentError("network spec is empty");
  NetworkSpec spec;
  int index = 0;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    LayerSpec layer;
    layer.index = ++index;
    layer.text = std::string(absl::StripAsciiWhitespace(part));
    if (layer.text.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("network spec: layer ", index, " is empty (two commas in a row?)"));
    }
    layer.text = absl::AsciiStrToLower(layer.text);
    if (absl::Status status = ParseLayer(&layer); !status.ok()) return status;
    spec.layers.push_back(layer);
  }
  if (spec.layers.back().kind != LayerKind::kLinear) {
    return LayerError(spec.layers.back(),
                      "the last layer must be fc<classes>: its outputs are the class scores");
  }
  std::vector<std::string> texts;
  for (const LayerSpec& layer : spec.layers) texts.push_back(layer.text);
  spec.canonical = absl::StrJoin(texts, ",");
  return spec;
}

absl::StatusOr<std::vector<TensorShape>> ChainShapes(const NetworkSpec& spec,
                                                     const TensorShape& input) {
  if (input.c <= 0 || input.h <= 0 || input.w <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("network input shape ", input.c, "x", input.h,
                                                   "x", input.w, " is not positive"));
  }
  if (!FitsTensorLimit(input)) {
    return absl::InvalidArgumentError(absl::StrCat("network input shape ", input.c, "x", input.h,
                                                   "x", input.w, " has more than 2^40 values"));
  }
  std::vector<TensorShape> shapes;
  TensorShape shape = input;
  bool flat = false;  // after a fully connected layer
  for (const LayerSpec& layer : spec.layers) {
    const std::string in = absl::StrCat(shape.c, "x", shape.h, "x", shape.w);
    switch (layer.kind) {
      case LayerKind::kConv: {
        if (flat) return LayerError(layer, "a convolution cannot follow a fully connected layer");
        const int64_t ph = shape.h + 2 * layer.padding, pw = shape.w + 2 * layer.padding;
        if (layer.kernel > ph || layer.kernel > pw) {
          return LayerError(layer, absl::StrCat("kernel ", layer.kernel, "x", layer.kernel,
                                                " is larger than its padded input ", ph, "x", pw,
                                                " (input ", in, ")"));
        }
        shape = {layer.maps, ph - layer.kernel + 1, pw - layer.kernel + 1};
        break;
      }
      case LayerKind::kRelu:
        break;
      case LayerKind::kMaxPool: {
        if (flat) return LayerError(layer, "pooling cannot follow a fully connected layer");
        if (layer.window > shape.h || layer.window > shape.w) {
          return LayerError(layer, absl::StrCat("pooling window ", layer.window, "x",
                                                layer.window, " does not fit its input ", in,
                                                ": the output would be below one pixel"));
        }
        shape = {shape.c, (shape.h - layer.window) / layer.stride + 1,
                 (shape.w - layer.window) / layer.stride + 1};
        break;
      }
      case LayerKind::kLinear:
        if (shape.elements() > (int64_t{1} << 31)) {
          return LayerError(layer, absl::StrCat("input ", in, " is too large for a fully "
                                                "connected layer"));
        }
        shape = {layer.outputs, 1, 1};
        flat = true;
        break;
    }
    if (!FitsTensorLimit(shape)) {
      return LayerError(layer, absl::StrCat("its output ", shape.c, "x", shape.h, "x", shape.w,
                                            " (input ", in, ") has more than 2^40 values"));
    }
    shapes.push_back(shape);
  }
  return shapes;
}

}  // namespace fftrain::trainer
