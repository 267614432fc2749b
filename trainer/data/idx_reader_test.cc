#include "trainer/data/idx_reader.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/data/idx_test_util.h"

namespace fftrain::trainer {
namespace {

using ::fftrain::trainer::test_util::GzipBytes;
using ::fftrain::trainer::test_util::IdxBytes;
using ::fftrain::trainer::test_util::TempPath;
using ::fftrain::trainer::test_util::WriteGzipped;
using ::fftrain::trainer::test_util::WriteRaw;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint8_t kUnsignedByte = 0x08;
constexpr uint32_t kCount = 3, kRows = 2, kCols = 4;

std::vector<uint8_t> Pixels() {
  std::vector<uint8_t> pixels(kCount * kRows * kCols);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 11);
  pixels.back() = 255;
  return pixels;
}

const std::vector<uint8_t> kLabels = {0, 2, 1};

std::string GoodImages() { return IdxBytes(kUnsignedByte, {kCount, kRows, kCols}, Pixels()); }
std::string GoodLabels() { return IdxBytes(kUnsignedByte, {kCount}, kLabels); }

// Writes the good labels file once per test and returns its path.
std::string GoodLabelsPath() {
  const std::string path = TempPath("good-labels-idx1-ubyte");
  WriteRaw(path, GoodLabels());
  return path;
}

std::string GoodImagesPath() {
  const std::string path = TempPath("good-images-idx3-ubyte");
  WriteRaw(path, GoodImages());
  return path;
}

void ExpectGoodPair(const absl::StatusOr<ImageDataset>& read, int64_t count) {
  ASSERT_TRUE(read.ok()) << read.status();
  const ImageDataset& data = *read;
  EXPECT_EQ(data.count, count);
  EXPECT_EQ(data.channels, 1);
  EXPECT_EQ(data.height, kRows);
  EXPECT_EQ(data.width, kCols);
  EXPECT_EQ(data.num_classes, 3);
  EXPECT_EQ(data.image_elements(), kRows * kCols);
  const std::vector<uint8_t> pixels = Pixels();
  ASSERT_EQ(data.images.size(), static_cast<size_t>(count * kRows * kCols));
  for (size_t i = 0; i < data.images.size(); ++i) {
    EXPECT_EQ(data.images[i], pixels[i] / 255.0f) << "pixel " << i;
  }
  EXPECT_EQ(data.images.back() == 1.0f, count == kCount);
  ASSERT_EQ(data.labels.size(), static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) EXPECT_EQ(data.labels[i], kLabels[i]) << "label " << i;
}

// Reads `images` (written raw to a temp file) against the good labels.
absl::Status ReadImagesBytes(const std::string& images) {
  const std::string path = TempPath("images-under-test");
  WriteRaw(path, images);
  return ReadIdxPair(path, GoodLabelsPath(), 3, 0).status();
}

absl::Status ReadLabelsBytes(const std::string& labels, int32_t num_classes = 3) {
  const std::string path = TempPath("labels-under-test");
  WriteRaw(path, labels);
  return ReadIdxPair(GoodImagesPath(), path, num_classes, 0).status();
}

TEST(ReadMaybeGzippedTest, ReadsRawAndGzippedFiles) {
  const std::string content = GoodImages();
  const std::string raw = TempPath("maybe.raw");
  const std::string gz = TempPath("maybe.gz");
  WriteRaw(raw, content);
  WriteGzipped(gz, content);
  absl::StatusOr<std::string> from_raw = ReadMaybeGzipped(raw);
  absl::StatusOr<std::string> from_gz = ReadMaybeGzipped(gz);
  ASSERT_TRUE(from_raw.ok()) << from_raw.status();
  ASSERT_TRUE(from_gz.ok()) << from_gz.status();
  EXPECT_EQ(*from_raw, content);
  EXPECT_EQ(*from_gz, content);
}

TEST(ReadMaybeGzippedTest, ReadsEmptyFile) {
  const std::string path = TempPath("empty");
  WriteRaw(path, "");
  absl::StatusOr<std::string> read = ReadMaybeGzipped(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "");
}

TEST(ReadMaybeGzippedTest, ConcatenatedGzipMembersDecompressAsOne) {
  const std::string path = TempPath("two-members.gz");
  WriteRaw(path, GzipBytes("first half, ") + GzipBytes("second half"));
  absl::StatusOr<std::string> read = ReadMaybeGzipped(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "first half, second half");
}

TEST(ReadMaybeGzippedTest, MissingFileIsNotFound) {
  const std::string path = TempPath("does-not-exist.gz");
  const absl::Status status = ReadMaybeGzipped(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr(path), HasSubstr("cannot open")));
}

