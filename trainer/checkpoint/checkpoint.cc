#include "trainer/checkpoint/checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"

namespace fftrain::trainer {
namespace {

constexpr size_t kMagicSize = sizeof(kCheckpointMagic) - 1;
constexpr size_t kHeaderSize = kMagicSize + 4 + 4;  // magic, version, section count
constexpr size_t kSectionHeaderSize = 4 + 8;        // tag, payload length
constexpr size_t kCrcSize = 4;
constexpr size_t kCountersSize = 16;  // i64 epoch, i64 step
// Floats are encoded through a buffer of this many bytes rather than all at once, so
// writing a large model does not need a second copy of its parameters in memory.
constexpr size_t kEncodeChunkBytes = 1 << 16;

constexpr CheckpointTag kRequiredTags[] = {
    CheckpointTag::kNetworkSpec, CheckpointTag::kCounters, CheckpointTag::kParameters,
    CheckpointTag::kMomentum,    CheckpointTag::kRngState, CheckpointTag::kConfig,
};
constexpr int kNumRequired = sizeof(kRequiredTags) / sizeof(kRequiredTags[0]);

// Index into kRequiredTags, or -1 for a tag this version does not know.
int RequiredIndex(uint32_t tag) {
  for (int i = 0; i < kNumRequired; ++i) {
    if (static_cast<uint32_t>(kRequiredTags[i]) == tag) return i;
  }
  return -1;
}

std::string SectionName(uint32_t tag) {
  switch (static_cast<CheckpointTag>(tag)) {
    case CheckpointTag::kNetworkSpec:
      return "network_spec";
    case CheckpointTag::kCounters:
      return "counters";
    case CheckpointTag::kParameters:
      return "parameters";
    case CheckpointTag::kMomentum:
      return "momentum";
    case CheckpointTag::kRngState:
      return "rng_state";
    case CheckpointTag::kConfig:
      return "config";
  }
  return absl::StrCat("unknown (tag ", tag, ")");
}

uint32_t Crc32(uint32_t crc, absl::string_view bytes) {
  return static_cast<uint32_t>(
      crc32_z(crc, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

// Explicit byte order, so files move between hosts regardless of their endianness.
void PutU32(uint32_t value, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

void PutU64(uint64_t value, char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

uint32_t GetU32(const char* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i)
    value |= static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return value;
}

uint64_t GetU64(const char* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i)
    value |= static_cast<uint64_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return value;
}

// ---------------------------------------------------------------------------------------
// Writing.

// Owns the temporary file: closes it, and removes it unless the write was committed, so
// every early return leaves no temporary behind.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (file_ != nullptr) std::fclose(file_);
    if (created_ && !committed_) ::unlink(path_.c_str());
  }

  bool Open() {
    file_ = std::fopen(path_.c_str(), "wb");
    created_ = file_ != nullptr;
    return created_;
  }
  // fclose releases the stream even when it fails, so file_ is cleared either way.
  bool Close() {
    FILE* file = file_;
    file_ = nullptr;
    return std::fclose(file) == 0;
  }
  void Commit() { committed_ = true; }

  const std::string& path() const { return path_; }
  FILE* file() const { return file_; }

 private:
  std::string path_;
  FILE* file_ = nullptr;
  bool created_ = false;
  bool committed_ = false;
};

// Streams sections to the temporary file, keeping the running CRC of the whole file and
// of the current section's payload.
class SectionWriter {
 public:
  SectionWriter(const std::string& path, TempFile* temp) : path_(path), temp_(temp) {}

  absl::Status WriteHeader(uint32_t section_count) {
    char header[kHeaderSize];
    std::memcpy(header, kCheckpointMagic, kMagicSize);
    PutU32(kCheckpointVersion, header + kMagicSize);
    PutU32(section_count, header + kMagicSize + 4);
    return Write(absl::string_view(header, sizeof(header)));
  }

  absl::Status WriteBytesSection(CheckpointTag tag, absl::string_view payload) {
    FFTRAIN_RETURN_IF_ERROR(BeginSection(tag, payload.size()));
    FFTRAIN_RETURN_IF_ERROR(WritePayload(payload));
    return EndSection();
  }

  absl::Status WriteFloatSection(CheckpointTag tag, const std::vector<float>& values) {
    FFTRAIN_RETURN_IF_ERROR(BeginSection(tag, values.size() * sizeof(uint32_t)));
    std::string chunk;
    chunk.reserve(kEncodeChunkBytes);
    for (float value : values) {
      // Through the bits, never the value, so NaN payloads survive unchanged.
      uint32_t bits;
      std::memcpy(&bits, &value, sizeof(bits));
      char encoded[4];
      PutU32(bits, encoded);
      chunk.append(encoded, sizeof(encoded));
      if (chunk.size() >= kEncodeChunkBytes) {
        FFTRAIN_RETURN_IF_ERROR(WritePayload(chunk));
        chunk.clear();
      }
    }
    FFTRAIN_RETURN_IF_ERROR(WritePayload(chunk));
    return EndSection();
  }

  absl::Status WriteFileChecksum() {
    char crc[kCrcSize];
    PutU32(file_crc_, crc);
    return Write(absl::string_view(crc, sizeof(crc)));
  }

 private:
  absl::Status BeginSection(CheckpointTag tag, uint64_t payload_bytes) {
    char header[kSectionHeaderSize];
    PutU32(static_cast<uint32_t>(tag), header);
    PutU64(payload_bytes, header + 4);
    section_crc_ = 0;  // zlib's initial CRC-32 value
    return Write(absl::string_view(header, sizeof(header)));
  }

  absl::Status WritePayload(absl::string_view bytes) {
    section_crc_ = Crc32(section_crc_, bytes);
    return Write(bytes);
  }

  absl::Status EndSection() {
    char crc[kCrcSize];
    PutU32(section_crc_, crc);
    return Write(absl::string_view(crc, sizeof(crc)));
  }

  absl::Status Write(absl::string_view bytes) {
    file_crc_ = Crc32(file_crc_, bytes);
    if (bytes.empty()) return absl::OkStatus();
    if (std::fwrite(bytes.data(), 1, bytes.size(), temp_->file()) != bytes.size()) {
      return absl::ErrnoToStatus(
          errno,
          absl::StrCat("checkpoint ", path_, ": cannot write temporary file ", temp_->path()));
    }
    return absl::OkStatus();
  }

  const std::string& path_;
  TempFile* temp_;
  uint32_t file_crc_ = 0;  // zlib's initial CRC-32 value
  uint32_t section_crc_ = 0;
};

// Makes the rename itself durable. Best effort: the checkpoint is already complete at
// its path, and some file systems refuse fsync on directories, so a failure here is not
// reported as a failed write (which would wrongly suggest the old file is still there).
void SyncDirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// ---------------------------------------------------------------------------------------
// Reading.

const char* FileKind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

// Where a checkpoint for `path` is written: `path` itself, or the file a symbolic link
// there points to (so that the link stays a link). An existing target must be a regular
// file: the rename would otherwise replace a device node, a FIFO or a directory.
absl::StatusOr<std::string> WriteTarget(const std::string& path) {
  struct stat link_info;
  if (::lstat(path.c_str(), &link_info) != 0) {
    if (errno == ENOENT) return path;  // a new file
    return absl::ErrnoToStatus(errno, absl::StrCat("checkpoint ", path, ": cannot stat"));
  }
  std::string target = path;
  if (S_ISLNK(link_info.st_mode)) {
    char* resolved = ::realpath(path.c_str(), nullptr);
    if (resolved == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint ", path, ": a symbolic link whose target cannot be resolved (",
          std::strerror(errno), "); refusing to replace the link"));
    }
    target = resolved;
    std::free(resolved);
  }
  struct stat info;
  if (::stat(target.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", path, ": ", target == path ? "" : absl::StrCat("(-> ", target, ") "),
        "is ", FileKind(info.st_mode),
        ", not a regular file; refusing to replace it with a checkpoint"));
  }
  return target;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  // O_NONBLOCK: a FIFO must not block the open; anything but a regular file is refused.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat("checkpoint ", path, ": no such file"));
    }
    return absl::ErrnoToStatus(err, absl::StrCat("checkpoint ", path, ": cannot open"));
  }
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::ErrnoToStatus(err, absl::StrCat("checkpoint ", path, ": cannot read"));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint ", path, ": not a regular file (", FileKind(info.st_mode),
                     "); a checkpoint is read from a regular file only"));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  FILE* file = ::fdopen(fd, "rb");
  if (file == nullptr) {
    const int err = errno;
    ::close(fd);
    return absl::ErrnoToStatus(err, absl::StrCat("checkpoint ", path, ": cannot open"));
  }
  std::string contents;
  if (info.st_size > 0) contents.reserve(static_cast<size_t>(info.st_size));
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) contents.append(buffer, n);
  const bool failed = std::ferror(file) != 0;
  const int err = errno;
  std::fclose(file);
  if (failed) {
    return absl::ErrnoToStatus(err, absl::StrCat("checkpoint ", path, ": cannot read"));
  }
  return contents;
}

