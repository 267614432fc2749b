#include "trainer/data/dataset.h"

#include <cstdlib>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/system_memory.h"

namespace fftrain::trainer {
namespace {

constexpr int32_t kFashionMnistClasses = 10;
constexpr float kSyntheticNoiseStddev = 0.5f;

// Largest buffer, in bytes, a synthetic set may need; leaves headroom below 2^63.
constexpr int64_t kMaxBytes = int64_t{1} << 62;

// Salts that keep the generators of different uses apart for the same user seed.
constexpr uint64_t kEpochSalt = 0x6a09e667f3bcc909ull;
constexpr uint64_t kSyntheticSalt = 0xbb67ae8584caa73bull;

// SplitMix64's finalizer: a bijection on 64 bits that spreads every input bit over the
// output, so nearby (seed, epoch) pairs give unrelated generator seeds.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Because SplitMix64 is a bijection, different streams of one seed never share a state.
uint64_t MixSeed(uint64_t seed, uint64_t salt, uint64_t stream) {
  return SplitMix64(SplitMix64(seed ^ salt) ^ stream);
}

// A uniform draw from [0, bound), bound >= 1, without modulo bias: draws below 2^64 mod
// bound are rejected so that every residue is equally likely.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (uint64_t{0} - bound) % bound;
  while (true) {
    const uint64_t r = rng();
    if (r >= threshold) return r % bound;
  }
}

template <typename T>
void FisherYatesShuffle(std::mt19937_64& rng, std::vector<T>* values) {
  for (size_t i = values->size(); i > 1; --i) {
    const size_t j = UniformBelow(rng, i);
    std::swap((*values)[i - 1], (*values)[j]);
  }
}

// A standard normal draw by Box-Muller, using one of the pair for simplicity.
double StandardNormal(std::mt19937_64& rng) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  // 53 random bits give a double in [0, 1); 1 - u moves it to (0, 1] so the log is finite.
  const double u1 = 1.0 - static_cast<double>(rng() >> 11) * 0x1.0p-53;
  const double u2 = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

// Picks {dir}/{name}.gz, else {dir}/{name}, else NotFound naming both.
absl::StatusOr<std::string> FindMaybeGzipped(const std::string& dir, const std::string& name) {
  const std::string gz = absl::StrCat(dir, "/", name, ".gz");
  const std::string raw = absl::StrCat(dir, "/", name);
  std::error_code error;
  if (std::filesystem::exists(gz, error)) return gz;
  if (std::filesystem::exists(raw, error)) return raw;
  return absl::NotFoundError(absl::StrCat("Fashion-MNIST: neither '", gz, "' nor '", raw,
                                          "' exists (is the data set installed in '", dir, "'?)"));
}

}  // namespace

absl::StatusOr<ImageDataset> LoadFashionMnist(const std::string& dir, Split split, int64_t limit) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  FFTRAIN_ASSIGN_OR_RETURN(const std::string images_path,
                           FindMaybeGzipped(dir, prefix + "-images-idx3-ubyte"));
  FFTRAIN_ASSIGN_OR_RETURN(const std::string labels_path,
                           FindMaybeGzipped(dir, prefix + "-labels-idx1-ubyte"));
  return ReadIdxPair(images_path, labels_path, kFashionMnistClasses, limit);
}

absl::StatusOr<ImageDataset> MakeSyntheticDataset(int64_t count, int64_t channels, int64_t height,
                                                  int64_t width, int32_t num_classes,
                                                  uint64_t seed) {
  if (count <= 0 || channels <= 0 || height <= 0 || width <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MakeSyntheticDataset: count, channels, height and width must be positive, got ", count,
        " x ", channels, " x ", height, " x ", width));
  }
  if (num_classes < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("MakeSyntheticDataset: num_classes must be at least 2, got ", num_classes));
  }
  int64_t elements = 1;
  int64_t image_bytes = 0;
  int64_t prototype_bytes = 0;
  for (int64_t factor : {channels, height, width}) {
    if (__builtin_mul_overflow(elements, factor, &elements) || elements > kMaxBytes) {
      return absl::InvalidArgumentError(absl::StrCat("MakeSyntheticDataset: image size ", channels,
                                                     " x ", height, " x ", width, " overflows"));
    }
  }
  if (__builtin_mul_overflow(elements, count, &image_bytes) ||
      __builtin_mul_overflow(image_bytes, int64_t{sizeof(float)}, &image_bytes) ||
      image_bytes > kMaxBytes ||
      __builtin_mul_overflow(elements, int64_t{num_classes}, &prototype_bytes) ||
      __builtin_mul_overflow(prototype_bytes, int64_t{sizeof(float)}, &prototype_bytes) ||
      prototype_bytes > kMaxBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MakeSyntheticDataset: ", count, " images (or ", num_classes, " prototypes) of ", channels,
        " x ", height, " x ", width, " floats overflow 64-bit byte counts"));
  }

  // Checked against the memory available before anything is allocated: a size that
  // cannot fit is an error to report, not a std::bad_alloc.
  const double needed = static_cast<double>(image_bytes) + static_cast<double>(prototype_bytes) +
                        4.0 * static_cast<double>(count);
  const absl::StatusOr<uint64_t> available = base::AvailableHostMemoryBytes();
  if (available.ok() && needed > static_cast<double>(*available)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "MakeSyntheticDataset: ", count, " images of ", channels, " x ", height, " x ", width,
        " floats need ", base::HumanBytes(needed), " of memory, more than the ",
        base::HumanBytes(static_cast<double>(*available)), " available"));
  }

  std::mt19937_64 rng(MixSeed(seed, kSyntheticSalt, 0));
  std::vector<float> prototypes(static_cast<size_t>(num_classes) * elements);
  for (float& p : prototypes) p = static_cast<float>(StandardNormal(rng));

  ImageDataset data;
  data.count = count;
  data.channels = channels;
  data.height = height;
  data.width = width;
  data.num_classes = num_classes;
  // Round-robin classes, shuffled: balanced to within one, in no particular order.
  data.labels.resize(count);
  for (int64_t i = 0; i < count; ++i) data.labels[i] = static_cast<int32_t>(i % num_classes);
  FisherYatesShuffle(rng, &data.labels);

  data.images.resize(count * elements);
  for (int64_t i = 0; i < count; ++i) {
    const float* prototype = prototypes.data() + data.labels[i] * elements;
    float* image = data.images.data() + i * elements;
    for (int64_t e = 0; e < elements; ++e) {
      image[e] = prototype[e] + kSyntheticNoiseStddev * static_cast<float>(StandardNormal(rng));
    }
  }
  return data;
}

