// End-to-end training on the CPU: learning on real data, determinism, exact resume,
// refused configurations and checkpoints.
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/backend/backend.h"
#include "trainer/checkpoint/checkpoint.h"
#include "trainer/trainer.h"

namespace fftrain::trainer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + name;
}

bool HaveFashionMnist() {
  return std::ifstream(DefaultFashionMnistDir() + "/train-images-idx3-ubyte.gz").good();
}

// A small network on a real subset: fast on 2 cores, still a real learning problem.
TrainConfig SmallConfig() {
  TrainConfig c;
  c.network = "conv5x8p2,relu,pool2,fc10";
  c.train_limit = 2000;
  c.test_limit = 1000;
  c.batch_size = 50;
  c.epochs = 2;
  c.learning_rate = 0.05f;
  c.progress = false;
  return c;
}

struct RunResult {
  std::vector<EpochMetrics> history;
  std::vector<float> parameters;
};

RunResult Train(const TrainConfig& config) {
  auto backend = CreateCpuBackend();
  EXPECT_TRUE(backend.ok());
  comm::SingleProcessCommunicator comm;
  auto trainer = Trainer::Create(config, **backend, comm, nullptr);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  if (!trainer.ok()) return {};
  auto history = (*trainer)->Run();
  EXPECT_TRUE(history.ok()) << history.status();
  auto parameters = (*trainer)->Parameters();
  EXPECT_TRUE(parameters.ok());
  return {history.ok() ? *history : std::vector<EpochMetrics>{}, *parameters};
}

// Writes an uncompressed IDX pair {dir}/{prefix}-images-idx3-ubyte and -labels-idx1-ubyte
// (the names LoadFashionMnist looks for): `count` images of rows x cols pixels, labels
// cycling through 10 classes, pixels from `salt` so that two sets can differ.
void WriteIdxPair(const std::string& dir, const std::string& prefix, uint32_t count,
                  uint32_t rows, uint32_t cols, int salt = 0) {
  auto header = [](int rank, std::vector<uint32_t> dims) {
    std::string bytes = {0, 0, 0x08, static_cast<char>(rank)};
    for (uint32_t d : dims) {
      for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(d >> shift));
    }
    return bytes;
  };
  std::string images = header(3, {count, rows, cols});
  for (uint32_t i = 0; i < count * rows * cols; ++i) {
    images.push_back(static_cast<char>((i * 37 + salt + (i / (rows * cols)) % 10 * 20) % 251));
  }
  std::string labels = header(1, {count});
  for (uint32_t i = 0; i < count; ++i) labels.push_back(static_cast<char>(i % 10));
  std::ofstream(dir + "/" + prefix + "-images-idx3-ubyte", std::ios::binary) << images;
  std::ofstream(dir + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary) << labels;
}

std::string MakeDir(const std::string& name) {
  const std::string dir = TempPath(name);
  std::filesystem::create_directories(dir);
  return dir;
}

// Issue 17, defect 1: a test set whose images have another shape than the training set's
// (each file valid on its own) overflowed the batch buffer during evaluation. Refused at
// start-up, naming both shapes.
TEST(TrainingTest, RefusesATestSetOfAnotherShapeThanTheTrainingSet) {
  const std::string dir = MakeDir("other_shape_data");
  WriteIdxPair(dir, "train", 100, 28, 28);
  WriteIdxPair(dir, "t10k", 30, 32, 32);
  TrainConfig config = SmallConfig();
  config.data_dir = dir;
  config.train_limit = config.test_limit = 0;
  config.epochs = 1;
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  comm::SingleProcessCommunicator comm;
  auto trainer = Trainer::Create(config, **backend, comm, nullptr);
  ASSERT_FALSE(trainer.ok()) << "a 32x32 test set was accepted for a 28x28 training set";
  EXPECT_EQ(trainer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(trainer.status().message()),
              HasSubstr("the test set holds images of 1x32x32 but the training set holds "
                        "images of 1x28x28"));
  // The same pair with matching shapes trains.
  WriteIdxPair(dir, "t10k", 30, 28, 28);
  EXPECT_TRUE(Trainer::Create(config, **backend, comm, nullptr).ok());
}

