#include "trainer/checkpoint/checkpoint.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::trainer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// A fresh directory per test, so listing it for leftover temporaries sees only this test.
std::string TestDir() {
  const char* root = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(root != nullptr ? root : "/tmp", "/",
                                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::string command = absl::StrCat("rm -rf '", dir, "' && mkdir -p '", dir, "'");
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return dir;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* entry = ::readdir(d)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

float FloatFromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

uint32_t BitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

TrainingState SmallState() {
  TrainingState state;
  state.network_spec = "conv(1,4,3)-relu-fc(10)";
  state.epoch = 3;
  state.step = 1407;
  state.parameters = {1.5f, -0.0f, std::numeric_limits<float>::infinity(),
                      std::numeric_limits<float>::quiet_NaN()};
  state.momentum = {0.25f, -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::denorm_min(), -2.0f};
  state.rng_state = std::string("\x00\x01\xff", 3);
  state.config = "lr=0.05";
  return state;
}

void ExpectBitwiseEqual(const TrainingState& a, const TrainingState& b) {
  EXPECT_EQ(a.network_spec, b.network_spec);
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.step, b.step);
  ASSERT_EQ(a.parameters.size(), b.parameters.size());
  for (size_t i = 0; i < a.parameters.size(); ++i) {
    EXPECT_EQ(BitsOf(a.parameters[i]), BitsOf(b.parameters[i])) << "parameter " << i;
  }
  ASSERT_EQ(a.momentum.size(), b.momentum.size());
  for (size_t i = 0; i < a.momentum.size(); ++i) {
    EXPECT_EQ(BitsOf(a.momentum[i]), BitsOf(b.momentum[i])) << "momentum " << i;
  }
  EXPECT_EQ(a.rng_state, b.rng_state);
  EXPECT_EQ(a.config, b.config);
}

// An independent encoder of the format documented in checkpoint.h, to build files the
// writer never would (other versions, unknown, duplicate or malformed sections).
std::string U32(uint32_t v) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
  return out;
}

std::string U64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
  return out;
}

