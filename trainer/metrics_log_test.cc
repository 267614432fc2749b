#include "trainer/metrics_log.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace fftrain::trainer {
namespace {

TEST(JsonObjectTest, RendersFieldsInOrder) {
  JsonObject inner;
  inner.Add("data", 0.5).Add("eval", int64_t{2});
  JsonObject o;
  o.Add("event", "epoch").Add("n", 3).Add("ok", true).Add("bad", std::nan("")).Add("in", inner)
      .Add("text", "a\"b\\c\nd");
  EXPECT_EQ(o.ToString(),
            "{\"event\":\"epoch\",\"n\":3,\"ok\":true,\"bad\":null,"
            "\"in\":{\"data\":0.5,\"eval\":2},\"text\":\"a\\\"b\\\\c\\nd\"}");
}

TEST(JsonLinesWriterTest, WritesAndAppendsLines) {
  const std::string path = ::testing::TempDir() + "log.jsonl";
  {
    auto writer = JsonLinesWriter::Open(path, false);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->Write(JsonObject().Add("a", 1)).ok());
  }
  {
    auto writer = JsonLinesWriter::Open(path, true);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->Write(JsonObject().Add("b", 2)).ok());
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "{\"a\":1}\n{\"b\":2}\n");
}

TEST(JsonLinesWriterTest, RefusesUnwritablePathAndDiscardsWithoutPath) {
  EXPECT_FALSE(JsonLinesWriter::Open("/nonexistent-dir/x/log.jsonl", false).ok());
  auto none = JsonLinesWriter::Open("", false);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->Write(JsonObject().Add("a", 1)).ok());
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Issue 17, defect 6: after a resume the log repeated the steps the killed run had logged
// after its checkpoint. Resuming drops them (and a line cut off mid-write), keeping the
// lines up to the checkpoint's step and those without a step.
TEST(JsonLinesWriterTest, ResumeDropsTheLinesAfterTheCheckpointsStep) {
  const std::string path = ::testing::TempDir() + "resume.jsonl";
  std::ofstream(path) << "{\"event\":\"config\",\"steps_per_epoch\":40}\n"
                      << "{\"event\":\"step\",\"epoch\":1,\"step\":20,\"loss\":1}\n"
                      << "{\"event\":\"epoch\",\"epoch\":1,\"step\":40,\"phase_seconds\":{}}\n"
                      << "{\"event\":\"step\",\"epoch\":2,\"step\":60,\"loss\":2}\n"
                      << "{\"event\":\"config\",\"resumed\":true}\n"
                      << "{\"event\":\"step\",\"epoch\":2,\"step\":80,\"lo";
  int64_t dropped = -1;
  {
    auto writer = JsonLinesWriter::OpenForResume(path, 40, &dropped);
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE(writer->Write(JsonObject().Add("event", "resume").Add("step", int64_t{40})).ok());
  }
  EXPECT_EQ(dropped, 3);
  EXPECT_EQ(ReadAll(path),
            "{\"event\":\"config\",\"steps_per_epoch\":40}\n"
            "{\"event\":\"step\",\"epoch\":1,\"step\":20,\"loss\":1}\n"
            "{\"event\":\"epoch\",\"epoch\":1,\"step\":40,\"phase_seconds\":{}}\n"
            "{\"event\":\"resume\",\"step\":40}\n");
  // Nothing past the step: nothing dropped. A missing log is created.
  ASSERT_TRUE(JsonLinesWriter::OpenForResume(path, 40, &dropped).ok());
  EXPECT_EQ(dropped, 0);
  const std::string fresh = ::testing::TempDir() + "fresh-resume.jsonl";
  ASSERT_TRUE(JsonLinesWriter::OpenForResume(fresh, 40, &dropped).ok());
  EXPECT_EQ(ReadAll(fresh), "");
}

// Issue 17, defect 2: a FIFO as the log blocked the open (waiting for a reader).
TEST(JsonLinesWriterTest, RefusesAFifoWithoutBlocking) {
  const std::string fifo = ::testing::TempDir() + "log-fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (bool append : {false, true}) {
    absl::StatusOr<JsonLinesWriter> writer = JsonLinesWriter::Open(fifo, append);
    EXPECT_FALSE(writer.ok());
  }
}

}  // namespace
}  // namespace fftrain::trainer
