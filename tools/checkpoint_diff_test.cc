// Runs the checkpoint_diff binary (its path is the first argument, from Bazel; in the GPU
// bundle it is found in ../bin) on checkpoints written with WriteCheckpoint: its line,
// exit status and refusals.
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/checkpoint/checkpoint.h"

namespace fftrain::trainer {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string g_tool;  // the binary under test

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

Result RunTool(const std::string& args) {
  Result r;
  const std::string command = absl::StrCat("'", g_tool, "' ", args, " 2>&1");
  std::FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) r.output.append(buffer, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string Path(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

TrainingState State(std::vector<float> parameters) {
  TrainingState s;
  s.network_spec = "conv3x6p1,relu,fc4";
  s.epoch = 1;
  s.step = 100;
  s.momentum.assign(parameters.size(), 0.5f);
  s.parameters = std::move(parameters);
  return s;
}

std::string Write(const std::string& name, const TrainingState& state) {
  const std::string path = Path(name);
  EXPECT_TRUE(WriteCheckpoint(path, state).ok()) << path;
  return path;
}

TEST(CheckpointDiffTest, IdenticalCheckpointsPass) {
  const std::string a = Write("same_a.ckpt", State({0.5f, -2.0f, 1.0f}));
  const std::string b = Write("same_b.ckpt", State({0.5f, -2.0f, 1.0f}));
  const Result r = RunTool(absl::StrCat(a, " ", b));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("max |a-b| = 0 over 3 parameters (largest |a| = 2)"));
  EXPECT_THAT(r.output, HasSubstr("within tolerance"));
  EXPECT_THAT(r.output, HasSubstr("network conv3x6p1,relu,fc4, epoch 1, step 100"));
}

TEST(CheckpointDiffTest, TheToleranceIsRelativeToTheLargestParameter) {
  // Largest |a| = 2: the default bound is 2e-4; a difference of 1e-4 passes, 1e-3 fails.
  const std::string a = Write("tol_a.ckpt", State({0.5f, -2.0f, 1.0f}));
  const std::string near = Write("tol_near.ckpt", State({0.5f, -2.0f, 1.0001f}));
  const std::string far = Write("tol_far.ckpt", State({0.5f, -2.0f, 1.001f}));
  Result r = RunTool(absl::StrCat(a, " ", near));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("max |a-b| = 0.0001"));
  EXPECT_THAT(r.output, HasSubstr("at parameter 2: a = 1, b = 1.0001"));
  r = RunTool(absl::StrCat(a, " ", far));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("max |a-b| = 0.001"));
  EXPECT_THAT(r.output, HasSubstr("ABOVE tolerance"));
  r = RunTool(absl::StrCat("--tolerance=1e-3 ", a, " ", far));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(CheckpointDiffTest, NanIsADifference) {
  const std::string a = Write("nan_a.ckpt", State({0.5f, 1.0f}));
  const std::string b = Write("nan_b.ckpt", State({0.5f, std::nanf("")}));
  const Result r = RunTool(absl::StrCat(a, " ", b));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("max |a-b| = inf"));
}

TEST(CheckpointDiffTest, IncomparableCheckpointsFail) {
  const std::string a = Write("inc_a.ckpt", State({0.5f, 1.0f}));
  const std::string longer = Write("inc_longer.ckpt", State({0.5f, 1.0f, 2.0f}));
  Result r = RunTool(absl::StrCat(a, " ", longer));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("not comparable: 2 parameters against 3"));

  TrainingState other_net = State({0.5f, 1.0f});
  other_net.network_spec = "fc2";
  r = RunTool(absl::StrCat(a, " ", Write("inc_net.ckpt", other_net)));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("the networks differ"));

  TrainingState later = State({0.5f, 1.0f});
  later.step = 99;
  const std::string l = Write("inc_step.ckpt", later);
  r = RunTool(absl::StrCat(a, " ", l));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("epoch 1 step 100 against epoch 1 step 99"));
  r = RunTool(absl::StrCat("--check_counters=false ", a, " ", l));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(CheckpointDiffTest, OneCheckpointIsDescribed) {
  const std::string a = Write("one.ckpt", State({0.25f, -3.0f}));
  const Result r = RunTool(a);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("epoch 1, step 100, 2 parameters, largest |p| = 3"));
  EXPECT_THAT(r.output, Not(HasSubstr("max |a-b|")));
}

TEST(CheckpointDiffTest, UnreadableFilesAndBadArgumentsExit2) {
  const std::string a = Write("bad_a.ckpt", State({1.0f}));
  Result r = RunTool(absl::StrCat(a, " ", Path("absent.ckpt")));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("absent.ckpt"));
  r = RunTool("");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("usage"));
  r = RunTool(absl::StrCat(a, " ", a, " ", a));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = RunTool(absl::StrCat("--tolerance=-1 ", a, " ", a));
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

}  // namespace
}  // namespace fftrain::trainer

// The binary under test: the argument Bazel passes, else beside this test (Bazel's
// bazel-bin/tools/) or in the GPU bundle's bin/ (run_tests.sh runs tests/ without
// arguments).
std::string FindTool(int argc, char** argv) {
  if (argc >= 2) return argv[1];
  std::string dir = argv[0];
  const size_t slash = dir.rfind('/');
  dir = slash == std::string::npos ? "." : dir.substr(0, slash);
  for (const std::string& candidate :
       {dir + "/checkpoint_diff", dir + "/../bin/tools.checkpoint_diff"}) {
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  fftrain::trainer::g_tool = FindTool(argc, argv);
  if (fftrain::trainer::g_tool.empty()) {
    std::fprintf(stderr,
                 "usage: checkpoint_diff_test [PATH_TO_checkpoint_diff] (not found beside this "
                 "test nor in ../bin/tools.checkpoint_diff)\n");
    return 2;
  }
  return RUN_ALL_TESTS();
}