uint32_t Crc(const std::string& bytes) {
  return static_cast<uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

std::string Floats(const std::vector<float>& values) {
  std::string out;
  for (float v : values) out += U32(BitsOf(v));
  return out;
}

using SectionList = std::vector<std::pair<uint32_t, std::string>>;

std::string Encode(const SectionList& sections, uint32_t version = kCheckpointVersion) {
  std::string out =
      std::string(kCheckpointMagic, 8) + U32(version) + U32(static_cast<uint32_t>(sections.size()));
  for (const auto& [tag, payload] : sections) {
    out += U32(tag) + U64(payload.size()) + payload + U32(Crc(payload));
  }
  return out + U32(Crc(out));
}

SectionList Sections(const TrainingState& s) {
  return {
      {static_cast<uint32_t>(CheckpointTag::kNetworkSpec), s.network_spec},
      {static_cast<uint32_t>(CheckpointTag::kCounters), U64(s.epoch) + U64(s.step)},
      {static_cast<uint32_t>(CheckpointTag::kParameters), Floats(s.parameters)},
      {static_cast<uint32_t>(CheckpointTag::kMomentum), Floats(s.momentum)},
      {static_cast<uint32_t>(CheckpointTag::kRngState), s.rng_state},
      {static_cast<uint32_t>(CheckpointTag::kConfig), s.config},
  };
}

absl::Status ReadBack(const std::string& path, const std::string& bytes) {
  WriteBytes(path, bytes);
  return ReadCheckpoint(path).status();
}

TEST(CheckpointTest, RoundTripIsBitwiseExact) {
  const std::string path = TestDir() + "/a.ckpt";
  const TrainingState state = SmallState();
  ASSERT_TRUE(WriteCheckpoint(path, state).ok());
  absl::StatusOr<TrainingState> read = ReadCheckpoint(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectBitwiseEqual(state, *read);
}

// ParseCheckpoint (what the fuzzer drives) is ReadCheckpoint without the file.
TEST(CheckpointTest, ParseCheckpointReadsBytesInMemory) {
  const std::string path = TestDir() + "/a.ckpt";
  const TrainingState state = SmallState();
  ASSERT_TRUE(WriteCheckpoint(path, state).ok());
  const std::string bytes = ReadBytes(path);
  absl::StatusOr<TrainingState> parsed = ParseCheckpoint(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectBitwiseEqual(state, *parsed);

  absl::Status cut = ParseCheckpoint(bytes.substr(0, bytes.size() - 1), "cut bytes").status();
  EXPECT_EQ(cut.code(), absl::StatusCode::kDataLoss) << cut;
  EXPECT_THAT(std::string(cut.message()), HasSubstr("checkpoint cut bytes: truncated"));
  EXPECT_THAT(std::string(ParseCheckpoint("not a checkpoint").status().message()),
              HasSubstr("checkpoint (in memory): not a checkpoint"));
}

// Signalling and negative NaNs with payloads survive too: the codec moves bits, never
// float values, which could quieten them.
TEST(CheckpointTest, RoundTripOfOddNaNsAndEmptyFields) {
  const std::string path = TestDir() + "/a.ckpt";
  TrainingState state;
  state.network_spec = "fc(2)";
  state.parameters = {FloatFromBits(0x7fa00001u), FloatFromBits(0xffc12345u)};
  state.momentum = {FloatFromBits(0x7f800000u), FloatFromBits(0x80000001u)};
  ASSERT_TRUE(WriteCheckpoint(path, state).ok());
  absl::StatusOr<TrainingState> read = ReadCheckpoint(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectBitwiseEqual(state, *read);
  EXPECT_TRUE(read->rng_state.empty());
  EXPECT_TRUE(read->config.empty());
}

TEST(CheckpointTest, RoundTripOfLargeStateSpanningEncodeChunks) {
  const std::string path = TestDir() + "/a.ckpt";
  TrainingState state = SmallState();
  state.parameters.resize(100003);
  state.momentum.resize(100003);
  for (size_t i = 0; i < state.parameters.size(); ++i) {
    state.parameters[i] = FloatFromBits(static_cast<uint32_t>(i * 2654435761u));
    state.momentum[i] = static_cast<float>(i) * 0.5f;
  }
  ASSERT_TRUE(WriteCheckpoint(path, state).ok());
  absl::StatusOr<TrainingState> read = ReadCheckpoint(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectBitwiseEqual(state, *read);
}

TEST(CheckpointTest, FileMatchesTheDocumentedFormat) {
  const std::string path = TestDir() + "/a.ckpt";
  const TrainingState state = SmallState();
  ASSERT_TRUE(WriteCheckpoint(path, state).ok());
  EXPECT_EQ(ReadBytes(path), Encode(Sections(state)));
}

TEST(CheckpointTest, EveryTruncationIsRefused) {
  const std::string dir = TestDir();
  const std::string good = dir + "/good.ckpt";
  ASSERT_TRUE(WriteCheckpoint(good, SmallState()).ok());
  const std::string bytes = ReadBytes(good);
  ASSERT_GT(bytes.size(), 16u);
  for (size_t length = 0; length < bytes.size(); ++length) {
    absl::Status status = ReadBack(dir + "/cut.ckpt", bytes.substr(0, length));
    ASSERT_FALSE(status.ok()) << "accepted a file cut to " << length << " bytes";
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << length << ": " << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("truncated")) << length;
    EXPECT_THAT(std::string(status.message()), HasSubstr(dir + "/cut.ckpt"));
  }
}

TEST(CheckpointTest, EverySingleByteFlipIsDetected) {
  const std::string dir = TestDir();
  const std::string good = dir + "/good.ckpt";
  ASSERT_TRUE(WriteCheckpoint(good, SmallState()).ok());
  const std::string bytes = ReadBytes(good);
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int mask : {0x01, 0x80, 0xff}) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      absl::Status status = ReadBack(dir + "/bad.ckpt", bad);
      EXPECT_FALSE(status.ok()) << "byte " << i << " ^ " << mask << " went undetected";
    }
  }
}

TEST(CheckpointTest, PayloadCorruptionNamesTheSection) {
  const std::string dir = TestDir();
  std::string bytes = Encode(Sections(SmallState()));
  // The first payload byte of network_spec (header 16 + tag 4 + length 8).
  bytes[28] ^= 0x20;
  absl::Status status = ReadBack(dir + "/bad.ckpt", bytes);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("checksum mismatch"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("network_spec"));
}

TEST(CheckpointTest, MissingFileIsNotFound) {
  const std::string path = TestDir() + "/nothing.ckpt";
  absl::Status status = ReadCheckpoint(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), HasSubstr(path));
}