// Issue 17, defect 3: a network whose buffers exceed the machine (a convolution to 10^6
// maps: terabytes of activations and spectra) was accepted and ate the memory allocation by
// allocation. Refused before anything is allocated, naming the layer that needs the memory.
TEST(TrainingTest, RefusesANetworkThatCannotFitNamingTheLayer) {
  TrainConfig config = SmallConfig();
  config.dataset = "synthetic";
  config.network = "conv3x4p1,relu,conv5x1000000p2,relu,pool2,fc10";
  config.synthetic_shape = {1, 64, 64};
  config.synthetic_train = 128;
  config.synthetic_test = 0;
  config.batch_size = 128;
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  comm::SingleProcessCommunicator comm;
  auto trainer = Trainer::Create(config, **backend, comm, nullptr);
  ASSERT_FALSE(trainer.ok());
  EXPECT_EQ(trainer.status().code(), absl::StatusCode::kResourceExhausted) << trainer.status();
  EXPECT_THAT(std::string(trainer.status().message()),
              AllOf(HasSubstr("the network needs at least"), HasSubstr("TiB of cpu memory"),
                    HasSubstr("layer 3 'conv5x1000000p2' needs"), HasSubstr("--batch_size")));
}

TEST(TrainingTest, LearnsFashionMnistSubset) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "Fashion-MNIST is not installed at " << DefaultFashionMnistDir();
  TrainConfig config = SmallConfig();
  config.log_path = TempPath("learn.jsonl");
  const RunResult run = Train(config);
  ASSERT_EQ(run.history.size(), 2u);
  // Chance is 10% accuracy and a test loss of ln(10) = 2.30.
  EXPECT_GT(run.history[0].test_accuracy, 0.5);
  EXPECT_LT(run.history[0].test_loss, 1.5);
  EXPECT_LT(run.history[1].train_loss, run.history[0].train_loss);
  EXPECT_GT(run.history[1].test_accuracy, 0.7);
  std::ifstream log(config.log_path);
  std::string line;
  int epochs = 0, configs = 0;
  while (std::getline(log, line)) {
    epochs += line.find("\"event\":\"epoch\"") != std::string::npos;
    configs += line.find("\"event\":\"config\"") != std::string::npos;
  }
  EXPECT_EQ(epochs, 2);
  EXPECT_EQ(configs, 1);
}

TEST(TrainingTest, SyntheticDataOfAnyShapeIsLearnable) {
  TrainConfig config = SmallConfig();
  config.dataset = "synthetic";
  config.network = "conv3x6p1,relu,pool2,fc4";
  config.synthetic_shape = {3, 10, 12};
  config.synthetic_train = 400;
  config.synthetic_test = 200;
  config.batch_size = 20;
  const RunResult run = Train(config);
  ASSERT_EQ(run.history.size(), 2u);
  EXPECT_GT(run.history[1].test_accuracy, 0.8);  // chance: 25%
}

TEST(TrainingTest, SameSeedGivesBitwiseSameLossCurveAndParameters) {
  TrainConfig config = SmallConfig();
  config.dataset = "synthetic";
  config.synthetic_train = 300;
  config.synthetic_test = 100;
  const RunResult a = Train(config), b = Train(config);
  ASSERT_EQ(a.history.size(), b.history.size());
  for (size_t i = 0; i < a.history.size(); ++i) {
    EXPECT_EQ(a.history[i].train_loss, b.history[i].train_loss);
    EXPECT_EQ(a.history[i].test_loss, b.history[i].test_loss);
  }
  ASSERT_EQ(a.parameters.size(), b.parameters.size());
  EXPECT_EQ(std::memcmp(a.parameters.data(), b.parameters.data(), 4 * a.parameters.size()), 0);
  config.seed = 2;
  const RunResult c = Train(config);
  EXPECT_NE(std::memcmp(a.parameters.data(), c.parameters.data(), 4 * a.parameters.size()), 0);
}

// The CPU backend cannot capture: --cuda_graphs changes nothing there, and says so.
TEST(TrainingTest, CudaGraphsSettingChangesNothingOnTheCpu) {
  TrainConfig config = SmallConfig();
  config.dataset = "synthetic";
  config.synthetic_train = 300;
  config.synthetic_test = 100;
  config.cuda_graphs = false;
  const RunResult without = Train(config);
  config.cuda_graphs = true;
  const RunResult with = Train(config);
  ASSERT_EQ(with.parameters.size(), without.parameters.size());
  EXPECT_EQ(std::memcmp(with.parameters.data(), without.parameters.data(),
                        4 * with.parameters.size()),
            0);
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  comm::SingleProcessCommunicator comm;
  auto trainer = Trainer::Create(config, **backend, comm, nullptr);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_FALSE((*trainer)->uses_graphs());
  EXPECT_EQ((*trainer)->step_graph(), "");
}

