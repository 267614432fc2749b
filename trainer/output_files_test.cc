#include "trainer/output_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::trainer {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// A fresh folder per test.
std::string TestDir() {
  const char* root = std::getenv("TEST_TMPDIR");
  const std::string dir = absl::StrCat(
      root != nullptr ? root : "/tmp", "/",
      ::testing::UnitTest::GetInstance()->current_test_info()->name());
  const std::string command = absl::StrCat("rm -rf '", dir, "' && mkdir -p '", dir, "'");
  EXPECT_EQ(std::system(command.c_str()), 0);
  return dir;
}

void Touch(const std::string& path, const std::string& text = "data") {
  std::ofstream(path) << text;
}

std::string Refusal(const std::vector<FlagPath>& outputs,
                    const std::vector<FlagPath>& inputs = {}) {
  const absl::Status status = CheckOutputFiles(outputs, inputs);
  if (status.ok()) return "(accepted)";
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  return std::string(status.message());
}

TEST(OutputFilesTest, NewPathsAndRegularFilesAreAccepted) {
  const std::string dir = TestDir();
  Touch(dir + "/old.jsonl");
  EXPECT_EQ(Refusal({{"--log", dir + "/old.jsonl"}, {"--checkpoint", dir + "/new.ckpt"},
                     {"--tuner_cache", ""}}),
            "(accepted)");
  // Nothing was created, changed or left behind.
  EXPECT_FALSE(PathExists(dir + "/new.ckpt"));
  std::ifstream in(dir + "/old.jsonl");
  std::string text;
  in >> text;
  EXPECT_EQ(text, "data");
  EXPECT_EQ(std::system(absl::StrCat("test $(ls -A '", dir, "' | wc -l) -eq 1").c_str()), 0);
}

// Issue 17, defect 2: outputs that are not regular files (a device node, a FIFO, a folder)
// were replaced or written into.
TEST(OutputFilesTest, WhatIsNotARegularFileIsRefused) {
  const std::string dir = TestDir();
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string link = dir + "/link-to-null";
  ASSERT_EQ(::symlink("/dev/null", link.c_str()), 0);
  const std::string dangling = dir + "/dangling";
  ASSERT_EQ(::symlink("no-such-target", dangling.c_str()), 0);
  EXPECT_THAT(Refusal({{"--checkpoint", "/dev/null"}}),
              HasSubstr("--checkpoint=/dev/null: is a character device, not a regular file"));
  EXPECT_THAT(Refusal({{"--log", fifo}}), HasSubstr("is a FIFO, not a regular file"));
  EXPECT_THAT(Refusal({{"--log", dir}}), HasSubstr("is a directory, not a regular file"));
  EXPECT_THAT(Refusal({{"--log", dir + "/"}}), HasSubstr("names a folder, not a file"));
  EXPECT_THAT(Refusal({{"--checkpoint", link}}), HasSubstr("is a character device"));
  EXPECT_THAT(Refusal({{"--checkpoint", dangling}}),
              HasSubstr("a symbolic link to a missing or unreachable file"));
}

// Issue 17, defect 2: --checkpoint or --log pointed at a data file destroyed it; the log and
// the checkpoint could be one file. Refused, also through symbolic and hard links.
TEST(OutputFilesTest, AnOutputThatIsAnInputOrAnotherOutputIsRefused) {
  const std::string dir = TestDir();
  const std::string data = dir + "/train-images-idx3-ubyte";
  Touch(data);
  const std::string hard = dir + "/hard-link";
  ASSERT_EQ(::link(data.c_str(), hard.c_str()), 0);
  const std::string soft = dir + "/soft-link";
  ASSERT_EQ(::symlink(data.c_str(), soft.c_str()), 0);
  const std::vector<FlagPath> inputs = {{"--data_dir", data}};
  for (const std::string& path : {data, hard, soft}) {
    EXPECT_THAT(Refusal({{"--log", path}}, inputs),
                AllOf(HasSubstr("--log=" + path + " is " + data),
                      HasSubstr("an input of this run (--data_dir); refusing to overwrite it")));
  }
  // Two outputs, new paths spelled differently.
  ASSERT_EQ(::mkdir((dir + "/sub").c_str(), 0700), 0);
  EXPECT_THAT(Refusal({{"--log", dir + "/run.out"}, {"--checkpoint", dir + "/sub/../run.out"}}),
              HasSubstr("are the same file"));
  // Two outputs, one existing file through a link.
  Touch(dir + "/both");
  ASSERT_EQ(::symlink("both", (dir + "/both-link").c_str()), 0);
  EXPECT_THAT(Refusal({{"--log", dir + "/both"}, {"--checkpoint", dir + "/both-link"}}),
              HasSubstr("--log=" + dir + "/both and --checkpoint=" + dir +
                        "/both-link are the same file"));
}

// Issue 17, defect 5: an unwritable checkpoint path was found only when the first epoch
// ended. The folder is tried at start-up by creating (and removing) a file in it.
TEST(OutputFilesTest, AFolderWhereNothingCanBeCreatedIsFoundAtOnce) {
  const std::string dir = TestDir();
  EXPECT_THAT(Refusal({{"--checkpoint", dir + "/missing/run.ckpt"}}),
              HasSubstr("its folder " + dir + "/missing cannot be used"));
  Touch(dir + "/file");
  EXPECT_THAT(Refusal({{"--checkpoint", dir + "/file/run.ckpt"}}),
              HasSubstr("Not a directory"));
  // /proc refuses new files even to root.
  EXPECT_THAT(Refusal({{"--checkpoint", "/proc/run.ckpt"}}),
              HasSubstr("cannot create files in its folder /proc"));
  if (::geteuid() != 0) {  // root writes anywhere else
    const std::string locked = dir + "/locked";
    ASSERT_EQ(::mkdir(locked.c_str(), 0500), 0);
    EXPECT_THAT(Refusal({{"--log", locked + "/run.jsonl"}}),
                HasSubstr("cannot create files in its folder"));
  }
}

}  // namespace
}  // namespace fftrain::trainer