TEST(CheckpointTest, BadMagicIsNotACheckpoint) {
  const std::string dir = TestDir();
  std::string bytes = Encode(Sections(SmallState()));
  bytes.replace(0, 8, "PK\x03\x04zzzz");
  absl::Status status = ReadBack(dir + "/zip.ckpt", bytes);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("not a checkpoint"));
  EXPECT_THAT(std::string(status.message()), HasSubstr(dir + "/zip.ckpt"));

  status = ReadBack(dir + "/text.ckpt", "hello");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("not a checkpoint"));
}

TEST(CheckpointTest, OtherVersionsAreUnsupported) {
  const std::string dir = TestDir();
  absl::Status status = ReadBack(dir + "/v2.ckpt", Encode(Sections(SmallState()), 2));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(status.message()), HasSubstr("unsupported format version 2"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("reads version 1"));
  EXPECT_THAT(std::string(status.message()), HasSubstr(dir + "/v2.ckpt"));
}

TEST(CheckpointTest, TrailingBytesAreRefused) {
  const std::string dir = TestDir();
  absl::Status status = ReadBack(dir + "/t.ckpt", Encode(Sections(SmallState())) + "xy");
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("2 trailing bytes"));
}

TEST(CheckpointTest, UnknownSectionsAreSkipped) {
  const std::string dir = TestDir();
  const TrainingState state = SmallState();
  SectionList sections = Sections(state);
  sections.insert(sections.begin() + 2, {999, "from a later version"});
  sections.push_back({1000, ""});
  const std::string path = dir + "/future.ckpt";
  WriteBytes(path, Encode(sections));
  absl::StatusOr<TrainingState> read = ReadCheckpoint(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectBitwiseEqual(state, *read);

  // ... but their checksums are still verified.
  std::string bytes = Encode(sections);
  const size_t at = bytes.find("from a later version");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'F';
  absl::Status status = ReadBack(path, bytes);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("checksum mismatch"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("unknown (tag 999)"));
}

TEST(CheckpointTest, SectionsMayComeInAnyOrder) {
  const std::string dir = TestDir();
  const TrainingState state = SmallState();
  SectionList sections = Sections(state);
  std::reverse(sections.begin(), sections.end());
  WriteBytes(dir + "/r.ckpt", Encode(sections));
  absl::StatusOr<TrainingState> read = ReadCheckpoint(dir + "/r.ckpt");
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectBitwiseEqual(state, *read);
}

TEST(CheckpointTest, MissingOrDuplicateSectionsAreRefused) {
  const std::string dir = TestDir();
  SectionList sections = Sections(SmallState());
  SectionList missing(sections.begin(), sections.end() - 1);  // no config
  absl::Status status = ReadBack(dir + "/m.ckpt", Encode(missing));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("missing required section config"));

  SectionList duplicate = sections;
  duplicate.push_back(sections[2]);
  status = ReadBack(dir + "/d.ckpt", Encode(duplicate));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("duplicate parameters section"));
}

TEST(CheckpointTest, InconsistentSizesAreRefused) {
  const std::string dir = TestDir();
  const SectionList sections = Sections(SmallState());

  SectionList ragged = sections;
  ragged[2].second += "abc";  // parameters: 19 bytes
  absl::Status status = ReadBack(dir + "/a.ckpt", Encode(ragged));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("not a multiple of 4"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("parameters"));

  SectionList short_momentum = sections;
  short_momentum[3].second.resize(8);
  status = ReadBack(dir + "/b.ckpt", Encode(short_momentum));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("momentum has 2 values but parameters has 4"));

  SectionList bad_counters = sections;
  bad_counters[1].second.resize(12);
  status = ReadBack(dir + "/c.ckpt", Encode(bad_counters));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("counters"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("expected 16"));
}

