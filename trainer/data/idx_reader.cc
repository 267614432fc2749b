#include "trainer/data/idx_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace fftrain::trainer {
namespace {

constexpr unsigned char kGzipMagic0 = 0x1f;
constexpr unsigned char kGzipMagic1 = 0x8b;
constexpr unsigned char kIdxUnsignedByte = 0x08;

// Largest decoded buffer we accept; leaves headroom below 2^63 for byte arithmetic.
constexpr int64_t kMaxBytes = int64_t{1} << 62;

struct FileContents {
  std::string bytes;
  bool gzipped = false;
};

bool StartsWithGzipMagic(const std::string& bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == kGzipMagic0 &&
         static_cast<unsigned char>(bytes[1]) == kGzipMagic1;
}

absl::StatusOr<std::string> ReadRawFile(const std::string& path) {
  errno = 0;
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (file == nullptr) {
    const int error = errno;
    return absl::ErrnoToStatus(error, absl::StrCat("'", path, "': cannot open"));
  }
  std::string bytes;
  char buffer[1 << 16];
  while (true) {
    const size_t got = std::fread(buffer, 1, sizeof(buffer), file.get());
    bytes.append(buffer, got);
    if (got < sizeof(buffer)) break;
  }
  // fopen succeeds on a directory; the read is what fails (EISDIR), so check here too.
  if (std::ferror(file.get())) {
    const int error = errno;
    return absl::ErrnoToStatus(error, absl::StrCat("'", path, "': cannot read"));
  }
  return bytes;
}

// Inflates every gzip member of `compressed`. inflate() with a gzip window checks each
// member's CRC-32 and length, so corruption surfaces as Z_DATA_ERROR; a stream that runs out
// of input before its end marker is a truncated file.
absl::StatusOr<std::string> Gunzip(const std::string& path, const std::string& compressed) {
  z_stream stream;
  std::memset(&stream, 0, sizeof(stream));
  // 15 window bits plus 16: expect a gzip header and trailer, not a zlib one.
  if (inflateInit2(&stream, 15 + 16) != Z_OK) {
    return absl::InternalError(absl::StrCat("'", path, "': zlib inflateInit2 failed"));
  }
  std::unique_ptr<z_stream, int (*)(z_stream*)> cleanup(&stream, &inflateEnd);

  const auto* input = reinterpret_cast<const Bytef*>(compressed.data());
  const size_t input_size = compressed.size();
  size_t fed = 0;  // Bytes of `compressed` handed to zlib so far.
  std::string out;
  unsigned char buffer[1 << 16];
  while (true) {
    if (stream.avail_in == 0 && fed < input_size) {
      // avail_in is 32-bit, so very large files go in slices.
      const size_t slice = std::min<size_t>(input_size - fed, size_t{1} << 30);
      stream.next_in = const_cast<Bytef*>(input + fed);
      stream.avail_in = static_cast<uInt>(slice);
      fed += slice;
    }
    stream.next_out = buffer;
    stream.avail_out = sizeof(buffer);
    const int ret = inflate(&stream, Z_NO_FLUSH);
    const size_t produced = sizeof(buffer) - stream.avail_out;
    if (static_cast<int64_t>(out.size() + produced) > kMaxBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "': decompressed size exceeds ", kMaxBytes, " bytes"));
    }
    out.append(reinterpret_cast<const char*>(buffer), produced);
    if (ret == Z_OK) continue;
    if (ret == Z_STREAM_END) {
      const size_t consumed = fed - stream.avail_in;
      if (consumed == input_size) return out;
      // gzip(1) decompresses concatenated members as one file; do the same.
      if (input_size - consumed >= 2 &&
          static_cast<unsigned char>(compressed[consumed]) == kGzipMagic0 &&
          static_cast<unsigned char>(compressed[consumed + 1]) == kGzipMagic1) {
        if (inflateReset(&stream) != Z_OK) {
          return absl::InternalError(absl::StrCat("'", path, "': zlib inflateReset failed"));
        }
        continue;
      }
      return absl::DataLossError(
          absl::StrCat("'", path, "': ", input_size - consumed,
                       " trailing bytes after the end of the gzip stream (at compressed offset ",
                       consumed, ") that are not another gzip member"));
    }
    if (ret == Z_BUF_ERROR && stream.avail_in == 0 && fed == input_size) {
      return absl::DataLossError(
          absl::StrCat("'", path, "': truncated gzip stream: the ", input_size,
                       " compressed bytes end before the gzip end-of-stream marker (", out.size(),
                       " bytes decompressed so far)"));
    }
    if (ret == Z_MEM_ERROR) {
      return absl::ResourceExhaustedError(
          absl::StrCat("'", path, "': out of memory while decompressing"));
    }
    return absl::DataLossError(absl::StrCat(
        "'", path, "': corrupt gzip stream at compressed offset ", fed - stream.avail_in, ": ",
        stream.msg != nullptr ? stream.msg : absl::StrCat("zlib error ", ret)));
  }
}

