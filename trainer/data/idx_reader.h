// Reading labelled image sets stored as IDX pairs (the MNIST file format), plain or gzipped.
#ifndef FFTRAIN_TRAINER_DATA_IDX_READER_H_
#define FFTRAIN_TRAINER_DATA_IDX_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fftrain::trainer {

// Images as floats, count x channels x height x width (NCHW), and int32 labels.
struct ImageDataset {
  int64_t count = 0, channels = 0, height = 0, width = 0;
  int32_t num_classes = 0;
  std::vector<float> images;    // count * image_elements()
  std::vector<int32_t> labels;  // count, each in [0, num_classes)
  int64_t image_elements() const { return channels * height * width; }
};

// Reads a whole file, gunzipping it when it starts with the gzip magic (1f 8b), else raw.
// A gzip stream must end cleanly (end marker, matching CRC and length): a truncated or
// corrupt one is DataLoss. Several gzip members in a row are decompressed one after another,
// as gzip itself does; anything else after the last member is DataLoss. Only regular files
// are read: a directory, FIFO or device (/dev/zero) is InvalidArgument at once, without
// blocking or reading. ResourceExhausted when the content outgrows the available memory.
absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path);

// An IDX pair (MNIST format): images idx3 (magic 0x00000803, u8 pixels, dims count x rows x
// cols, big-endian) and labels idx1 (magic 0x00000801). Pixels become floats in [0, 1]
// (value / 255), channels = 1. `limit` > 0 keeps the first `limit` examples (limit larger
// than the file -> all, no error); `limit` <= 0 keeps all. Every label in the file is
// checked against `num_classes`, kept or not, so a damaged file fails whatever the limit.
// Both headers are read and checked first (regular files, magic, dimensions, equal counts,
// an uncompressed file's size against the promise, and the kept data against the memory
// available: ResourceExhausted), before any buffer is sized from them. Payloads are then
// read in pieces, and reading stops at what the header promises: more content is DataLoss
// after at most 1 MiB of it, so a gzip bomb never inflates beyond its header's promise.
absl::StatusOr<ImageDataset> ReadIdxPair(const std::string& images_path,
                                         const std::string& labels_path, int32_t num_classes,
                                         int64_t limit);

}  // namespace fftrain::trainer

#endif  // FFTRAIN_TRAINER_DATA_IDX_READER_H_