struct Section {
  uint32_t tag;
  absl::string_view payload;
  uint32_t index;  // 1-based position in the file, for messages
  size_t offset;   // of the section's tag
};

std::string Describe(const Section& s, uint32_t count) {
  return absl::StrCat("section ", s.index, " of ", count, " (", SectionName(s.tag), ") at offset ",
                      s.offset);
}

std::vector<float> DecodeFloats(absl::string_view payload) {
  std::vector<float> values(payload.size() / sizeof(uint32_t));
  for (size_t i = 0; i < values.size(); ++i) {
    const uint32_t bits = GetU32(payload.data() + i * sizeof(uint32_t));
    std::memcpy(&values[i], &bits, sizeof(bits));
  }
  return values;
}

// Checks the framing and every checksum of `data`, returning its sections in file order.
absl::StatusOr<std::vector<Section>> ParseSections(const std::string& path,
                                                   absl::string_view data) {
  const std::string where = absl::StrCat("checkpoint ", path, ": ");
  const absl::string_view magic(kCheckpointMagic, kMagicSize);
  if (data.size() < kMagicSize) {
    // A short prefix of the magic is a checkpoint cut off early; anything else is not one.
    if (data.empty() || magic.substr(0, data.size()) == data) {
      return absl::DataLossError(absl::StrCat(where, "truncated: the file is ", data.size(),
                                              " bytes, shorter than the ", kHeaderSize,
                                              "-byte header"));
    }
    return absl::InvalidArgumentError(absl::StrCat(where, "not a checkpoint (", data.size(),
                                                   " bytes, no \"", magic, "\" magic)"));
  }
  if (data.substr(0, kMagicSize) != magic) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "not a checkpoint (bad magic: expected \"", magic, "\", found \"",
                     absl::CHexEscape(data.substr(0, kMagicSize)), "\")"));
  }
  if (data.size() < kMagicSize + 4) {
    return absl::DataLossError(absl::StrCat(where, "truncated in the format version at offset ",
                                            kMagicSize, " (file is ", data.size(), " bytes)"));
  }
  const uint32_t version = GetU32(data.data() + kMagicSize);
  if (version != kCheckpointVersion) {
    return absl::UnimplementedError(absl::StrCat(where, "unsupported format version ", version,
                                                 "; this build reads version ", kCheckpointVersion,
                                                 " only"));
  }
  if (data.size() < kHeaderSize) {
    return absl::DataLossError(absl::StrCat(where, "truncated in the section count at offset ",
                                            kMagicSize + 4, " (file is ", data.size(), " bytes)"));
  }
  const uint32_t count = GetU32(data.data() + kMagicSize + 4);

  std::vector<Section> sections;
  size_t pos = kHeaderSize;
  for (uint64_t i = 1; i <= count; ++i) {  // 64-bit: count may be UINT32_MAX
    const size_t offset = pos;
    size_t remaining = data.size() - pos;
    if (remaining < kSectionHeaderSize) {
      return absl::DataLossError(absl::StrCat(
          where, "truncated in the header of section ", i, " of ", count, " at offset ", offset,
          " (needs ", kSectionHeaderSize, " bytes, ", remaining, " remain)"));
    }
    Section section{GetU32(data.data() + pos), {}, static_cast<uint32_t>(i), offset};
    const uint64_t length = GetU64(data.data() + pos + 4);
    pos += kSectionHeaderSize;
    remaining -= kSectionHeaderSize;
    if (length > remaining) {
      return absl::DataLossError(absl::StrCat(where, "truncated in ", Describe(section, count),
                                              ": its payload is ", length, " bytes, ", remaining,
                                              " remain"));
    }
    section.payload = data.substr(pos, length);
    pos += length;
    remaining -= length;
    if (remaining < kCrcSize) {
      return absl::DataLossError(absl::StrCat(where, "truncated in the checksum of ",
                                              Describe(section, count), " at offset ", pos, " (",
                                              remaining, " of ", kCrcSize, " bytes present)"));
    }
    const uint32_t stored = GetU32(data.data() + pos);
    const uint32_t computed = Crc32(0, section.payload);
    if (stored != computed) {
      return absl::DataLossError(
          absl::StrFormat("%schecksum mismatch in %s: stored 0x%08x, computed 0x%08x", where,
                          Describe(section, count), stored, computed));
    }
    pos += kCrcSize;
    sections.push_back(section);
  }

  const size_t remaining = data.size() - pos;
  if (remaining < kCrcSize) {
    return absl::DataLossError(absl::StrCat(where, "truncated in the file checksum at offset ", pos,
                                            " (", remaining, " of ", kCrcSize, " bytes present)"));
  }
  const uint32_t stored = GetU32(data.data() + pos);
  const uint32_t computed = Crc32(0, data.substr(0, pos));
  if (stored != computed) {
    return absl::DataLossError(absl::StrFormat(
        "%sfile checksum mismatch at offset %d: stored 0x%08x, computed 0x%08x (the header "
        "or a section's framing is corrupt)",
        where, pos, stored, computed));
  }
  pos += kCrcSize;
  if (pos != data.size()) {
    return absl::DataLossError(absl::StrCat(where, data.size() - pos,
                                            " trailing bytes after the file checksum at offset ",
                                            pos - kCrcSize));
  }
  return sections;
}

}  // namespace