TEST(TrainingTest, ResumeContinuesExactly) {
  TrainConfig straight = SmallConfig();
  straight.dataset = "synthetic";
  straight.synthetic_train = 300;
  straight.synthetic_test = 100;
  straight.checkpoint_path = TempPath("straight.ckpt");
  const RunResult two_epochs = Train(straight);

  TrainConfig first = straight;
  first.checkpoint_path = TempPath("split.ckpt");
  first.stop_after_epoch = 1;
  Train(first);
  TrainConfig second = first;
  second.stop_after_epoch = 0;
  second.resume = true;
  const RunResult resumed = Train(second);
  ASSERT_EQ(resumed.history.size(), 1u);  // only the second epoch ran
  EXPECT_EQ(resumed.history[0].epoch, 2);
  EXPECT_EQ(resumed.history[0].train_loss, two_epochs.history[1].train_loss);
  ASSERT_EQ(resumed.parameters.size(), two_epochs.parameters.size());
  EXPECT_EQ(std::memcmp(resumed.parameters.data(), two_epochs.parameters.data(),
                        4 * resumed.parameters.size()),
            0);
  auto a = ReadCheckpoint(straight.checkpoint_path), b = ReadCheckpoint(second.checkpoint_path);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->step, b->step);
  EXPECT_EQ(a->momentum, b->momentum);
  EXPECT_EQ(a->rng_state, b->rng_state);
}

// The "step" of every line of a JSON-lines log that has one, in order.
std::vector<int64_t> LoggedSteps(const std::string& path, const std::string& event) {
  std::ifstream in(path);
  std::vector<int64_t> steps;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"event\":\"" + event + "\"") == std::string::npos) continue;
    const size_t at = line.find("\"step\":");
    if (at != std::string::npos) steps.push_back(std::stoll(line.substr(at + 7)));
  }
  return steps;
}

// Issue 17, defect 6: SIGINT and SIGTERM killed the trainer with no message. A stop request
// (what the train binary's handler sets) ends training after the current step, with a
// checkpoint that resumes mid-epoch exactly where training stopped; the log then reads as
// one run.
TEST(TrainingTest, AStopRequestEndsAfterTheStepWithACheckpointThatResumesExactly) {
  TrainConfig straight = SmallConfig();
  straight.dataset = "synthetic";
  straight.synthetic_train = 300;  // 6 steps an epoch
  straight.synthetic_test = 100;
  straight.log_every_steps = 2;
  straight.log_path = TempPath("stop_straight.jsonl");
  const RunResult two_epochs = Train(straight);
  ASSERT_EQ(two_epochs.history.size(), 2u);

  TrainConfig stopped = straight;
  stopped.checkpoint_path = TempPath("stop.ckpt");
  stopped.log_path = TempPath("stop.jsonl");
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  comm::SingleProcessCommunicator comm;
  {
    auto trainer = Trainer::Create(stopped, **backend, comm, nullptr);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    std::atomic<int> request{SIGINT};  // as if Ctrl-C came during the first step
    (*trainer)->set_stop_request(&request);
    auto history = (*trainer)->Run();
    ASSERT_TRUE(history.ok()) << history.status();
    EXPECT_TRUE(history->empty());
    EXPECT_EQ((*trainer)->stopped_by(), SIGINT);
    EXPECT_EQ((*trainer)->steps_done(), 1);
  }
  auto saved = ReadCheckpoint(stopped.checkpoint_path);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->epoch, 0);
  EXPECT_EQ(saved->step, 1);

  TrainConfig resumed = stopped;
  resumed.resume = true;
  const RunResult rest = Train(resumed);
  ASSERT_EQ(rest.history.size(), 2u);
  EXPECT_EQ(rest.history[1].train_loss, two_epochs.history[1].train_loss);
  ASSERT_EQ(rest.parameters.size(), two_epochs.parameters.size());
  EXPECT_EQ(std::memcmp(rest.parameters.data(), two_epochs.parameters.data(),
                        4 * rest.parameters.size()),
            0);
  EXPECT_EQ(LoggedSteps(resumed.log_path, "step"), LoggedSteps(straight.log_path, "step"));
  EXPECT_EQ(LoggedSteps(resumed.log_path, "epoch"), (std::vector<int64_t>{6, 12}));
  EXPECT_EQ(LoggedSteps(resumed.log_path, "stop"), std::vector<int64_t>{1});
  EXPECT_EQ(LoggedSteps(resumed.log_path, "resume"), std::vector<int64_t>{1});
}

