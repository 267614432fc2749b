// Helpers shared by the backend tests: moving test vectors in and out of a backend's
// memory, and one run of every operation, used to check determinism on each backend.
#ifndef FFTRAIN_TRAINER_BACKEND_BACKEND_TEST_UTIL_H_
#define FFTRAIN_TRAINER_BACKEND_BACKEND_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "trainer/backend/backend.h"

namespace fftrain::trainer::test_util {

// A buffer on `backend` holding `values`. Failures are reported as test failures (the
// buffer is then empty).
Buffer Upload(Backend& backend, const std::vector<float>& values);
Buffer UploadInts(Backend& backend, const std::vector<int32_t>& values);

// `count` floats (or ints) of all-ones bits (NaN, -1), so outputs left unwritten show.
Buffer Poisoned(Backend& backend, int64_t count);

std::vector<float> Download(Backend& backend, const Buffer& buffer, int64_t count);
std::vector<int32_t> DownloadInts(Backend& backend, const Buffer& buffer, int64_t count);

// SoftmaxCrossEntropy on `backend` for host logits (labels.size() x classes) and labels,
// outputs poisoned first and read back once the backend has synchronised.
struct SoftmaxOutputs {
  std::vector<float> grad, loss;
  std::vector<int32_t> correct;
};
SoftmaxOutputs RunSoftmax(Backend& backend, const std::vector<float>& logits,
                          const std::vector<int32_t>& labels, int64_t classes);

// Every operation once on seeded inputs (a small network's worth: conv, ReLU, pool,
// GEMM, bias, softmax cross-entropy, SGD), each output named. Integer outputs are
// converted to float.
using NamedOutputs = std::vector<std::pair<std::string, std::vector<float>>>;
NamedOutputs RunAllOps(Backend& backend, uint32_t seed);

}  // namespace fftrain::trainer::test_util

#endif  // FFTRAIN_TRAINER_BACKEND_BACKEND_TEST_UTIL_H_