absl::Status WriteCheckpoint(const std::string& path, const TrainingState& state) {
  if (state.momentum.size() != state.parameters.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint ", path, ": momentum has ", state.momentum.size(),
                     " values but parameters has ", state.parameters.size(), "; they must match"));
  }
  if (state.epoch < 0 || state.step < 0) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint ", path, ": negative epoch (",
                                                   state.epoch, ") or step (", state.step, ")"));
  }

  // Whatever is at the path must be a regular file (or nothing); a symbolic link's target
  // is written, and the link kept.
  FFTRAIN_ASSIGN_OR_RETURN(const std::string target, WriteTarget(path));
  // The pid keeps concurrent writers in different processes (e.g. MPI ranks sharing a
  // directory) off each other's temporary file; one process writes one path at a time.
  TempFile temp(absl::StrCat(target, ".tmp.", ::getpid()));
  if (!temp.Open()) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("checkpoint ", path, ": cannot create temporary file ", temp.path()));
  }

  SectionWriter writer(path, &temp);
  char counters[kCountersSize];
  PutU64(static_cast<uint64_t>(state.epoch), counters);
  PutU64(static_cast<uint64_t>(state.step), counters + 8);
  FFTRAIN_RETURN_IF_ERROR(writer.WriteHeader(kNumRequired));
  FFTRAIN_RETURN_IF_ERROR(
      writer.WriteBytesSection(CheckpointTag::kNetworkSpec, state.network_spec));
  FFTRAIN_RETURN_IF_ERROR(writer.WriteBytesSection(CheckpointTag::kCounters,
                                                   absl::string_view(counters, sizeof(counters))));
  FFTRAIN_RETURN_IF_ERROR(writer.WriteFloatSection(CheckpointTag::kParameters, state.parameters));
  FFTRAIN_RETURN_IF_ERROR(writer.WriteFloatSection(CheckpointTag::kMomentum, state.momentum));
  FFTRAIN_RETURN_IF_ERROR(writer.WriteBytesSection(CheckpointTag::kRngState, state.rng_state));
  FFTRAIN_RETURN_IF_ERROR(writer.WriteBytesSection(CheckpointTag::kConfig, state.config));
  FFTRAIN_RETURN_IF_ERROR(writer.WriteFileChecksum());

  // The data must be on disk before the rename makes it the checkpoint; otherwise a crash
  // could leave `path` naming a file whose blocks were never written.
  const std::string failed_to = absl::StrCat("checkpoint ", path, ": cannot ");
  if (std::fflush(temp.file()) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat(failed_to, "write temporary file ", temp.path()));
  }
  if (::fsync(::fileno(temp.file())) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(failed_to, "sync temporary file ", temp.path()));
  }
  if (!temp.Close()) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat(failed_to, "close temporary file ", temp.path()));
  }
  if (std::rename(temp.path().c_str(), target.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(failed_to, "rename ", temp.path(), " to it"));
  }
  temp.Commit();
  SyncDirectoryOf(target);
  return absl::OkStatus();
}