// A request that arrives in an epoch's last step waits for the epoch's end: evaluation, the
// epoch's checkpoint, then the stop (SIGTERM here).
TEST(TrainingTest, AStopRequestInAnEpochsLastStepStopsAfterTheEpoch) {
  TrainConfig config = SmallConfig();
  config.dataset = "synthetic";
  config.synthetic_train = 50;  // one step an epoch
  config.synthetic_test = 20;
  config.epochs = 3;
  config.checkpoint_path = TempPath("stop_epoch.ckpt");
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  comm::SingleProcessCommunicator comm;
  auto trainer = Trainer::Create(config, **backend, comm, nullptr);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  std::atomic<int> request{SIGTERM};
  (*trainer)->set_stop_request(&request);
  auto history = (*trainer)->Run();
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 1u);
  EXPECT_FALSE(std::isnan((*history)[0].test_loss));  // evaluated
  EXPECT_EQ((*trainer)->stopped_by(), SIGTERM);
  auto saved = ReadCheckpoint(config.checkpoint_path);
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->epoch, 1);
  EXPECT_EQ(saved->step, 1);
}

// Issue 17, defect 6: after a killed run was resumed, the log repeated the steps logged
// between the checkpoint and the kill. Here the "killed" run's extra lines are appended by
// hand; the resumed log has every step once, as a straight run's.
TEST(TrainingTest, AResumedLogReadsAsOneRun) {
  TrainConfig straight = SmallConfig();
  straight.dataset = "synthetic";
  straight.synthetic_train = 300;
  straight.synthetic_test = 100;
  straight.log_every_steps = 2;
  straight.log_path = TempPath("one_run_straight.jsonl");
  Train(straight);
  TrainConfig first = straight;
  first.log_path = TempPath("one_run.jsonl");
  first.checkpoint_path = TempPath("one_run.ckpt");
  first.stop_after_epoch = 1;
  Train(first);
  std::ofstream(first.log_path, std::ios::app)
      << "{\"event\":\"step\",\"epoch\":2,\"step\":8,\"loss\":1}\n{\"event\":\"st";
  TrainConfig second = first;
  second.stop_after_epoch = 0;
  second.resume = true;
  Train(second);
  EXPECT_EQ(LoggedSteps(second.log_path, "step"), LoggedSteps(straight.log_path, "step"));
  EXPECT_EQ(LoggedSteps(second.log_path, "epoch"), (std::vector<int64_t>{6, 12}));
}

// Issue 17, defect 7: resuming compared the data folder's name, so "dir/" did not resume a
// run started with "dir", and other files at the same path did. The data itself is compared
// now: sizes and a checksum of what was loaded.
TEST(TrainingTest, ResumeComparesTheDataNotTheFoldersName) {
  const std::string dir = MakeDir("resume_data");
  WriteIdxPair(dir, "train", 100, 8, 8);
  WriteIdxPair(dir, "t10k", 20, 8, 8);
  TrainConfig config = SmallConfig();
  config.network = "conv3x4p1,relu,pool2,fc10";
  config.data_dir = dir + "/";
  config.train_limit = config.test_limit = 0;
  config.checkpoint_path = TempPath("resume_data.ckpt");
  config.stop_after_epoch = 1;
  Train(config);
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  comm::SingleProcessCommunicator comm;
  TrainConfig resumed = config;
  resumed.resume = true;
  resumed.stop_after_epoch = 0;
  resumed.data_dir = dir;  // no trailing slash
  auto trainer = Trainer::Create(resumed, **backend, comm, nullptr);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  // A copy of the data elsewhere is the same data.
  const std::string copy = MakeDir("resume_data_copy");
  std::filesystem::copy(dir, copy, std::filesystem::copy_options::recursive |
                                       std::filesystem::copy_options::overwrite_existing);
  resumed.data_dir = copy + "/./";
  trainer = Trainer::Create(resumed, **backend, comm, nullptr);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  // Other images at the same path are not.
  WriteIdxPair(dir, "train", 100, 8, 8, /*salt=*/1);
  resumed.data_dir = dir;
  trainer = Trainer::Create(resumed, **backend, comm, nullptr);
  ASSERT_FALSE(trainer.ok());
  EXPECT_EQ(trainer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(trainer.status().message()),
              AllOf(HasSubstr("was written with data=100x1x8x8 10 classes crc32 0x"),
                    HasSubstr("but this run has data=100x1x8x8 10 classes crc32 0x")));
  // A checkpoint from before the data was fingerprinted (no "data=" line) is taken for the
  // same data when its data_dir names the same folder, however spelled.
  auto state = ReadCheckpoint(config.checkpoint_path);
  ASSERT_TRUE(state.ok()) << state.status();
  const size_t at = state->config.find("data=");
  ASSERT_NE(at, std::string::npos);
  state->config.erase(at, state->config.find('\n', at) + 1 - at);
  ASSERT_TRUE(WriteCheckpoint(config.checkpoint_path, *state).ok());
  resumed.data_dir = copy + "/./";
  EXPECT_THAT(std::string(Trainer::Create(resumed, **backend, comm, nullptr).status().message()),
              HasSubstr("was written with data_dir=" + dir + "/ but this run has data_dir=" +
                        copy + "/./"));
  resumed.data_dir = dir + "/../resume_data";
  EXPECT_TRUE(Trainer::Create(resumed, **backend, comm, nullptr).ok());
}

