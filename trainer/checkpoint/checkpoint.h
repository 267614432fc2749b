// Checkpoints: everything needed to resume training, in one self-checking binary file.
//
// Format (version 1). All integers are little-endian; floats are IEEE-754 binary32,
// little-endian, stored bit for bit (NaN payloads and infinities survive).
//
//   offset  size  field
//   0       8     magic "FFTRCKPT"
//   8       4     u32 format version (1)
//   12      4     u32 section count
//   16      ...   sections, each:
//                   u32 tag
//                   u64 payload length in bytes
//                   payload
//                   u32 CRC-32 (zlib/IEEE) of the payload
//   end-4   4     u32 CRC-32 of every byte before it (magic through the last section)
//
// Sections of version 1 (tags in CheckpointTag below), each required exactly once:
//   1 network_spec  UTF-8 text, the canonical network spec
//   2 counters      i64 epoch, i64 step (16 bytes, both >= 0)
//   3 parameters    float32 x N
//   4 momentum      float32 x N (the same N as parameters)
//   5 rng_state     opaque bytes (may be empty)
//   6 config        opaque text (may be empty)
// Sections may come in any order. A reader skips sections with tags it does not know, so
// later versions can add sections that older readers ignore; their payloads are still
// checksummed. Nothing may follow the file checksum.
//
// Writes are atomic: the file is written to "<path>.tmp.<pid>", flushed to disk and
// renamed over <path>, so a crash or error mid-write never leaves a half-written
// checkpoint at <path>.
#ifndef FFTRAIN_TRAINER_CHECKPOINT_CHECKPOINT_H_
#define FFTRAIN_TRAINER_CHECKPOINT_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fftrain::trainer {

struct TrainingState {
  std::string network_spec;       // canonical network spec string
  int64_t epoch = 0;              // epochs completed
  int64_t step = 0;               // optimizer steps completed
  std::vector<float> parameters;  // all parameters, flat
  std::vector<float> momentum;    // optimizer state, same length as parameters
  std::string rng_state;          // opaque bytes (the trainer's serialised RNG)
  std::string config;             // opaque text: hyperparameters, for the record
};

inline constexpr char kCheckpointMagic[] = "FFTRCKPT";  // 8 bytes on disk, no NUL
inline constexpr uint32_t kCheckpointVersion = 1;

// Section tags of format version 1. Values are on disk: never renumber, only add.
enum class CheckpointTag : uint32_t {
  kNetworkSpec = 1,
  kCounters = 2,
  kParameters = 3,
  kMomentum = 4,
  kRngState = 5,
  kConfig = 6,
};

// Writes `state` to `path` atomically (see above), replacing the regular file there. Where
// `path` is a symbolic link, its target is written and the link kept. FailedPrecondition,
// nothing written, when what is at `path` (or the link's target) is not a regular file (a
// device node, a FIFO, a directory) or the link's target cannot be resolved. Fails with
// InvalidArgument if momentum and parameters differ in length or a counter is negative,
// and with the path and the system's reason if the file cannot be written; on failure an
// existing file at `path` is left as it was and no temporary file remains.
absl::Status WriteCheckpoint(const std::string& path, const TrainingState& state);

// Removes the temporary files "<path>.tmp.<pid>" that writers of this checkpoint left when
// they were killed mid-write: only those of this exact checkpoint (the same folder and base
// name, a link resolved as WriteCheckpoint does), only regular files, and only where no
// process <pid> is alive on this host (a live one may be writing). Returns what it removed.
absl::StatusOr<std::vector<std::string>> RemoveStaleTemporaries(const std::string& path);

// Reads and fully verifies a checkpoint. Only a regular file is read (InvalidArgument for a
// FIFO, device or directory, which are refused without blocking). Errors name the path and the problem:
// NotFound (no such file), InvalidArgument (not a checkpoint: bad magic), Unimplemented
// (a format version this build does not read), DataLoss (truncated, checksum mismatch,
// missing or duplicate section, inconsistent sizes, trailing bytes), or the system's
// reason for a file that cannot be read.
absl::StatusOr<TrainingState> ReadCheckpoint(const std::string& path);

// The checks of ReadCheckpoint on bytes already in memory (ReadCheckpoint reads the file
// and calls this). `source` names the bytes in errors, as the path does there.
absl::StatusOr<TrainingState> ParseCheckpoint(absl::string_view data,
                                              const std::string& source = "(in memory)");

}  // namespace fftrain::trainer

#endif  // FFTRAIN_TRAINER_CHECKPOINT_CHECKPOINT_H_
