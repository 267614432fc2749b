#include "trainer/data/idx_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/system_memory.h"

namespace fftrain::trainer {
namespace {

constexpr unsigned char kGzipMagic0 = 0x1f;
constexpr unsigned char kGzipMagic1 = 0x8b;
constexpr unsigned char kIdxUnsignedByte = 0x08;

// Largest decoded buffer we accept; leaves headroom below 2^63 for byte arithmetic.
constexpr int64_t kMaxBytes = int64_t{1} << 62;
// Payloads are read, checked and converted in pieces of this size, so reading never holds
// more than the kept data plus one piece.
constexpr size_t kChunkBytes = size_t{1} << 20;
// After the payload, at most this much more is read to count trailing bytes.
constexpr int64_t kMaxTrailingCount = int64_t{1} << 20;
// Deflate's largest expansion: a 258-byte match coded in 2 bits, 1032 bytes per compressed
// byte. Gzip members only add headers, so no gzip file inflates to more than this many
// times its size.
constexpr uint64_t kMaxDeflateRatio = 1032;

// Keeps the code of `status`, with `prefix` in front of its message.
absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// The bytes of a file as they are read, gunzipped on the fly when the file starts with the
// gzip magic (1f 8b). Only regular files are read: a FIFO, a device (/dev/zero) or a
// directory is refused when opened, before anything blocks or runs without end. Nothing
// is buffered beyond one piece of compressed input, so the caller decides how much memory
// a read takes.
class Source {
 public:
  static absl::StatusOr<std::unique_ptr<Source>> Open(const std::string& path) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("'", path, "': cannot open"));
    }
    auto source = std::unique_ptr<Source>(new Source(path, fd));
    struct stat info;
    if (::fstat(fd, &info) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("'", path, "': cannot read"));
    }
    if (!S_ISREG(info.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", path, "': cannot read: it is ", FileKind(info.st_mode),
          ", not a regular file (data sets are read from regular files only)"));
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    source->file_size_ = static_cast<uint64_t>(info.st_size);
    // Sniff the gzip magic; the bytes read stay in the input buffer for either path.
    FFTRAIN_RETURN_IF_ERROR(source->FillInput(2));
    source->gzipped_ = source->in_size_ - source->in_pos_ >= 2 &&
                       source->in_[source->in_pos_] == kGzipMagic0 &&
                       source->in_[source->in_pos_ + 1] == kGzipMagic1;
    if (source->gzipped_) {
      // 15 window bits plus 16: expect a gzip header and trailer, not a zlib one. inflate()
      // then checks each member's CRC-32 and length.
      if (inflateInit2(&source->stream_, 15 + 16) != Z_OK) {
        return absl::InternalError(absl::StrCat("'", path, "': zlib inflateInit2 failed"));
      }
      source->inflating_ = true;
    }
    return source;
  }

  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;
  ~Source() {
    if (inflating_) inflateEnd(&stream_);
    ::close(fd_);
  }

  bool gzipped() const { return gzipped_; }
  uint64_t file_size() const { return file_size_; }
  const std::string& path() const { return path_; }

  // Reads up to `n` bytes of content into `out`; fewer only at the end of the content.
  absl::StatusOr<size_t> Read(unsigned char* out, size_t n) {
    return gzipped_ ? Inflate(out, n) : ReadRaw(out, n);
  }

 private:
  Source(std::string path, int fd) : path_(std::move(path)), fd_(fd) {
    std::memset(&stream_, 0, sizeof(stream_));
  }

  // Makes at least `want` unread bytes of the file available in in_ (fewer at its end).
  absl::Status FillInput(size_t want) {
    if (in_size_ - in_pos_ >= want || eof_) return absl::OkStatus();
    std::memmove(in_, in_ + in_pos_, in_size_ - in_pos_);
    in_size_ -= in_pos_;
    in_pos_ = 0;
    while (in_size_ < want && !eof_) {
      const ssize_t got = ::read(fd_, in_ + in_size_, sizeof(in_) - in_size_);
      if (got < 0) {
        if (errno == EINTR) continue;
        return absl::ErrnoToStatus(errno, absl::StrCat("'", path_, "': cannot read"));
      }
      if (got == 0) eof_ = true;
      in_size_ += static_cast<size_t>(got);
      fed_ += static_cast<uint64_t>(got);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> ReadRaw(unsigned char* out, size_t n) {
    size_t done = 0;
    while (done < n) {
      FFTRAIN_RETURN_IF_ERROR(FillInput(1));
      const size_t take = std::min(n - done, in_size_ - in_pos_);
      if (take == 0) break;  // the end of the file
      std::memcpy(out + done, in_ + in_pos_, take);
      in_pos_ += take;
      done += take;
    }
    return done;
  }

  // Offset in the file of the next compressed byte zlib has not consumed.
  uint64_t Consumed() const { return fed_ - (in_size_ - in_pos_); }

  absl::StatusOr<size_t> Inflate(unsigned char* out, size_t n) {
    size_t done = 0;
    while (done < n && !ended_) {
      if (in_pos_ == in_size_) FFTRAIN_RETURN_IF_ERROR(FillInput(1));
      stream_.next_in = in_ + in_pos_;
      stream_.avail_in = static_cast<uInt>(in_size_ - in_pos_);
      const size_t room = std::min<size_t>(n - done, UINT_MAX);
      stream_.next_out = out + done;
      stream_.avail_out = static_cast<uInt>(room);
      const int ret = inflate(&stream_, Z_NO_FLUSH);
      in_pos_ = in_size_ - stream_.avail_in;
      done += room - stream_.avail_out;
      inflated_ += room - stream_.avail_out;
      if (ret == Z_OK) continue;
      if (ret == Z_STREAM_END) {
        FFTRAIN_RETURN_IF_ERROR(NextMember());
        continue;
      }
      if (ret == Z_BUF_ERROR && in_pos_ == in_size_) {
        if (!eof_) continue;  // more input to come
        return absl::DataLossError(absl::StrCat(
            "'", path_, "': truncated gzip stream: the ", fed_,
            " compressed bytes end before the gzip end-of-stream marker (", inflated_,
            " bytes decompressed so far)"));
      }
      if (ret == Z_MEM_ERROR) {
        return absl::ResourceExhaustedError(
            absl::StrCat("'", path_, "': out of memory while decompressing"));
      }
      return absl::DataLossError(absl::StrCat(
          "'", path_, "': corrupt gzip stream at compressed offset ", Consumed(), ": ",
          stream_.msg != nullptr ? stream_.msg : absl::StrCat("zlib error ", ret)));
    }
    return done;
  }

  // After a member's end: the end of the content, another member (gzip(1) decompresses
  // concatenated members as one file; so do we), or garbage, which is DataLoss.
  absl::Status NextMember() {
    FFTRAIN_RETURN_IF_ERROR(FillInput(2));
    const size_t left = in_size_ - in_pos_;
    if (left == 0) {
      ended_ = true;
      return absl::OkStatus();
    }
    if (left >= 2 && in_[in_pos_] == kGzipMagic0 && in_[in_pos_ + 1] == kGzipMagic1) {
      if (inflateReset(&stream_) != Z_OK) {
        return absl::InternalError(absl::StrCat("'", path_, "': zlib inflateReset failed"));
      }
      return absl::OkStatus();
    }
    const uint64_t consumed = Consumed();
    const uint64_t trailing = std::max<uint64_t>(file_size_, fed_) - consumed;
    return absl::DataLossError(
        absl::StrCat("'", path_, "': ", trailing,
                     " trailing bytes after the end of the gzip stream (at compressed offset ",
                     consumed, ") that are not another gzip member"));
  }

  std::string path_;
  int fd_;
  uint64_t file_size_ = 0;
  bool gzipped_ = false;
  // Compressed (or raw) input: in_[in_pos_, in_size_) is read from the file, not yet used.
  unsigned char in_[1 << 16];
  size_t in_pos_ = 0, in_size_ = 0;
  uint64_t fed_ = 0;  // bytes read from the file so far
  bool eof_ = false;
  z_stream stream_;
  bool inflating_ = false;
  bool ended_ = false;     // the last gzip member has ended
  uint64_t inflated_ = 0;  // bytes decompressed so far
};

uint32_t BigEndianU32(const unsigned char* p) {
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

// An IDX file whose header has been read: its dimensions; the payload follows in `source`.
struct IdxFile {
  std::unique_ptr<Source> source;
  std::string what;  // "images file '...'", for messages
  std::vector<int64_t> dims;
  size_t header_bytes = 0;
  int64_t elements = 0;
  std::string content() const {
    return source->gzipped() ? "decompressed content" : "file";
  }
};

// Opens `path` and checks the header of an unsigned-byte IDX file with `expected_rank`
// dimensions: magic, dimensions, and for an uncompressed file that its size is exactly
// what the header promises (so a truncated or overlong file fails before its payload is
// read). `what` names the file in errors; `dim_names` names each dimension.
absl::StatusOr<IdxFile> OpenIdx(const std::string& what, const std::string& path,
                                absl::string_view read_prefix, int expected_rank,
                                const std::vector<const char*>& dim_names) {
  IdxFile file;
  file.what = what;
  absl::StatusOr<std::unique_ptr<Source>> opened = Source::Open(path);
  if (!opened.ok()) return Prefixed(read_prefix, opened.status());
  file.source = *std::move(opened);
  Source& source = *file.source;
  const std::string content = file.content();
  const uint32_t expected_magic = (uint32_t{kIdxUnsignedByte} << 8) | expected_rank;
  const auto expected = [&] {
    return absl::StrFormat("expected magic 0x%08X (IDX, unsigned bytes, %d dimension%s)",
                           expected_magic, expected_rank, expected_rank == 1 ? "" : "s");
  };
  const auto read = [&](unsigned char* out, size_t n) -> absl::StatusOr<size_t> {
    absl::StatusOr<size_t> got = source.Read(out, n);
    if (!got.ok()) return Prefixed(read_prefix, got.status());
    return got;
  };

  unsigned char header[4 + 4 * 255];
  FFTRAIN_ASSIGN_OR_RETURN(const size_t got_magic, read(header, 4));
  // An IDX magic starts with two zero bytes; anything else is not IDX at all.
  for (size_t i = 0; i < std::min<size_t>(got_magic, 2); ++i) {
    if (header[i] != 0) {
      std::string seen;
      for (size_t j = 0; j < got_magic; ++j) absl::StrAppendFormat(&seen, "%02x", header[j]);
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": bad magic: the ", content, " starts with bytes ", seen, "; ", expected(),
          source.gzipped() ? "" : ". It is neither gzip (1f 8b) nor IDX (00 00 ...)"));
    }
  }
  if (got_magic < 4) {
    return absl::DataLossError(absl::StrCat(what, ": truncated: the ", content, " has ",
                                            got_magic,
                                            " bytes, fewer than the 4-byte IDX magic"));
  }
  const uint32_t magic = BigEndianU32(header);
  const unsigned char type = header[2];
  const int rank = header[3];
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
  file.header_bytes = 4 + 4 * static_cast<size_t>(rank);
  FFTRAIN_ASSIGN_OR_RETURN(const size_t got_dims, read(header + 4, 4 * rank));
  if (got_dims < 4 * static_cast<size_t>(rank)) {
    return absl::DataLossError(absl::StrCat(
        what, ": truncated: the ", content, " has ", 4 + got_dims, " bytes, fewer than the ",
        file.header_bytes, "-byte header of ", rank, " dimensions"));
  }
  file.elements = 1;
  bool overflow = false;
  for (int d = 0; d < rank; ++d) {
    const int64_t dim = BigEndianU32(header + 4 + 4 * d);
    if (dim == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": dimension ", d, " (", dim_names[d], ") is 0"));
    }
    file.dims.push_back(dim);
    overflow = overflow || __builtin_mul_overflow(file.elements, dim, &file.elements) ||
               file.elements > kMaxBytes;
  }
  if (overflow) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": dimensions ", absl::StrJoin(file.dims, " x "), " overflow 64-bit byte counts"));
  }
  if (!source.gzipped()) {
    // The file's size is known: compare it with the header's promise before reading on.
    const int64_t payload = static_cast<int64_t>(source.file_size() - file.header_bytes);
    if (payload < file.elements) {
      return absl::DataLossError(absl::StrCat(
          what, ": truncated: header promises ", absl::StrJoin(file.dims, " x "), " = ",
          file.elements, " data bytes, the file holds only ", payload));
    }
    if (payload > file.elements) {
      return absl::DataLossError(absl::StrCat(
          what, ": ", payload - file.elements, " extra trailing bytes after the ",
          file.elements, " data bytes (", absl::StrJoin(file.dims, " x "),
          ") the header promises"));
    }
  }
  return file;
}