absl::StatusOr<TrainingState> ReadCheckpoint(const std::string& path) {
  FFTRAIN_ASSIGN_OR_RETURN(const std::string data, ReadWholeFile(path));
  return ParseCheckpoint(data, path);
}

absl::StatusOr<TrainingState> ParseCheckpoint(absl::string_view data, const std::string& source) {
  FFTRAIN_ASSIGN_OR_RETURN(const std::vector<Section> sections, ParseSections(source, data));
  const std::string where = absl::StrCat("checkpoint ", source, ": ");
  const uint32_t count = static_cast<uint32_t>(sections.size());

  std::optional<Section> found[kNumRequired];
  for (const Section& section : sections) {
    const int index = RequiredIndex(section.tag);
    if (index < 0) continue;  // A later version's section: verified above, not needed here.
    if (found[index].has_value()) {
      return absl::DataLossError(absl::StrCat(where, "duplicate ", SectionName(section.tag),
                                              " section (sections ", found[index]->index, " and ",
                                              section.index, ")"));
    }
    found[index] = section;
  }
  for (int i = 0; i < kNumRequired; ++i) {
    if (!found[i].has_value()) {
      const uint32_t tag = static_cast<uint32_t>(kRequiredTags[i]);
      return absl::DataLossError(
          absl::StrCat(where, "missing required section ", SectionName(tag), " (tag ", tag, ")"));
    }
  }
  auto section_for = [&](CheckpointTag tag) -> const Section& {
    return *found[RequiredIndex(static_cast<uint32_t>(tag))];
  };

  const Section& counters = section_for(CheckpointTag::kCounters);
  if (counters.payload.size() != kCountersSize) {
    return absl::DataLossError(absl::StrCat(where, Describe(counters, count), " is ",
                                            counters.payload.size(), " bytes; expected ",
                                            kCountersSize));
  }
  for (CheckpointTag tag : {CheckpointTag::kParameters, CheckpointTag::kMomentum}) {
    const Section& floats = section_for(tag);
    if (floats.payload.size() % sizeof(uint32_t) != 0) {
      return absl::DataLossError(absl::StrCat(where, Describe(floats, count), " is ",
                                              floats.payload.size(),
                                              " bytes, not a multiple of 4 (float32)"));
    }
  }
  const size_t num_parameters = section_for(CheckpointTag::kParameters).payload.size() / 4;
  const size_t num_momentum = section_for(CheckpointTag::kMomentum).payload.size() / 4;
  if (num_parameters != num_momentum) {
    return absl::DataLossError(absl::StrCat(where, "momentum has ", num_momentum,
                                            " values but parameters has ", num_parameters));
  }

  TrainingState state;
  state.epoch = static_cast<int64_t>(GetU64(counters.payload.data()));
  state.step = static_cast<int64_t>(GetU64(counters.payload.data() + 8));
  if (state.epoch < 0 || state.step < 0) {
    return absl::DataLossError(
        absl::StrCat(where, "negative epoch (", state.epoch, ") or step (", state.step, ")"));
  }
  state.network_spec = std::string(section_for(CheckpointTag::kNetworkSpec).payload);
  state.parameters = DecodeFloats(section_for(CheckpointTag::kParameters).payload);
  state.momentum = DecodeFloats(section_for(CheckpointTag::kMomentum).payload);
  state.rng_state = std::string(section_for(CheckpointTag::kRngState).payload);
  state.config = std::string(section_for(CheckpointTag::kConfig).payload);
  return state;
}

