// Converts codes only, so it needs libnccl but no GPU: it runs everywhere, and must not
// skip.
#include "base/cuda/nccl_status.h"

#include <string>

#include "base/process_identity.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::base {
namespace {

using ::testing::HasSubstr;

class NcclStatusTest : public ::testing::Test {
 protected:
  void TearDown() override { ClearProcessIdentity(); }
};

TEST_F(NcclStatusTest, SuccessIsOk) {
  EXPECT_TRUE(FromNcclResult(ncclSuccess, "ncclAllReduce(...)", "f.cc", 1).ok());
}

TEST_F(NcclStatusTest, MapsResultsToCodes) {
  struct Case {
    ncclResult_t result;
    absl::StatusCode code;
  };
  for (const Case& c : {Case{ncclSystemError, absl::StatusCode::kUnavailable},
                        Case{ncclRemoteError, absl::StatusCode::kUnavailable},
                        Case{ncclInProgress, absl::StatusCode::kUnavailable},
                        Case{ncclInvalidArgument, absl::StatusCode::kInvalidArgument},
                        Case{ncclInvalidUsage, absl::StatusCode::kInvalidArgument},
                        Case{ncclUnhandledCudaError, absl::StatusCode::kInternal},
                        Case{ncclInternalError, absl::StatusCode::kInternal}}) {
    EXPECT_EQ(FromNcclResult(c.result, "x", "f.cc", 1).code(), c.code)
        << NcclResultName(c.result);
  }
}

TEST_F(NcclStatusTest, MessageCarriesExpressionNameDescriptionAndPlace) {
  const absl::Status status =
      FromNcclResult(ncclInvalidArgument, "ncclAllReduce(a, b, n)", "comm/nccl.cc", 42);
  const std::string message(status.message());
  EXPECT_THAT(message, HasSubstr("ncclAllReduce(a, b, n) failed: ncclInvalidArgument ("));
  EXPECT_THAT(message, HasSubstr(ncclGetErrorString(ncclInvalidArgument)));
  EXPECT_THAT(message, HasSubstr("at comm/nccl.cc:42"));
  EXPECT_EQ(message.find("rank"), std::string::npos) << message;
}

TEST_F(NcclStatusTest, MessageEndsWithTheProcessIdentity) {
  SetProcessIdentity(2, 8, "gpu-node-5");
  const std::string message(FromNcclResult(ncclRemoteError, "x", "f.cc", 7).message());
  const std::string suffix = "at f.cc:7 (rank 2 of 8 on host gpu-node-5)";
  ASSERT_GE(message.size(), suffix.size()) << message;
  EXPECT_EQ(message.substr(message.size() - suffix.size()), suffix) << message;
}

TEST_F(NcclStatusTest, NamesEveryResult) {
  EXPECT_STREQ(NcclResultName(ncclSystemError), "ncclSystemError");
  EXPECT_STREQ(NcclResultName(ncclInProgress), "ncclInProgress");
  EXPECT_STREQ(NcclResultName(static_cast<ncclResult_t>(99)), "unknown ncclResult_t");
}

absl::Status ReturnsEarly(ncclResult_t result, bool* reached_end) {
  FFTRAIN_NCCL_RETURN_IF_ERROR(result);
  *reached_end = true;
  return absl::OkStatus();
}

TEST_F(NcclStatusTest, MacroReturnsOnlyOnError) {
  bool reached_end = false;
  EXPECT_TRUE(ReturnsEarly(ncclSuccess, &reached_end).ok());
  EXPECT_TRUE(reached_end);
  reached_end = false;
  EXPECT_EQ(ReturnsEarly(ncclSystemError, &reached_end).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(reached_end);
}

}  // namespace
}  // namespace fftrain::base