absl::StatusOr<FileContents> ReadFileContents(const std::string& path) {
  FileContents contents;
  FFTRAIN_ASSIGN_OR_RETURN(contents.bytes, ReadRawFile(path));
  if (StartsWithGzipMagic(contents.bytes)) {
    contents.gzipped = true;
    FFTRAIN_ASSIGN_OR_RETURN(contents.bytes, Gunzip(path, contents.bytes));
  }
  return contents;
}

// Keeps the code of `status`, with `prefix` in front of its message.
absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

uint32_t BigEndianU32(const std::string& bytes, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + offset);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

const char* IdxTypeName(unsigned char type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "16-bit integer";
    case 0x0C:
      return "32-bit integer";
    case 0x0D:
      return "32-bit float";
    case 0x0E:
      return "64-bit double";
    default:
      return "unknown type";
  }
}

// One decoded IDX file: its dimensions and where its unsigned-byte payload starts.
struct IdxArray {
  std::vector<int64_t> dims;
  size_t data_offset = 0;
  int64_t elements = 0;
};

// Checks the header of an unsigned-byte IDX file with `expected_rank` dimensions, and that
// the file holds exactly the bytes its header promises. `what` names the file in errors;
// `dim_names` names each dimension for the zero-dimension error.
absl::StatusOr<IdxArray> ParseIdx(const std::string& what, const FileContents& file,
                                  int expected_rank, const std::vector<const char*>& dim_names) {
  const std::string& bytes = file.bytes;
  const uint32_t expected_magic = (uint32_t{kIdxUnsignedByte} << 8) | expected_rank;
  const std::string content = file.gzipped ? "decompressed content" : "file";
  const auto expected = [&] {
    return absl::StrFormat("expected magic 0x%08X (IDX, unsigned bytes, %d dimension%s)",
                           expected_magic, expected_rank, expected_rank == 1 ? "" : "s");
  };

  // An IDX magic starts with two zero bytes; anything else is not IDX at all.
  const size_t lead = std::min<size_t>(bytes.size(), 2);
  for (size_t i = 0; i < lead; ++i) {
    if (bytes[i] != 0) {
      std::string seen;
      for (size_t j = 0; j < std::min<size_t>(bytes.size(), 4); ++j) {
        absl::StrAppendFormat(&seen, "%02x", static_cast<unsigned char>(bytes[j]));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": bad magic: the ", content, " starts with bytes ", seen, "; ", expected(),
          file.gzipped ? "" : ". It is neither gzip (1f 8b) nor IDX (00 00 ...)"));
    }
  }
  if (bytes.size() < 4) {
    return absl::DataLossError(absl::StrCat(what, ": truncated: the ", content, " has ",
                                            bytes.size(),
                                            " bytes, fewer than the 4-byte IDX magic"));
  }
  const uint32_t magic = BigEndianU32(bytes, 0);
  const auto type = static_cast<unsigned char>(bytes[2]);
  const int rank = static_cast<unsigned char>(bytes[3]);
  if (type != kIdxUnsignedByte) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: magic 0x%08X has data type byte 0x%02X (%s); the data type must "
                        "be 0x08 (unsigned byte): %s",
                        what, magic, type, IdxTypeName(type), expected()));
  }
  if (rank != expected_rank) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: magic 0x%08X says %d dimension%s, but this file must have %d: %s",
                        what, magic, rank, rank == 1 ? "" : "s", expected_rank, expected()));
  }

  IdxArray array;
  array.data_offset = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < array.data_offset) {
    return absl::DataLossError(absl::StrCat(
        what, ": truncated: the ", content, " has ", bytes.size(), " bytes, fewer than the ",
        array.data_offset, "-byte header of ", rank, " dimensions"));
  }
  array.elements = 1;
  bool overflow = false;
  for (int d = 0; d < rank; ++d) {
    const int64_t dim = BigEndianU32(bytes, 4 + 4 * d);
    if (dim == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": dimension ", d, " (", dim_names[d], ") is 0"));
    }
    array.dims.push_back(dim);
    overflow = overflow || __builtin_mul_overflow(array.elements, dim, &array.elements) ||
               array.elements > kMaxBytes;
  }
  if (overflow) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": dimensions ", absl::StrJoin(array.dims, " x "), " overflow 64-bit byte counts"));
  }
  const int64_t payload = static_cast<int64_t>(bytes.size() - array.data_offset);
  if (payload < array.elements) {
    return absl::DataLossError(absl::StrCat(what, ": truncated: header promises ",
                                            absl::StrJoin(array.dims, " x "), " = ", array.elements,
                                            " data bytes, the ", content, " holds only ", payload));
  }
  if (payload > array.elements) {
    return absl::DataLossError(absl::StrCat(
        what, ": ", payload - array.elements, " extra trailing bytes after the ", array.elements,
        " data bytes (", absl::StrJoin(array.dims, " x "), ") the header promises"));
  }
  return array;
}

}  // namespace

absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path) {
  FFTRAIN_ASSIGN_OR_RETURN(FileContents contents, ReadFileContents(path));
  return std::move(contents.bytes);
}

absl::StatusOr<ImageDataset> ReadIdxPair(const std::string& images_path,
                                         const std::string& labels_path, int32_t num_classes,
                                         int64_t limit) {
  const std::string images_what = absl::StrCat("images file '", images_path, "'");
  const std::string labels_what = absl::StrCat("labels file '", labels_path, "'");
  if (num_classes < 1) {
    return absl::InvalidArgumentError(absl::StrCat("reading ", images_what, " and ", labels_what,
                                                   ": num_classes must be >= 1, got ",
                                                   num_classes));
  }

  absl::StatusOr<FileContents> images_file = ReadFileContents(images_path);
  if (!images_file.ok()) return Prefixed("images file ", images_file.status());
  FFTRAIN_ASSIGN_OR_RETURN(const IdxArray images,
                           ParseIdx(images_what, *images_file, 3, {"count", "rows", "cols"}));
  absl::StatusOr<FileContents> labels_file = ReadFileContents(labels_path);
  if (!labels_file.ok()) return Prefixed("labels file ", labels_file.status());
  FFTRAIN_ASSIGN_OR_RETURN(const IdxArray labels,
                           ParseIdx(labels_what, *labels_file, 1, {"count"}));

  const int64_t count = images.dims[0];
  if (labels.dims[0] != count) {
    return absl::InvalidArgumentError(absl::StrCat(images_what, " holds ", count, " images but ",
                                                   labels_what, " holds ", labels.dims[0],
                                                   " labels"));
  }
  // All labels, not just the kept ones: a damaged file should fail whatever the limit.
  const auto* label_bytes =
      reinterpret_cast<const unsigned char*>(labels_file->bytes.data() + labels.data_offset);
  for (int64_t i = 0; i < count; ++i) {
    if (label_bytes[i] >= num_classes) {
      return absl::InvalidArgumentError(absl::StrCat(labels_what, ": label at index ", i,
                                                     " has value ", label_bytes[i],
                                                     ", not below num_classes = ", num_classes));
    }
  }

  ImageDataset data;
  data.count = limit > 0 ? std::min(limit, count) : count;
  data.channels = 1;
  data.height = images.dims[1];
  data.width = images.dims[2];
  data.num_classes = num_classes;
  const int64_t elements = data.count * data.image_elements();
  const auto* pixels =
      reinterpret_cast<const unsigned char*>(images_file->bytes.data() + images.data_offset);
  data.images.resize(elements);
  for (int64_t i = 0; i < elements; ++i) data.images[i] = pixels[i] / 255.0f;
  data.labels.assign(label_bytes, label_bytes + data.count);
  return data;
}

}  // namespace fftrain::trainer
