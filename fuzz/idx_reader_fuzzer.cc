// Fuzzes the IDX reader (trainer/data/idx_reader.h) through its path-based API.
//
// The input is one IDX file, raw or gzipped. It is read on its own (ReadMaybeGzipped),
// then as the images file of a pair whose labels file agrees with its count, then as the
// labels file of a pair whose images agree, so both header ranks, the gzip path and the
// pair's cross checks all see the fuzzed bytes. Any accepted pair must hold what its
// header promised; the sanitizers catch the rest.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fuzz/fuzz_files.h"
#include "trainer/data/idx_reader.h"

namespace fftrain::fuzz {
namespace {

using ::fftrain::trainer::ImageDataset;

// Companions larger than this are not written; the count check then refuses the pair.
constexpr uint32_t kMaxCompanionCount = 1 << 14;

std::string IdxHeader(int rank, const std::vector<uint32_t>& dims) {
  std::string bytes = {0, 0, 0x08, static_cast<char>(rank)};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(d >> shift));
  }
  return bytes;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "idx_reader_fuzzer: invariant broken: %s\n", what);
    std::abort();
  }
}

void CheckDataset(const ImageDataset& data, int32_t num_classes, int64_t limit) {
  Check(data.count >= 1 && data.channels == 1 && data.height >= 1 && data.width >= 1,
        "positive shape");
  Check(limit <= 0 || data.count <= limit, "limit kept");
  Check(data.num_classes == num_classes, "num_classes kept");
  Check(data.images.size() == static_cast<size_t>(data.count * data.image_elements()),
        "images sized by the header");
  Check(data.labels.size() == static_cast<size_t>(data.count), "one label per image");
  for (float v : data.images) Check(v >= 0.0f && v <= 1.0f, "pixel in [0, 1]");
  for (int32_t label : data.labels) Check(label >= 0 && label < num_classes, "label in range");
}

void FuzzOne(const uint8_t* data, size_t size) {
  const std::string input = WriteFuzzFile("input.idx", data, size);
  // The last byte picks the class count and the limit, so both vary with the input.
  const uint8_t knob = size > 0 ? data[size - 1] : 0;
  const int32_t num_classes = 1 + knob % 16;
  const int64_t limit = static_cast<int64_t>(knob / 16 % 4) - 1;  // -1, 0, 1, 2

  // The count the (decompressed) header claims, for the companion files.
  uint32_t count = 1;
  absl::StatusOr<std::string> plain = trainer::ReadMaybeGzipped(input);
  if (plain.ok() && plain->size() >= 8) {
    const auto* p = reinterpret_cast<const unsigned char*>(plain->data());
    count = (uint32_t{p[4]} << 24) | (uint32_t{p[5]} << 16) | (uint32_t{p[6]} << 8) | p[7];
  }
  if (count == 0 || count > kMaxCompanionCount) count = 1;

  const std::string labels = IdxHeader(1, {count}) + std::string(count, '\0');
  const std::string labels_path = WriteFuzzFile("labels.idx", labels.data(), labels.size());
  absl::StatusOr<trainer::ImageDataset> as_images =
      trainer::ReadIdxPair(input, labels_path, num_classes, limit);
  if (as_images.ok()) CheckDataset(*as_images, num_classes, limit);

  const std::string images = IdxHeader(3, {count, 1, 1}) + std::string(count, '\x80');
  const std::string images_path = WriteFuzzFile("images.idx", images.data(), images.size());
  absl::StatusOr<trainer::ImageDataset> as_labels =
      trainer::ReadIdxPair(images_path, input, num_classes, limit);
  if (as_labels.ok()) CheckDataset(*as_labels, num_classes, limit);
}

}  // namespace
}  // namespace fftrain::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fftrain::fuzz::FuzzOne(data, size);
  return 0;
}