TEST(ReadMaybeGzippedTest, DirectoryIsUnreadable) {
  const std::string path = TempPath("");
  const absl::Status status = ReadMaybeGzipped(path).status();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), AllOf(HasSubstr(path), HasSubstr("cannot read")));
}

TEST(ReadMaybeGzippedTest, TruncatedGzipStreamIsDataLoss) {
  const std::string gz = GzipBytes(GoodImages());
  // Every cut past the 10-byte gzip header must be noticed, including the ones that only
  // lose part of the CRC/length trailer.
  for (size_t keep : {gz.size() / 2, gz.size() - 8, gz.size() - 1}) {
    const std::string path = TempPath("cut.gz");
    WriteRaw(path, gz.substr(0, keep));
    const absl::Status status = ReadMaybeGzipped(path).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << "keep " << keep << ": " << status;
    EXPECT_THAT(status.message(), AllOf(HasSubstr(path), HasSubstr("truncated gzip")));
  }
}

TEST(ReadMaybeGzippedTest, CorruptGzipIsDataLoss) {
  std::string gz = GzipBytes(GoodImages());
  gz[gz.size() - 6] ^= 0x55;  // Inside the CRC-32 of the trailer.
  const std::string path = TempPath("corrupt.gz");
  WriteRaw(path, gz);
  const absl::Status status = ReadMaybeGzipped(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr(path), HasSubstr("corrupt gzip")));
}

TEST(ReadMaybeGzippedTest, GarbageAfterGzipStreamIsDataLoss) {
  const std::string path = TempPath("garbage-after.gz");
  WriteRaw(path, GzipBytes(GoodImages()) + "junk");
  const absl::Status status = ReadMaybeGzipped(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(path), HasSubstr("4 trailing bytes after the end of the gzip")));
}

TEST(ReadIdxPairTest, GoodRawPairReadsBackExactly) {
  ExpectGoodPair(ReadIdxPair(GoodImagesPath(), GoodLabelsPath(), 3, 0), kCount);
}

TEST(ReadIdxPairTest, GoodGzippedPairReadsBackExactly) {
  const std::string images = TempPath("gz-images-idx3-ubyte.gz");
  const std::string labels = TempPath("gz-labels-idx1-ubyte.gz");
  WriteGzipped(images, GoodImages());
  WriteGzipped(labels, GoodLabels());
  ExpectGoodPair(ReadIdxPair(images, labels, 3, 0), kCount);
  // One of each is fine too.
  ExpectGoodPair(ReadIdxPair(images, GoodLabelsPath(), 3, 0), kCount);
}

TEST(ReadIdxPairTest, LimitKeepsTheFirstExamples) {
  ExpectGoodPair(ReadIdxPair(GoodImagesPath(), GoodLabelsPath(), 3, 1), 1);
  ExpectGoodPair(ReadIdxPair(GoodImagesPath(), GoodLabelsPath(), 3, 2), 2);
  ExpectGoodPair(ReadIdxPair(GoodImagesPath(), GoodLabelsPath(), 3, kCount), kCount);
  ExpectGoodPair(ReadIdxPair(GoodImagesPath(), GoodLabelsPath(), 3, 1000), kCount);
  ExpectGoodPair(ReadIdxPair(GoodImagesPath(), GoodLabelsPath(), 3, -1), kCount);
}