TEST(CheckpointTest, WriteRefusesMismatchedMomentum) {
  const std::string dir = TestDir();
  TrainingState state = SmallState();
  state.momentum.pop_back();
  absl::Status status = WriteCheckpoint(dir + "/a.ckpt", state);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("momentum has 3 values"));
  EXPECT_TRUE(ListDir(dir).empty());
}

TEST(CheckpointTest, WriteIntoMissingDirectoryFailsCleanly) {
  const std::string dir = TestDir();
  const std::string path = dir + "/no/such/dir/a.ckpt";
  absl::Status status = WriteCheckpoint(path, SmallState());
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), HasSubstr(path));
  EXPECT_THAT(std::string(status.message()), HasSubstr("No such file or directory"));
  EXPECT_TRUE(ListDir(dir).empty());
}

TEST(CheckpointTest, OverwritingReplacesTheCheckpoint) {
  const std::string dir = TestDir();
  const std::string path = dir + "/a.ckpt";
  TrainingState first = SmallState();
  ASSERT_TRUE(WriteCheckpoint(path, first).ok());
  TrainingState second = SmallState();
  second.epoch = 4;
  second.step = 1876;
  second.parameters.assign(1000, 0.5f);
  second.momentum.assign(1000, -0.5f);
  second.config = "lr=0.01";
  ASSERT_TRUE(WriteCheckpoint(path, second).ok());
  absl::StatusOr<TrainingState> read = ReadCheckpoint(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectBitwiseEqual(second, *read);
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"a.ckpt"});
}

// A write that fails part-way (here: the file-size limit, EFBIG) must leave the previous
// checkpoint exactly as it was and remove its temporary file.
TEST(CheckpointTest, FailedWriteLeavesPreviousFileAndNoTemporary) {
  const std::string dir = TestDir();
  const std::string path = dir + "/a.ckpt";
  ASSERT_TRUE(WriteCheckpoint(path, SmallState()).ok());
  const std::string before = ReadBytes(path);

  TrainingState big = SmallState();
  big.parameters.assign(1 << 20, 1.0f);  // 4 MiB, far past the limit below
  big.momentum.assign(1 << 20, 2.0f);

  // In a child process: the limit would also cut off this test's own log output.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);  // get EFBIG from write() instead of being killed
    rlimit limit;
    ::getrlimit(RLIMIT_FSIZE, &limit);
    limit.rlim_cur = 64 * 1024;
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(3);
    const absl::Status status = WriteCheckpoint(path, big);
    if (status.ok()) ::_exit(1);
    const std::string message(status.message());
    ::_exit(absl::StrContains(message, path) && absl::StrContains(message, "File too large") ? 0
                                                                                             : 2);
  }
  int wait_status = 0;
  ASSERT_EQ(::waitpid(child, &wait_status, 0), child);
  ASSERT_TRUE(WIFEXITED(wait_status));
  EXPECT_EQ(WEXITSTATUS(wait_status), 0)
      << "1: the write succeeded; 2: the error did not name the path and reason; "
         "3: setrlimit failed";

  EXPECT_EQ(ReadBytes(path), before);
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"a.ckpt"});
  absl::StatusOr<TrainingState> read = ReadCheckpoint(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectBitwiseEqual(SmallState(), *read);
}

bool IsKind(const std::string& path, mode_t kind, bool follow = false) {
  struct stat info;
  const int rc = follow ? ::stat(path.c_str(), &info) : ::lstat(path.c_str(), &info);
  return rc == 0 && (info.st_mode & S_IFMT) == kind;
}

