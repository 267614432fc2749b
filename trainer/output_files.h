// Start-up checks of the files a run writes (the metrics log, the checkpoint, the GPU
// tuner's cache): each must be a regular file or a new path in a folder where files can be
// created, no output may be an input of the run (a data file), and no two outputs may be the
// same file, also through symbolic or hard links. Checked before any work, so that a bad
// path fails in a second instead of after the first epoch, and nothing is clobbered.
#ifndef FFTRAIN_TRAINER_OUTPUT_FILES_H_
#define FFTRAIN_TRAINER_OUTPUT_FILES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fftrain::trainer {

// A path given by a flag: "--log", "run.jsonl". Empty paths are ignored.
struct FlagPath {
  std::string flag;
  std::string path;
};

// OK when every output may be written:
// - what is at its path (after symbolic links) is a regular file this process can open for
//   writing, or nothing (a dangling link is refused);
// - its folder exists and a file can be created there (a temporary file is made and removed:
//   checkpoints are written next to their path and renamed into place);
// - it is not one of `inputs` (the same device and inode; a new path cannot be one);
// - it is not another output (the same inode, or for new paths the same canonical path).
// FailedPrecondition otherwise, naming the flag, the path and the reason.
absl::Status CheckOutputFiles(const std::vector<FlagPath>& outputs,
                              const std::vector<FlagPath>& inputs);

// Whether something exists at `path` (lstat: a dangling link exists).
bool PathExists(const std::string& path);

}  // namespace fftrain::trainer

#endif  // FFTRAIN_TRAINER_OUTPUT_FILES_H_