TEST(ReadIdxPairTest, MissingFilesAreNotFound) {
  const std::string missing = TempPath("missing-idx");
  absl::Status status = ReadIdxPair(missing, GoodLabelsPath(), 3, 0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(status.message(), HasSubstr("images file '" + missing + "'"));
  status = ReadIdxPair(GoodImagesPath(), missing, 3, 0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(status.message(), HasSubstr("labels file '" + missing + "'"));
}

TEST(ReadIdxPairTest, NeitherGzipNorIdx) {
  const absl::Status status = ReadImagesBytes("hello, world\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr("images-under-test"), HasSubstr("neither gzip"),
                                      HasSubstr("expected magic 0x00000803")));
}

TEST(ReadIdxPairTest, BadMagicInsideGzip) {
  const std::string path = TempPath("bad-magic.gz");
  std::string bytes = GoodLabels();
  bytes[0] = 0x01;
  WriteGzipped(path, bytes);
  const absl::Status status = ReadIdxPair(GoodImagesPath(), path, 3, 0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(path), HasSubstr("bad magic"), HasSubstr("decompressed content"),
                    HasSubstr("expected magic 0x00000801")));
}

TEST(ReadIdxPairTest, WrongDataType) {
  const absl::Status status = ReadImagesBytes(IdxBytes(0x0D, {kCount, kRows, kCols}, Pixels()));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("images-under-test"), HasSubstr("data type byte 0x0D"),
                    HasSubstr("must be 0x08 (unsigned byte)")));
}

TEST(ReadIdxPairTest, WrongNumberOfDimensions) {
  // A labels file where the images belong, and the other way round.
  absl::Status status = ReadImagesBytes(GoodLabels());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr("images-under-test"),
                                      HasSubstr("says 1 dimension,"), HasSubstr("must have 3")));
  status = ReadLabelsBytes(GoodImages());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr("labels-under-test"),
                                      HasSubstr("says 3 dimensions"), HasSubstr("must have 1")));
}

TEST(ReadIdxPairTest, ZeroDimension) {
  absl::Status status = ReadImagesBytes(IdxBytes(kUnsignedByte, {kCount, 0, kCols}, {}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("images-under-test"), HasSubstr("dimension 1 (rows) is 0")));
  status = ReadLabelsBytes(IdxBytes(kUnsignedByte, {0}, {}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("labels-under-test"), HasSubstr("dimension 0 (count) is 0")));
}

TEST(ReadIdxPairTest, OverflowingDimensions) {
  const absl::Status status =
      ReadImagesBytes(IdxBytes(kUnsignedByte, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, {}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr("images-under-test"), HasSubstr("overflow")));
}

TEST(ReadIdxPairTest, TruncatedRawFile) {
  std::string bytes = GoodImages();
  bytes.pop_back();
  absl::Status status = ReadImagesBytes(bytes);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("images-under-test"), HasSubstr("truncated"),
                    HasSubstr("promises 3 x 2 x 4 = 24 data bytes"), HasSubstr("only 23")));
  // Cut inside the header, and inside the magic.
  status = ReadImagesBytes(GoodImages().substr(0, 9));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr("truncated"), HasSubstr("16-byte header")));
  status = ReadImagesBytes(std::string(2, '\0'));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr("truncated"), HasSubstr("4-byte IDX magic")));
}

TEST(ReadIdxPairTest, GzippedTruncatedContent) {
  // A clean gzip stream whose content is shorter than its IDX header promises.
  std::string bytes = GoodLabels();
  bytes.pop_back();
  const std::string path = TempPath("short-labels.gz");
  WriteGzipped(path, bytes);
  const absl::Status status = ReadIdxPair(GoodImagesPath(), path, 3, 0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(path), HasSubstr("truncated"), HasSubstr("decompressed content")));
}

TEST(ReadIdxPairTest, TruncatedGzipStream) {
  const std::string gz = GzipBytes(GoodImages());
  const std::string path = TempPath("cut-images.gz");
  WriteRaw(path, gz.substr(0, gz.size() - 3));
  const absl::Status status = ReadIdxPair(path, GoodLabelsPath(), 3, 0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("images file '" + path + "'"), HasSubstr("truncated gzip")));
}

TEST(ReadIdxPairTest, ExtraTrailingBytes) {
  absl::Status status = ReadImagesBytes(GoodImages() + "xy");
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("images-under-test"), HasSubstr("2 extra trailing bytes")));
  const std::string path = TempPath("long-labels.gz");
  WriteGzipped(path, GoodLabels() + "z");
  status = ReadIdxPair(GoodImagesPath(), path, 3, 0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr(path), HasSubstr("1 extra trailing byte")));
}