// Issue 17, defect 7: a checkpoint whose parameters or momentum hold NaN or infinity (well
// formed, checksums right) is refused.
TEST(TrainingTest, RefusesACheckpointWithNanOrInfiniteValues) {
  TrainConfig config = SmallConfig();
  config.dataset = "synthetic";
  config.synthetic_train = 100;
  config.synthetic_test = 0;
  config.epochs = 2;
  config.stop_after_epoch = 1;
  config.checkpoint_path = TempPath("nan.ckpt");
  Train(config);
  auto state = ReadCheckpoint(config.checkpoint_path);
  ASSERT_TRUE(state.ok()) << state.status();
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  comm::SingleProcessCommunicator comm;
  TrainConfig resumed = config;
  resumed.resume = true;
  resumed.stop_after_epoch = 0;
  for (const bool momentum : {false, true}) {
    TrainingState bad = *state;
    (momentum ? bad.momentum : bad.parameters)[7] =
        momentum ? std::numeric_limits<float>::infinity() : std::nanf("");
    ASSERT_TRUE(WriteCheckpoint(config.checkpoint_path, bad).ok());
    const absl::Status status = Trainer::Create(resumed, **backend, comm, nullptr).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_THAT(std::string(status.message()),
                HasSubstr(momentum ? "momentum 7 is inf" : "parameter 7 is nan"));
  }
}

TEST(TrainingTest, RefusesMismatchedOrCorruptCheckpoints) {
  TrainConfig config = SmallConfig();
  config.dataset = "synthetic";
  config.synthetic_train = 100;
  config.synthetic_test = 0;
  config.epochs = 1;
  config.checkpoint_path = TempPath("mismatch.ckpt");
  Train(config);
  std::ifstream original_in(config.checkpoint_path, std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(original_in)), {});
  ASSERT_FALSE(original.empty());

  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  comm::SingleProcessCommunicator comm;
  auto create_error = [&](const TrainConfig& c) {
    auto trainer = Trainer::Create(c, **backend, comm, nullptr);
    return trainer.ok() ? std::string("(accepted)") : std::string(trainer.status().message());
  };
  TrainConfig other_network = config;
  other_network.resume = true;
  other_network.network = "conv3x8p1,relu,pool2,fc10";
  EXPECT_THAT(create_error(other_network), HasSubstr("holds network 'conv5x8p2,relu,pool2,fc10'"));
  TrainConfig other_batch = config;
  other_batch.resume = true;
  other_batch.batch_size = 25;
  EXPECT_THAT(create_error(other_batch), HasSubstr("batch_size=50 but this run has batch_size=25"));

  const std::string corrupt_path = TempPath("corrupt.ckpt");
  std::string corrupt = original;
  corrupt[corrupt.size() / 2] ^= 0x40;
  std::ofstream(corrupt_path, std::ios::binary) << corrupt;
  TrainConfig from_corrupt = config;
  from_corrupt.resume = true;
  from_corrupt.checkpoint_path = corrupt_path;
  EXPECT_THAT(create_error(from_corrupt), HasSubstr(corrupt_path));
  // The refused resume did not touch the file.
  std::ifstream after_in(corrupt_path, std::ios::binary);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(after_in)), {}), corrupt);

  std::ofstream(corrupt_path, std::ios::binary) << original.substr(0, original.size() - 9);
  EXPECT_THAT(create_error(from_corrupt), HasSubstr(corrupt_path));
  TrainConfig missing = from_corrupt;
  missing.checkpoint_path = TempPath("missing.ckpt");
  EXPECT_THAT(create_error(missing), HasSubstr("missing.ckpt"));
}

