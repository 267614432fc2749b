// Converts codes only, without initialising MPI (so MPI_Error_string is not called: Open
// MPI aborts a process that calls it before MPI_Init). comm/mpi_communicator_test checks
// the text MPI adds once it is initialised.
#include "base/mpi_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "base/process_identity.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::base {
namespace {

using ::testing::HasSubstr;

class MpiStatusTest : public ::testing::Test {
 protected:
  void TearDown() override { ClearProcessIdentity(); }
};

TEST_F(MpiStatusTest, SuccessIsOk) {
  EXPECT_TRUE(FromMpiError(MPI_SUCCESS, "MPI_Barrier(comm)", "f.cc", 1).ok());
}

TEST_F(MpiStatusTest, MapsClassesToCodes) {
  struct Case {
    int code;
    absl::StatusCode status_code;
  };
  for (const Case& c : {Case{MPI_ERR_ARG, absl::StatusCode::kInvalidArgument},
                        Case{MPI_ERR_COUNT, absl::StatusCode::kInvalidArgument},
                        Case{MPI_ERR_ROOT, absl::StatusCode::kInvalidArgument},
                        Case{MPI_ERR_TRUNCATE, absl::StatusCode::kInvalidArgument},
                        Case{MPI_ERR_COMM, absl::StatusCode::kInvalidArgument},
                        Case{MPI_ERR_NO_MEM, absl::StatusCode::kResourceExhausted},
                        Case{MPI_ERR_UNSUPPORTED_OPERATION, absl::StatusCode::kUnimplemented},
                        Case{MPI_ERR_INTERN, absl::StatusCode::kInternal},
                        Case{MPI_ERR_OTHER, absl::StatusCode::kUnavailable},
                        Case{MPI_ERR_UNKNOWN, absl::StatusCode::kUnavailable},
                        Case{MPI_ERR_PENDING, absl::StatusCode::kUnavailable}}) {
    EXPECT_EQ(FromMpiError(c.code, "x", "f.cc", 1).code(), c.status_code)
        << MpiErrorClassName(c.code);
  }
}

TEST_F(MpiStatusTest, MessageCarriesExpressionClassAndPlace) {
  const absl::Status status =
      FromMpiError(MPI_ERR_TRUNCATE, "MPI_Iallreduce(a, b, n)", "comm/mpi.cc", 42);
  const std::string message(status.message());
  EXPECT_THAT(message, HasSubstr("MPI_Iallreduce(a, b, n) failed: MPI_ERR_TRUNCATE"));
  EXPECT_THAT(message, HasSubstr("at comm/mpi.cc:42"));
  EXPECT_EQ(message.find("rank"), std::string::npos) << message;
}

TEST_F(MpiStatusTest, CodeAboveTheLastPredefinedOneIsUnknownAndKeepsItsNumber) {
  const int code = MPI_ERR_LASTCODE + 7;
  const absl::Status status = FromMpiError(code, "x", "f.cc", 3);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(absl::StrCat("MPI_ERR_UNKNOWN (code ", code, ")")));
}

TEST_F(MpiStatusTest, MessageEndsWithTheProcessIdentity) {
  SetProcessIdentity(1, 4, "cpu-node-2");
  const std::string message(FromMpiError(MPI_ERR_OTHER, "x", "f.cc", 7).message());
  const std::string suffix = "at f.cc:7 (rank 1 of 4 on host cpu-node-2)";
  ASSERT_GE(message.size(), suffix.size()) << message;
  EXPECT_EQ(message.substr(message.size() - suffix.size()), suffix) << message;
}

TEST_F(MpiStatusTest, NamesClasses) {
  EXPECT_STREQ(MpiErrorClassName(MPI_ERR_OTHER), "MPI_ERR_OTHER");
  EXPECT_STREQ(MpiErrorClassName(MPI_ERR_IN_STATUS), "MPI_ERR_IN_STATUS");
  EXPECT_STREQ(MpiErrorClassName(MPI_ERR_LASTCODE + 1), "MPI error class (unnamed)");
}

absl::Status ReturnsEarly(int code, bool* reached_end) {
  FFTRAIN_MPI_RETURN_IF_ERROR(code);
  *reached_end = true;
  return absl::OkStatus();
}

TEST_F(MpiStatusTest, MacroReturnsOnlyOnError) {
  bool reached_end = false;
  EXPECT_TRUE(ReturnsEarly(MPI_SUCCESS, &reached_end).ok());
  EXPECT_TRUE(reached_end);
  reached_end = false;
  EXPECT_EQ(ReturnsEarly(MPI_ERR_ARG, &reached_end).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(reached_end);
}

}  // namespace
}  // namespace fftrain::base