TEST(ReadIdxPairTest, CountMismatch) {
  const absl::Status status = ReadLabelsBytes(IdxBytes(kUnsignedByte, {2}, {0, 1}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr("holds 3 images"), HasSubstr("holds 2 labels"),
                                      HasSubstr("labels-under-test")));
}

TEST(ReadIdxPairTest, LabelOutOfRange) {
  absl::Status status = ReadLabelsBytes(IdxBytes(kUnsignedByte, {kCount}, {0, 7, 1}));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("labels-under-test"), HasSubstr("index 1 has value 7"),
                    HasSubstr("num_classes = 3")));
  // Label 2 is fine with 3 classes but not with 2, even when the limit would drop it.
  status = ReadIdxPair(GoodImagesPath(), GoodLabelsPath(), 2, 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr("index 1 has value 2"));
}

TEST(ReadIdxPairTest, NonPositiveNumClasses) {
  const absl::Status status = ReadIdxPair(GoodImagesPath(), GoodLabelsPath(), 0, 0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr("num_classes must be >= 1, got 0"));
}

// Issue 17, defect 3: what is not a regular file is refused when opened. /dev/zero was read
// without end, and a FIFO blocked forever.
TEST(ReadIdxPairTest, NonRegularFilesAreRefusedAtOnce) {
  const std::string fifo = TempPath("a-fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& path : {std::string("/dev/zero"), fifo, TempPath("")}) {
    absl::Status status = ReadIdxPair(path, GoodLabelsPath(), 3, 0).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(), AllOf(HasSubstr("images file '" + path + "'"),
                                        HasSubstr("not a regular file")));
    status = ReadIdxPair(GoodImagesPath(), path, 3, 0).status();
    EXPECT_THAT(status.message(), AllOf(HasSubstr("labels file '" + path + "'"),
                                        HasSubstr("not a regular file")));
    EXPECT_THAT(ReadMaybeGzipped(path).status().message(), HasSubstr("not a regular file"));
  }
  EXPECT_THAT(ReadMaybeGzipped("/dev/zero").status().message(),
              HasSubstr("it is a character device"));
  EXPECT_THAT(ReadMaybeGzipped(fifo).status().message(), HasSubstr("it is a FIFO"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// A gzip stream of `content` followed by `zeros` zero bytes, deflated piece by piece so
// that the test never holds the inflated size.
std::string GzipBomb(const std::string& content, size_t zeros) {
  z_stream stream = {};
  EXPECT_EQ(deflateInit2(&stream, 1, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out;
  std::vector<unsigned char> buffer(1 << 16);
  const std::vector<unsigned char> zero_piece(1 << 20, 0);
  auto feed = [&](const unsigned char* data, size_t n, int flush) {
    stream.next_in = const_cast<unsigned char*>(data);
    stream.avail_in = static_cast<uInt>(n);
    do {
      stream.next_out = buffer.data();
      stream.avail_out = static_cast<uInt>(buffer.size());
      deflate(&stream, flush);
      out.append(reinterpret_cast<char*>(buffer.data()), buffer.size() - stream.avail_out);
    } while (stream.avail_out == 0);
  };
  feed(reinterpret_cast<const unsigned char*>(content.data()), content.size(), Z_NO_FLUSH);
  for (size_t left = zeros; left > 0;) {
    const size_t n = std::min(left, zero_piece.size());
    feed(zero_piece.data(), n, Z_NO_FLUSH);
    left -= n;
  }
  feed(nullptr, 0, Z_FINISH);
  deflateEnd(&stream);
  return out;
}

int64_t PeakResidentKiB() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// Issue 17, defect 3: the gzip reader inflated a whole stream before comparing it with the
// header (a 4 MB bomb reached 8 GB). Reading now stops at what the header promises: 512 MiB
// of zeros after a valid 3-image file cost at most a few MiB and are refused.
TEST(ReadIdxPairTest, GzipBombStopsAtTheHeadersPromise) {
  const std::string path = TempPath("bomb-images.gz");
  WriteRaw(path, GzipBomb(GoodImages(), size_t{512} << 20));
  const int64_t before = PeakResidentKiB();
  const absl::Status status = ReadIdxPair(path, GoodLabelsPath(), 3, 0).status();
  const int64_t grown_mib = (PeakResidentKiB() - before) >> 10;
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("images file '" + path + "'"),
                    HasSubstr("more than 1048576 extra trailing bytes after the 24 data bytes")));
  EXPECT_LT(grown_mib, 64) << "reading the bomb took " << grown_mib << " MiB";
}

// Found by the fuzzer (CI, issue 17): a 31-byte gzip file whose header promised 65537 x
// 65537 pixels passed the memory check, and the reader zeroed 17 GB of floats before the
// stream ran out. A gzipped header is now held to what deflate can expand its file to
// (1032:1) before any buffer is sized; here 4 x 4096 x 4096 pixels (256 MiB of floats, which
// any machine running the tests can hold) from a file of a few dozen bytes.
TEST(ReadIdxPairTest, GzipHeaderPromisingMoreThanTheFileCanInflateTo) {
  const std::string path = TempPath("short-promise-images.gz");
  WriteGzipped(path, IdxBytes(kUnsignedByte, {4, 4096, 4096}, {1, 2, 3}));
  const std::string labels = TempPath("short-promise-labels.gz");
  WriteGzipped(labels, IdxBytes(kUnsignedByte, {4}, {0, 1, 2, 0}));
  const int64_t before = PeakResidentKiB();
  const absl::Status status = ReadIdxPair(path, labels, 3, 0).status();
  const int64_t grown_mib = (PeakResidentKiB() - before) >> 10;
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("images file '" + path + "'"), HasSubstr("truncated"),
                    HasSubstr("= 67108864 data bytes, but a gzip file of"),
                    HasSubstr("inflates to at most")));
  EXPECT_LT(grown_mib, 64) << "refusing the header took " << grown_mib << " MiB";
  // The same holds for labels.
  WriteGzipped(labels, IdxBytes(kUnsignedByte, {kCount * 100000}, kLabels));
  WriteRaw(path, IdxBytes(kUnsignedByte, {kCount * 100000, 1, 1},
                          std::vector<uint8_t>(kCount * 100000, 7)));
  const absl::Status labels_status = ReadIdxPair(path, labels, 3, 0).status();
  EXPECT_EQ(labels_status.code(), absl::StatusCode::kDataLoss) << labels_status;
  EXPECT_THAT(labels_status.message(),
              AllOf(HasSubstr("labels file '" + labels + "'"), HasSubstr("inflates to at most")));
}

