// Writes the checkpoint fuzzer's seeds with the real writer (WriteCheckpoint), so the
// seeds follow the format as the trainer writes it. Run by fuzz/make_corpus.sh.
#include <cstdio>
#include <limits>
#include <string>

#include "trainer/checkpoint/checkpoint.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <output directory>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  using ::fftrain::trainer::TrainingState;

  TrainingState small;
  small.network_spec = "conv3x2,relu,pool2,fc3";
  small.epoch = 2;
  small.step = 37;
  small.parameters = {0.5f, -1.25f, 0.0f, -0.0f, 3.0f, std::numeric_limits<float>::infinity()};
  small.momentum = {0.01f, 0.0f, -0.02f, 0.0f, 1e-8f, 0.0f};
  small.rng_state = std::string("\x12\x34\x00\xff", 4);
  small.config = "learning_rate=0.05 momentum=0.9 batch=4";

  TrainingState empty;  // no parameters, empty strings: the smallest valid file
  empty.network_spec = "fc10";

  TrainingState fresh = small;  // a run's first checkpoint
  fresh.epoch = 0;
  fresh.step = 0;
  fresh.parameters.resize(2);
  fresh.momentum.assign(2, 0.0f);
  fresh.rng_state.clear();

  int status = 0;
  for (const auto& [name, state] :
       {std::pair<const char*, const TrainingState*>{"small.ckpt", &small},
        {"empty.ckpt", &empty},
        {"fresh.ckpt", &fresh}}) {
    const absl::Status written = ::fftrain::trainer::WriteCheckpoint(dir + "/" + name, *state);
    if (!written.ok()) {
      std::fprintf(stderr, "%s\n", written.ToString().c_str());
      status = 1;
    }
  }
  return status;
}
