#include "trainer/metrics_log.h"

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

}  // namespace
}  // namespace fftrain::trainer