// A header that promises more than the machine holds is refused before anything is
// inflated or allocated (ResourceExhausted), however the stream goes on.
TEST(ReadIdxPairTest, HeaderPromisingMoreThanMemoryIsRefusedBeforeReading) {
  const std::string header = IdxBytes(kUnsignedByte, {0xFFFFFFu, 0xFFFFu, 0xFFFFu}, {});
  const std::string path = TempPath("huge-images.gz");
  WriteRaw(path, GzipBomb(header, size_t{256} << 20));
  const std::string labels = TempPath("huge-labels.gz");  // gzipped: its size is unknown
  WriteRaw(labels, GzipBomb(IdxBytes(kUnsignedByte, {0xFFFFFFu}, {}), 0));
  const int64_t before = PeakResidentKiB();
  const absl::Status status = ReadIdxPair(path, labels, 3, 0).status();
  const int64_t grown_mib = (PeakResidentKiB() - before) >> 10;
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr("images file '" + path + "'"),
                                      HasSubstr("of memory, more than the")));
  EXPECT_LT(grown_mib, 64) << "refusing the header took " << grown_mib << " MiB";
  // A raw file is compared with its header before its payload is read.
  WriteRaw(path, GoodImages() + std::string(1 << 20, '\0'));
  EXPECT_THAT(ReadIdxPair(path, GoodLabelsPath(), 3, 0).status().message(),
              HasSubstr("1048576 extra trailing bytes after the 24 data bytes"));
}

}  // namespace
}  // namespace fftrain::trainer