// Issue 17, defect 2: the writer replaced whatever was at its path. What is there must be
// a regular file (or nothing); a FIFO, a directory, or a link to either is left as it is.
TEST(CheckpointTest, WriteRefusesWhatIsNotARegularFileAndKeepsIt) {
  const std::string dir = TestDir();
  const std::string fifo = dir + "/fifo.ckpt";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string folder = dir + "/folder.ckpt";
  ASSERT_EQ(::mkdir(folder.c_str(), 0700), 0);
  const std::string link = dir + "/link-to-fifo.ckpt";
  ASSERT_EQ(::symlink(fifo.c_str(), link.c_str()), 0);
  for (const std::string& path : {fifo, folder, link}) {
    const absl::Status status = WriteCheckpoint(path, SmallState());
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << path << ": " << status;
    EXPECT_THAT(std::string(status.message()),
                AllOf(HasSubstr(path), HasSubstr("not a regular file; refusing to replace it")));
  }
  EXPECT_TRUE(IsKind(fifo, S_IFIFO));
  EXPECT_TRUE(IsKind(folder, S_IFDIR));
  EXPECT_TRUE(IsKind(link, S_IFLNK));
  std::vector<std::string> names = ListDir(dir);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"fifo.ckpt", "folder.ckpt", "link-to-fifo.ckpt"}));
}

// A link to a regular file: the target is written, the link stays a link.
TEST(CheckpointTest, WriteThroughASymbolicLinkKeepsTheLink) {
  const std::string dir = TestDir();
  const std::string target = dir + "/target.ckpt";
  const std::string link = dir + "/link.ckpt";
  WriteBytes(target, "old");
  ASSERT_EQ(::symlink("target.ckpt", link.c_str()), 0);
  ASSERT_TRUE(WriteCheckpoint(link, SmallState()).ok());
  EXPECT_TRUE(IsKind(link, S_IFLNK));
  absl::StatusOr<TrainingState> read = ReadCheckpoint(target);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectBitwiseEqual(SmallState(), *read);
}

// A FIFO given as the checkpoint to resume from is refused at once instead of blocking.
TEST(CheckpointTest, ReadRefusesAFifoWithoutBlocking) {
  const std::string fifo = TestDir() + "/resume.ckpt";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const absl::Status status = ReadCheckpoint(fifo).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("not a regular file (a FIFO)"));
  EXPECT_THAT(std::string(ReadCheckpoint(TestDir()).status().message()),
              HasSubstr("(a directory)"));
}

// Issue 17, defect 6: killed writers leave "<path>.tmp.<pid>" behind. Those of this
// checkpoint whose process is gone are removed; a live writer's, another checkpoint's and
// names that only look alike stay.
TEST(CheckpointTest, RemoveStaleTemporariesRemovesOnlyThisCheckpointsDeadWriters) {
  const std::string dir = TestDir();
  const pid_t dead = ::fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);  // reaped: no such process any more
  const std::string path = dir + "/run.ckpt";
  const std::string stale = absl::StrCat(path, ".tmp.", dead);
  const std::vector<std::string> kept = {
      absl::StrCat(path, ".tmp.", ::getpid()),           // alive: this process
      absl::StrCat(path, ".tmp.", ::getppid()),          // alive: the parent
      absl::StrCat(dir, "/other.ckpt.tmp.", dead),       // another checkpoint's
      absl::StrCat(path, ".tmp.", dead, "x"),            // not a pid
      absl::StrCat(dir, "/xrun.ckpt.tmp.", dead),        // another base name
  };
  WriteBytes(stale, "half a checkpoint");
  for (const std::string& name : kept) WriteBytes(name, "x");
  absl::StatusOr<std::vector<std::string>> removed = RemoveStaleTemporaries(path);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, std::vector<std::string>{stale});
  EXPECT_FALSE(IsKind(stale, S_IFREG));
  for (const std::string& name : kept) EXPECT_TRUE(IsKind(name, S_IFREG)) << name;
  // A folder that does not exist has nothing stale in it.
  removed = RemoveStaleTemporaries(dir + "/no/such/folder/run.ckpt");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(removed->empty());
}

}  // namespace
}  // namespace fftrain::trainer
