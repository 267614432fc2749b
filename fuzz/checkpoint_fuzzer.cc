// Fuzzes the checkpoint reader (trainer/checkpoint/checkpoint.h) on bytes in memory.
//
// Each input is parsed twice: as it is, and with every CRC-32 the framing reaches
// recomputed. Random bytes almost never carry right checksums, so without the second
// pass the fuzzer would stop at the checksum checks and never reach the section logic
// (missing, duplicate and unknown sections, sizes, counters). A checkpoint that parses
// must be consistent, and must come back bit for bit through the file writer and reader.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_files.h"
#include "trainer/checkpoint/checkpoint.h"

namespace fftrain::fuzz {
namespace {

using ::fftrain::trainer::TrainingState;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "checkpoint_fuzzer: invariant broken: %s\n", what);
    std::abort();
  }
}

uint32_t Crc(absl::string_view bytes) {
  return static_cast<uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

uint64_t GetLe(const std::string& bytes, size_t pos, int width) {
  uint64_t value = 0;
  for (int i = 0; i < width; ++i) {
    value |= uint64_t{static_cast<unsigned char>(bytes[pos + i])} << (8 * i);
  }
  return value;
}

void PutCrc(std::string* bytes, size_t pos, uint32_t crc) {
  for (int i = 0; i < 4; ++i) (*bytes)[pos + i] = static_cast<char>(crc >> (8 * i));
}

// Recomputes each section's CRC and the file's, as far as the framing goes (the layout
// is in checkpoint.h: 16-byte header, sections of tag u32, length u64, payload, CRC u32).
std::string WithChecksumsFixed(std::string bytes) {
  if (bytes.size() < 16) return bytes;
  const uint64_t count = GetLe(bytes, 12, 4);
  size_t pos = 16;
  for (uint64_t i = 0; i < count; ++i) {
    if (bytes.size() - pos < 12) return bytes;
    const uint64_t length = GetLe(bytes, pos + 4, 8);
    pos += 12;
    if (length > bytes.size() - pos || bytes.size() - pos - length < 4) return bytes;
    PutCrc(&bytes, pos + length, Crc(absl::string_view(bytes).substr(pos, length)));
    pos += length + 4;
  }
  if (bytes.size() - pos >= 4) PutCrc(&bytes, pos, Crc(absl::string_view(bytes).substr(0, pos)));
  return bytes;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void CheckParsed(const TrainingState& state) {
  Check(state.epoch >= 0 && state.step >= 0, "non-negative counters");
  Check(state.parameters.size() == state.momentum.size(), "momentum matches parameters");
  const std::string path = FuzzTempDir() + "/round_trip.ckpt";
  Check(trainer::WriteCheckpoint(path, state).ok(), "a parsed state can be written");
  absl::StatusOr<TrainingState> again = trainer::ReadCheckpoint(path);
  Check(again.ok(), "a written state can be read");
  Check(again->network_spec == state.network_spec && again->epoch == state.epoch &&
            again->step == state.step && again->rng_state == state.rng_state &&
            again->config == state.config && SameBits(again->parameters, state.parameters) &&
            SameBits(again->momentum, state.momentum),
        "the round trip is bitwise exact");
}

void FuzzOne(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<TrainingState> as_is = trainer::ParseCheckpoint(bytes, "fuzz input");
  if (as_is.ok()) CheckParsed(*as_is);
  const std::string fixed = WithChecksumsFixed(bytes);
  if (fixed == bytes) return;
  absl::StatusOr<TrainingState> parsed = trainer::ParseCheckpoint(fixed, "fuzz input (fixed)");
  if (parsed.ok()) CheckParsed(*parsed);
}

}  // namespace
}  // namespace fftrain::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fftrain::fuzz::FuzzOne(data, size);
  return 0;
}