// Reads exactly the payload the header promises, piece by piece, handing each piece and
// its offset to `consume`; then checks that nothing follows. Reading stops at the promise:
// a gzip stream that inflates to more (a gzip bomb) is refused after at most
// kMaxTrailingCount extra bytes, whatever it would inflate to.
absl::Status ReadPayload(IdxFile& file, absl::string_view read_prefix,
                         const std::function<absl::Status(const unsigned char*, size_t,
                                                          int64_t)>& consume) {
  std::vector<unsigned char> chunk(
      static_cast<size_t>(std::min<int64_t>(file.elements, kChunkBytes)) + 1);
  int64_t offset = 0;
  while (offset < file.elements) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(file.elements - offset, kChunkBytes));
    absl::StatusOr<size_t> got = file.source->Read(chunk.data(), want);
    if (!got.ok()) return Prefixed(read_prefix, got.status());
    if (*got > 0) FFTRAIN_RETURN_IF_ERROR(consume(chunk.data(), *got, offset));
    offset += static_cast<int64_t>(*got);
    if (*got < want) {
      return absl::DataLossError(absl::StrCat(
          file.what, ": truncated: header promises ", absl::StrJoin(file.dims, " x "), " = ",
          file.elements, " data bytes, the ", file.content(), " holds only ", offset));
    }
  }
  int64_t extra = 0;
  while (extra <= kMaxTrailingCount) {
    absl::StatusOr<size_t> got = file.source->Read(chunk.data(), chunk.size());
    if (!got.ok()) return Prefixed(read_prefix, got.status());
    if (*got == 0) break;
    extra += static_cast<int64_t>(*got);
  }
  if (extra > 0) {
    return absl::DataLossError(absl::StrCat(
        file.what, ": ", extra > kMaxTrailingCount ? "more than " : "",
        extra > kMaxTrailingCount ? kMaxTrailingCount : extra, " extra trailing bytes after the ",
        file.elements, " data bytes (", absl::StrJoin(file.dims, " x "),
        ") the header promises", extra > kMaxTrailingCount ? " (reading stopped there)" : ""));
  }
  return absl::OkStatus();
}

