// Data sets for the trainer: Fashion-MNIST from disk, learnable synthetic sets of any
// shape, normalization, and the per-epoch example order shared by every rank.
#ifndef FFTRAIN_TRAINER_DATA_DATASET_H_
#define FFTRAIN_TRAINER_DATA_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "trainer/data/idx_reader.h"

namespace fftrain::trainer {

// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// The Fashion-MNIST folder to use by default: $FFTRAIN_FASHION_MNIST_DIR when set (the GPU
// bundle carries the files and sets it), else kFashionMnistDir. The one place the
// trainer reads an environment variable.
std::string DefaultFashionMnistDir();

enum class Split { kTrain, kTest };

// {dir}/train-images-idx3-ubyte.gz + train-labels-idx1-ubyte.gz, or t10k-... for kTest;
// 10 classes. Also accepts the same names without .gz (uncompressed) when the .gz file is
// absent. `limit` as in ReadIdxPair.
absl::StatusOr<ImageDataset> LoadFashionMnist(const std::string& dir, Split split, int64_t limit);

// A learnable random data set of any shape: each class has a fixed random prototype image
// (pixels drawn from N(0, 1)); an example is its class prototype plus noise (N(0, 0.5^2) per
// pixel). Classes are balanced (counts differ by at most one) and in random order. The same
// seed gives the same set; std distributions are avoided because their algorithms differ
// between standard libraries.
// InvalidArgument for non-positive sizes or classes < 2.
absl::StatusOr<ImageDataset> MakeSyntheticDataset(int64_t count, int64_t channels, int64_t height,
                                                  int64_t width, int32_t num_classes,
                                                  uint64_t seed);

struct Normalization {
  float mean = 0.f, stddev = 1.f;
};

// Mean and (population) standard deviation over every pixel of every image, accumulated
// in double; the stddev is floored at 1e-6 so that Normalize never divides by zero. An
// empty set gives {0, 1}.
Normalization ComputeNormalization(const ImageDataset& data);

// x <- (x - mean) / stddev for every pixel.
void Normalize(const Normalization& norm, ImageDataset* data);

// The order of examples in epoch `epoch`: a permutation of [0, count) from (seed, epoch)
// only, so every rank of a data-parallel job computes the same one. The algorithm is fixed
// (std::mt19937_64 seeded from a mix of seed and epoch, our own Fisher-Yates and bounded
// draws) because std::shuffle and the std distributions differ between standard libraries.
// count <= 0 gives an empty order.
std::vector<int64_t> EpochPermutation(int64_t count, uint64_t seed, int64_t epoch);

// OK when `data` is what its sizes say: positive shape, count * image_elements() floats,
// count labels each in [0, num_classes). InvalidArgument naming `what` otherwise.
absl::Status CheckDataset(const ImageDataset& data, const std::string& what);

// OK when examples of `a` and `b` can go through one network: the same channels, height and
// width, and `b`'s classes within `a`'s. InvalidArgument naming both and the difference.
absl::Status CheckSameExampleShape(const ImageDataset& a, const std::string& a_what,
                                   const ImageDataset& b, const std::string& b_what);

// Copies the examples at `indices` into contiguous host buffers: `images` must hold exactly
// indices.size() * image_elements() floats and `labels` indices.size() ints. InvalidArgument
// (nothing copied) for buffers of another size or an index outside [0, count).
absl::Status GatherBatch(const ImageDataset& data, absl::Span<const int64_t> indices,
                         absl::Span<float> images, absl::Span<int32_t> labels);

}  // namespace fftrain::trainer

#endif  // FFTRAIN_TRAINER_DATA_DATASET_H_