Normalization ComputeNormalization(const ImageDataset& data) {
  Normalization norm;
  if (data.images.empty()) return norm;
  const double n = static_cast<double>(data.images.size());
  // Two passes: summing squared deviations from the mean avoids the cancellation of
  // E[x^2] - E[x]^2 when the mean is large next to the spread.
  double sum = 0.0;
  for (float x : data.images) sum += x;
  const double mean = sum / n;
  double squares = 0.0;
  for (float x : data.images) {
    const double d = x - mean;
    squares += d * d;
  }
  norm.mean = static_cast<float>(mean);
  norm.stddev = static_cast<float>(std::max(std::sqrt(squares / n), 1e-6));
  return norm;
}

void Normalize(const Normalization& norm, ImageDataset* data) {
  for (float& x : data->images) x = (x - norm.mean) / norm.stddev;
}

std::vector<int64_t> EpochPermutation(int64_t count, uint64_t seed, int64_t epoch) {
  if (count <= 0) return {};
  std::vector<int64_t> order(count);
  for (int64_t i = 0; i < count; ++i) order[i] = i;
  std::mt19937_64 rng(MixSeed(seed, kEpochSalt, static_cast<uint64_t>(epoch)));
  FisherYatesShuffle(rng, &order);
  return order;
}

absl::Status CheckDataset(const ImageDataset& data, const std::string& what) {
  if (data.count <= 0 || data.channels <= 0 || data.height <= 0 || data.width <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": ", data.count, " examples of ", data.channels, "x", data.height, "x",
        data.width, "; every size must be positive"));
  }
  int64_t elements = 0;
  if (__builtin_mul_overflow(data.image_elements(), data.count, &elements) ||
      static_cast<uint64_t>(elements) != data.images.size() ||
      static_cast<uint64_t>(data.count) != data.labels.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": holds ", data.images.size(), " pixels and ", data.labels.size(),
        " labels for ", data.count, " examples of ", data.channels, "x", data.height, "x",
        data.width));
  }
  for (size_t i = 0; i < data.labels.size(); ++i) {
    if (data.labels[i] < 0 || data.labels[i] >= data.num_classes) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": label ", i, " is ",
                                                     data.labels[i], ", not in [0, ",
                                                     data.num_classes, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSameExampleShape(const ImageDataset& a, const std::string& a_what,
                                   const ImageDataset& b, const std::string& b_what) {
  if (a.channels != b.channels || a.height != b.height || a.width != b.width) {
    return absl::InvalidArgumentError(absl::StrCat(
        b_what, " holds images of ", b.channels, "x", b.height, "x", b.width, " but ", a_what,
        " holds images of ", a.channels, "x", a.height, "x", a.width,
        "; both must have the shape the network is built for"));
  }
  if (b.num_classes > a.num_classes) {
    return absl::InvalidArgumentError(absl::StrCat(b_what, " has ", b.num_classes,
                                                   " classes but ", a_what, " has ",
                                                   a.num_classes));
  }
  return absl::OkStatus();
}

absl::Status GatherBatch(const ImageDataset& data, absl::Span<const int64_t> indices,
                         absl::Span<float> images, absl::Span<int32_t> labels) {
  const int64_t elements = data.image_elements();
  const uint64_t n = indices.size();
  if (images.size() != n * static_cast<uint64_t>(elements) || labels.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GatherBatch: ", n, " examples of ", elements, " pixels need buffers of ",
        n * static_cast<uint64_t>(elements), " pixels and ", n, " labels; got ", images.size(),
        " and ", labels.size()));
  }
  if (data.images.size() < static_cast<uint64_t>(data.count) * elements ||
      data.labels.size() < static_cast<uint64_t>(data.count)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GatherBatch: the data set holds fewer pixels or labels than its ", data.count,
        " examples need"));
  }
  for (const int64_t index : indices) {
    if (index < 0 || index >= data.count) {
      return absl::InvalidArgumentError(absl::StrCat("GatherBatch: example index ", index,
                                                     " is outside [0, ", data.count, ")"));
    }
  }
  for (size_t i = 0; i < n; ++i) {
    std::copy_n(data.images.data() + indices[i] * elements, elements,
                images.data() + i * elements);
    labels[i] = data.labels[indices[i]];
  }
  return absl::OkStatus();
}

std::string DefaultFashionMnistDir() {
  const char* dir = std::getenv("FFTRAIN_FASHION_MNIST_DIR");
  return dir != nullptr && dir[0] != '\0' ? std::string(dir) : std::string(kFashionMnistDir);
}

}  // namespace fftrain::trainer