// DataLoss when a gzipped file's header promises more than its compressed size can
// possibly inflate to, so no buffer is sized from a header the stream cannot back (a
// 31-byte file promising 65537 x 65537 pixels made the reader zero 17 GB before it found
// the stream truncated).
absl::Status CheckGzipCanHold(const IdxFile& file) {
  if (!file.source->gzipped()) return absl::OkStatus();  // its size was checked exactly
  uint64_t most = 0;
  if (__builtin_mul_overflow(file.source->file_size(), kMaxDeflateRatio, &most)) {
    return absl::OkStatus();
  }
  const uint64_t promised = file.header_bytes + static_cast<uint64_t>(file.elements);
  if (promised <= most) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      file.what, ": truncated: header promises ", absl::StrJoin(file.dims, " x "), " = ",
      file.elements, " data bytes, but a gzip file of ", file.source->file_size(),
      " bytes inflates to at most ", most, " (deflate expands at most ", kMaxDeflateRatio,
      ":1)"));
}

// ResourceExhausted when `bytes` more than the host memory available (unknown: no check).
absl::Status CheckFitsInMemory(const std::string& what, const std::string& need, double bytes) {
  const absl::StatusOr<uint64_t> available = base::AvailableHostMemoryBytes();
  if (available.ok() && bytes > static_cast<double>(*available)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, ": ", need, " needs ", base::HumanBytes(bytes), " of memory, more than the ",
        base::HumanBytes(static_cast<double>(*available)), " available"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadMaybeGzipped(const std::string& path) {
  FFTRAIN_ASSIGN_OR_RETURN(std::unique_ptr<Source> source, Source::Open(path));
  const absl::StatusOr<uint64_t> available = base::AvailableHostMemoryBytes();
  const uint64_t limit =
      std::min<uint64_t>(kMaxBytes, available.ok() ? *available : uint64_t{kMaxBytes});
  if (!source->gzipped() && source->file_size() > limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("'", path, "': the file's ", source->file_size(),
                     " bytes exceed the memory available (", limit, " bytes)"));
  }
  std::string out;
  // A small piece: most callers read small files (the fuzzer reads thousands a second).
  std::vector<unsigned char> chunk(size_t{1} << 16);
  while (true) {
    FFTRAIN_ASSIGN_OR_RETURN(const size_t got, source->Read(chunk.data(), chunk.size()));
    if (out.size() + got > limit) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "'", path, "': decompressed size exceeds the memory available (", limit, " bytes)"));
    }
    out.append(reinterpret_cast<const char*>(chunk.data()), got);
    if (got < chunk.size()) return out;
  }
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

  // Both headers first: the pair must agree, and fit in memory, before any buffer is sized.
  FFTRAIN_ASSIGN_OR_RETURN(
      IdxFile images, OpenIdx(images_what, images_path, "images file ", 3, {"count", "rows", "cols"}));
  FFTRAIN_ASSIGN_OR_RETURN(IdxFile labels,
                           OpenIdx(labels_what, labels_path, "labels file ", 1, {"count"}));
  const int64_t count = images.dims[0];
  if (labels.dims[0] != count) {
    return absl::InvalidArgumentError(absl::StrCat(images_what, " holds ", count, " images but ",
                                                   labels_what, " holds ", labels.dims[0],
                                                   " labels"));
  }

  ImageDataset data;
  data.count = limit > 0 ? std::min(limit, count) : count;
  data.channels = 1;
  data.height = images.dims[1];
  data.width = images.dims[2];
  data.num_classes = num_classes;
  const int64_t kept = data.count * data.image_elements();  // <= images.elements
  FFTRAIN_RETURN_IF_ERROR(CheckFitsInMemory(
      images_what,
      absl::StrCat("keeping ", data.count, " images of ", data.height, " x ", data.width,
                   " pixels as floats, with ", count, " labels,"),
      4.0 * kept + 5.0 * count + kChunkBytes));
  FFTRAIN_RETURN_IF_ERROR(CheckGzipCanHold(images));
  FFTRAIN_RETURN_IF_ERROR(CheckGzipCanHold(labels));

  // Pixels become floats as they arrive; the payload past the kept images is read (a gzip
  // stream is checked to its end) but not kept.
  data.images.resize(kept);
  FFTRAIN_RETURN_IF_ERROR(ReadPayload(
      images, "images file ",
      [&](const unsigned char* bytes, size_t n, int64_t offset) -> absl::Status {
        const int64_t end = std::min<int64_t>(offset + static_cast<int64_t>(n), kept);
        for (int64_t i = offset; i < end; ++i) data.images[i] = bytes[i - offset] / 255.0f;
        return absl::OkStatus();
      }));
  // All labels, not just the kept ones: a damaged file should fail whatever the limit.
  data.labels.reserve(data.count);
  FFTRAIN_RETURN_IF_ERROR(ReadPayload(
      labels, "labels file ",
      [&](const unsigned char* bytes, size_t n, int64_t offset) -> absl::Status {
        for (size_t i = 0; i < n; ++i) {
          if (bytes[i] >= num_classes) {
            return absl::InvalidArgumentError(absl::StrCat(
                labels_what, ": label at index ", offset + static_cast<int64_t>(i),
                " has value ", bytes[i], ", not below num_classes = ", num_classes));
          }
          if (offset + static_cast<int64_t>(i) < data.count) data.labels.push_back(bytes[i]);
        }
        return absl::OkStatus();
      }));
  return data;
}

}  // namespace fftrain::trainer