absl::StatusOr<std::vector<std::string>> RemoveStaleTemporaries(const std::string& path) {
  absl::StatusOr<std::string> target = WriteTarget(path);
  const std::string& file = target.ok() ? *target : path;
  const size_t slash = file.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : file.substr(0, slash));
  const std::string prefix =
      absl::StrCat(slash == std::string::npos ? file : file.substr(slash + 1), ".tmp.");
  std::vector<std::string> removed;
  DIR* listing = ::opendir(dir.c_str());
  if (listing == nullptr) {
    if (errno == ENOENT) return removed;  // no folder yet: nothing left behind
    return absl::ErrnoToStatus(
        errno, absl::StrCat("checkpoint ", path, ": cannot list folder ", dir));
  }
  while (const dirent* entry = ::readdir(listing)) {
    const absl::string_view name = entry->d_name;
    if (!absl::StartsWith(name, prefix)) continue;
    const absl::string_view digits = name.substr(prefix.size());
    if (digits.empty() || digits.size() > 9 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    const pid_t pid = static_cast<pid_t>(std::strtol(std::string(digits).c_str(), nullptr, 10));
    // Alive (or not ours to signal): it may be writing right now. Only a writer that is
    // gone (ESRCH) left its temporary behind.
    if (pid <= 0 || pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    const std::string stale = absl::StrCat(dir, "/", name);
    struct stat info;
    if (::lstat(stale.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
    if (::unlink(stale.c_str()) == 0) removed.push_back(stale);
  }
  ::closedir(listing);
  return removed;
}

}  // namespace fftrain::trainer