TEST(TrainingTest, RefusesBadConfigurations) {
  const struct {
    void (*spoil)(TrainConfig&);
    const char* message;
  } cases[] = {
      {[](TrainConfig& c) { c.dataset = "imagenet"; }, "--dataset must be"},
      {[](TrainConfig& c) { c.epochs = 0; }, "--epochs must be positive"},
      {[](TrainConfig& c) { c.batch_size = 0; }, "--batch_size"},
      {[](TrainConfig& c) { c.train_limit = -1; }, "--train_limit"},
      {[](TrainConfig& c) { c.schedule = "linear"; }, "unknown learning-rate schedule 'linear'"},
      {[](TrainConfig& c) { c.learning_rate = -1; }, "--learning_rate must be positive"},
      // Issue 17, defect 4: numeric settings are range-checked with the flag's name.
      {[](TrainConfig& c) { c.final_learning_rate = std::nanf(""); },
       "--final_learning_rate must be in [0, --learning_rate=0.05], got nan"},
      {[](TrainConfig& c) { c.final_learning_rate = 0.1f; }, "--final_learning_rate"},
      {[](TrainConfig& c) { c.warmup_steps = -5; }, "--warmup_steps must be in [0, 2^40], got -5"},
      {[](TrainConfig& c) { c.epochs = int64_t{1} << 62; },
       "--epochs must be positive and at most 10^9"},
      {[](TrainConfig& c) { c.gamma = 2; }, "--gamma must be in (0, 1]"},
      {[](TrainConfig& c) { c.step_epochs = 0; }, "--step_epochs"},
      {[](TrainConfig& c) { c.synthetic_train = int64_t{1} << 62; }, "--synthetic_train"},
      {[](TrainConfig& c) { c.momentum = 1.5f; }, "--momentum"},
      {[](TrainConfig& c) { c.weight_decay = -0.1f; }, "--weight_decay"},
      {[](TrainConfig& c) { c.resume = true; }, "--resume needs --checkpoint"},
      {[](TrainConfig& c) { c.network = "conv5x8,relu"; }, "the last layer must be fc"},
      {[](TrainConfig& c) { c.synthetic_classes = 1; }, "--synthetic_classes"},
  };
  for (const auto& c : cases) {
    TrainConfig config = SmallConfig();
    c.spoil(config);
    const absl::Status status = ValidateConfig(config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
  }
  // Checked when the data is known: shapes that do not chain, too few examples, classes.
  auto backend = CreateCpuBackend();
  ASSERT_TRUE(backend.ok());
  comm::SingleProcessCommunicator comm;
  TrainConfig tiny = SmallConfig();
  tiny.dataset = "synthetic";
  tiny.synthetic_shape = {1, 4, 4};
  tiny.network = "conv5x8,fc10";
  EXPECT_THAT(std::string(Trainer::Create(tiny, **backend, comm, nullptr).status().message()),
              HasSubstr("kernel 5x5 is larger than its padded input 4x4"));
  TrainConfig few = SmallConfig();
  few.dataset = "synthetic";
  few.synthetic_train = 10;
  EXPECT_THAT(std::string(Trainer::Create(few, **backend, comm, nullptr).status().message()),
              HasSubstr("fewer than one step"));
  TrainConfig classes = SmallConfig();
  classes.dataset = "synthetic";
  classes.synthetic_classes = 12;
  EXPECT_THAT(std::string(Trainer::Create(classes, **backend, comm, nullptr).status().message()),
              HasSubstr("has 10 outputs but the data set has 12 classes"));
  // Issue 17, defect 4: a synthetic set larger than memory is an error naming the flags,
  // not a std::bad_alloc.
  TrainConfig huge = SmallConfig();
  huge.dataset = "synthetic";
  huge.synthetic_train = int64_t{1} << 36;
  const absl::Status huge_status = Trainer::Create(huge, **backend, comm, nullptr).status();
  EXPECT_EQ(huge_status.code(), absl::StatusCode::kResourceExhausted) << huge_status;
  EXPECT_THAT(std::string(huge_status.message()),
              AllOf(HasSubstr("--synthetic_train=68719476736"), HasSubstr("more than the")));
  TrainConfig no_data = SmallConfig();
  no_data.data_dir = TempPath("no-such-dir");
  EXPECT_FALSE(Trainer::Create(no_data, **backend, comm, nullptr).ok());
}

}  // namespace
}  // namespace fftrain::trainer
