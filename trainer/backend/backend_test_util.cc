#include "trainer/backend/backend_test_util.h"

#include <limits>
#include <memory>

#include "fftconv/conv_shape.h"
#include "fftconv/test_util.h"
#include "gtest/gtest.h"

namespace fftrain::trainer::test_util {
namespace {

Buffer AllocateOrFail(Backend& backend, size_t bytes) {
  absl::StatusOr<Buffer> buffer = backend.Allocate(bytes);
  EXPECT_TRUE(buffer.ok()) << buffer.status();
  if (!buffer.ok()) return Buffer();
  return std::move(buffer).value();
}

Buffer UploadBytes(Backend& backend, const void* data, size_t bytes) {
  Buffer buffer = AllocateOrFail(backend, bytes);
  if (buffer.bytes() < bytes) return buffer;
  const absl::Status status = backend.CopyFromHost(data, buffer.data(), bytes);
  EXPECT_TRUE(status.ok()) << status;
  return buffer;
}

std::vector<float> AsFloats(const std::vector<int32_t>& ints) {
  return std::vector<float>(ints.begin(), ints.end());
}

}  // namespace

Buffer Upload(Backend& backend, const std::vector<float>& values) {
  return UploadBytes(backend, values.data(), values.size() * sizeof(float));
}

Buffer UploadInts(Backend& backend, const std::vector<int32_t>& values) {
  return UploadBytes(backend, values.data(), values.size() * sizeof(int32_t));
}

Buffer Poisoned(Backend& backend, int64_t count) {
  const std::vector<unsigned char> ones(count * 4, 0xff);
  return UploadBytes(backend, ones.data(), ones.size());
}

std::vector<float> Download(Backend& backend, const Buffer& buffer, int64_t count) {
  std::vector<float> host(count, std::numeric_limits<float>::quiet_NaN());
  if (buffer.bytes() < static_cast<size_t>(count) * sizeof(float)) {
    ADD_FAILURE() << "Download of " << count << " floats from a buffer of " << buffer.bytes()
                  << " bytes";
    return host;
  }
  const absl::Status status = backend.CopyToHost(buffer.data(), host.data(), count * 4);
  EXPECT_TRUE(status.ok()) << status;
  return host;
}

std::vector<int32_t> DownloadInts(Backend& backend, const Buffer& buffer, int64_t count) {
  std::vector<int32_t> host(count, -1);
  if (buffer.bytes() < static_cast<size_t>(count) * sizeof(int32_t)) {
    ADD_FAILURE() << "Download of " << count << " ints from a buffer of " << buffer.bytes()
                  << " bytes";
    return host;
  }
  const absl::Status status = backend.CopyToHost(buffer.data(), host.data(), count * 4);
  EXPECT_TRUE(status.ok()) << status;
  return host;
}

SoftmaxOutputs RunSoftmax(Backend& b, const std::vector<float>& logits,
                          const std::vector<int32_t>& labels, int64_t classes) {
  const int64_t batch = labels.size();
  Buffer dlogits = Upload(b, logits), dlabels = UploadInts(b, labels);
  Buffer grad = Poisoned(b, batch * classes), loss = Poisoned(b, batch);
  Buffer correct = Poisoned(b, batch);
  const absl::Status status =
      b.SoftmaxCrossEntropy(dlogits.floats(), dlabels.ints(), batch, classes, grad.floats(),
                            loss.floats(), correct.ints());
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_TRUE(b.Synchronize().ok());
  return {Download(b, grad, batch * classes), Download(b, loss, batch),
          DownloadInts(b, correct, batch)};
}

NamedOutputs RunAllOps(Backend& b, uint32_t seed) {
  using fftconv::test_util::RandomVector;
  NamedOutputs outputs;
  auto check = [](const absl::Status& status) { EXPECT_TRUE(status.ok()) << status; };

  // conv 3 -> 4 channels on 10x10, 3x3 with padding 1; ReLU; 3x3 stride-2 max-pool
  // (overlapping windows, last row and column dropped) to 4x4; a fully connected layer
  // to 10 classes; softmax cross-entropy; the backward passes; SGD.
  fftconv::ConvShape s;
  s.n = 4;
  s.c = 3;
  s.h = 10;
  s.w = 10;
  s.k = 4;
  s.kh = 3;
  s.kw = 3;
  s.pad_h = 1;
  s.pad_w = 1;
  const PoolDims pool{s.n, s.k, s.out_h(), s.out_w(), 3, 2, 4, 4};
  const int64_t features = s.k * pool.out_h * pool.out_w;
  const int64_t classes = 10;
  const SgdHyper hyper{0.05f, 0.9f, 1e-3f};

  auto engine = b.CreateConv(s, {});
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return outputs;
  Buffer workspace = AllocateOrFail(b, (*engine)->WorkspaceBytes());
  Buffer weight_spectrum = AllocateOrFail(b, (*engine)->WeightSpectrumBytes());
  const fftconv::LayerSpectra spectra{weight_spectrum.span(), {}};

  Buffer x = Upload(b, RandomVector(s.input_elements(), seed));
  Buffer w = Upload(b, RandomVector(s.weight_elements(), seed + 1));
  Buffer bias = Upload(b, RandomVector(s.k, seed + 2));
  Buffer fc_w = Upload(b, RandomVector(classes * features, seed + 3));
  Buffer fc_b = Upload(b, RandomVector(classes, seed + 4));
  Buffer labels = UploadInts(b, {3, 7, 0, 9});
  Buffer w_velocity = Upload(b, RandomVector(s.weight_elements(), seed + 5));
  Buffer fc_velocity = Upload(b, RandomVector(classes * features, seed + 6));

  Buffer y = Poisoned(b, s.output_elements());
  Buffer pooled = Poisoned(b, s.n * features);
  Buffer argmax = Poisoned(b, s.n * features);
  Buffer logits = Poisoned(b, s.n * classes);
  Buffer grad = Poisoned(b, s.n * classes);
  Buffer loss = Poisoned(b, s.n);
  Buffer correct = Poisoned(b, s.n);
  Buffer fc_gw = Poisoned(b, classes * features);
  Buffer fc_gb = Poisoned(b, classes);
  Buffer g_pooled = Poisoned(b, s.n * features);
  Buffer gy = Poisoned(b, s.output_elements());
  Buffer gx = Poisoned(b, s.input_elements());
  Buffer gw = Poisoned(b, s.weight_elements());
  Buffer gb = Poisoned(b, s.k);

  check((*engine)->Forward(x.floats(), w.floats(), bias.floats(), y.floats(), spectra,
                           workspace.span()));
  check(b.ReluForward(y.floats(), y.floats(), s.output_elements()));
  check(b.MaxPoolForward(pool, y.floats(), pooled.floats(), argmax.ints()));
  check(b.Gemm(false, true, s.n, classes, features, 1.0f, pooled.floats(), fc_w.floats(), 0.0f,
               logits.floats()));
  check(b.AddBiasToRows(logits.floats(), fc_b.floats(), s.n, classes));
  check(b.SoftmaxCrossEntropy(logits.floats(), labels.ints(), s.n, classes, grad.floats(),
                              loss.floats(), correct.ints()));
  check(b.Gemm(true, false, classes, features, s.n, 1.0f, grad.floats(), pooled.floats(), 0.0f,
               fc_gw.floats()));
  check(b.SumRows(grad.floats(), s.n, classes, fc_gb.floats()));
  check(b.Gemm(false, false, s.n, features, classes, 1.0f, grad.floats(), fc_w.floats(), 0.0f,
               g_pooled.floats()));
  check(b.MaxPoolBackward(pool, g_pooled.floats(), argmax.ints(), gy.floats()));
  check(b.ReluBackward(y.floats(), gy.floats(), gy.floats(), s.output_elements()));
  check((*engine)->BackwardData(gy.floats(), gx.floats(), spectra, workspace.span()));
  check((*engine)->BackwardFilter(x.floats(), gy.floats(), gw.floats(), gb.floats(), spectra,
                                  fftconv::GradOutputSpectrum::kFromBackwardData,
                                  workspace.span()));
  check(
      b.SgdMomentumStep(w.floats(), gw.floats(), w_velocity.floats(), s.weight_elements(), hyper));
  check(b.SgdMomentumStep(fc_w.floats(), fc_gw.floats(), fc_velocity.floats(), classes * features,
                          hyper));
  check(b.Synchronize());

  outputs.emplace_back("conv+relu y", Download(b, y, s.output_elements()));
  outputs.emplace_back("pooled", Download(b, pooled, s.n * features));
  outputs.emplace_back("argmax", AsFloats(DownloadInts(b, argmax, s.n * features)));
  outputs.emplace_back("logits", Download(b, logits, s.n * classes));
  outputs.emplace_back("softmax grad", Download(b, grad, s.n * classes));
  outputs.emplace_back("loss", Download(b, loss, s.n));
  outputs.emplace_back("correct", AsFloats(DownloadInts(b, correct, s.n)));
  outputs.emplace_back("fc gb", Download(b, fc_gb, classes));
  outputs.emplace_back("conv gy (pool, relu backward)", Download(b, gy, s.output_elements()));
  outputs.emplace_back("conv gx", Download(b, gx, s.input_elements()));
  outputs.emplace_back("conv gb", Download(b, gb, s.k));
  outputs.emplace_back("conv w after sgd", Download(b, w, s.weight_elements()));
  outputs.emplace_back("fc w after sgd", Download(b, fc_w, classes * features));
  outputs.emplace_back("fc velocity", Download(b, fc_velocity, classes * features));
  return outputs;
}

}  // namespace fftrain::trainer::test_util
