// Converts codes only, so it needs the CUDA libraries but no GPU: it runs everywhere.
#include "base/cuda/cuda_status.h"

#include <string>

#include "base/cuda/cublas_status.h"
#include "base/cuda/cufft_status.h"
#include "base/process_identity.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::base {
namespace {

using ::testing::HasSubstr;

class CudaStatusTest : public ::testing::Test {
 protected:
  void TearDown() override { ClearProcessIdentity(); }
};

TEST_F(CudaStatusTest, SuccessIsOk) {
  EXPECT_TRUE(FromCudaError(cudaSuccess, "x", "f.cc", 1).ok());
  EXPECT_TRUE(FromCufftResult(CUFFT_SUCCESS, "x", "f.cc", 1).ok());
  EXPECT_TRUE(FromCublasStatus(CUBLAS_STATUS_SUCCESS, "x", "f.cc", 1).ok());
}

TEST_F(CudaStatusTest, CudaErrorCarriesExpressionNameAndPlace) {
  const absl::Status status =
      FromCudaError(cudaErrorMemoryAllocation, "cudaMalloc(&p, n)", "a/b.cc", 12);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("cudaMalloc(&p, n) failed: "));
  EXPECT_THAT(std::string(status.message()), HasSubstr("cudaErrorMemoryAllocation"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("at a/b.cc:12"));
  EXPECT_EQ(FromCudaError(cudaErrorInvalidValue, "x", "f.cc", 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FromCudaError(cudaErrorNoDevice, "x", "f.cc", 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(FromCudaError(cudaErrorLaunchFailure, "x", "f.cc", 1).code(),
            absl::StatusCode::kInternal);
}

TEST_F(CudaStatusTest, MessagesNameTheRankOnceItIsKnown) {
  EXPECT_EQ(std::string(FromCudaError(cudaErrorInvalidValue, "x", "f.cc", 1).message())
                .find("rank"),
            std::string::npos);
  SetProcessIdentity(1, 4, "gpu-node-3");
  const std::string suffix = " (rank 1 of 4 on host gpu-node-3)";
  for (const absl::Status& status :
       {FromCudaError(cudaErrorInvalidValue, "x", "f.cc", 1),
        FromCufftResult(CUFFT_EXEC_FAILED, "x", "f.cc", 1),
        FromCublasStatus(CUBLAS_STATUS_EXECUTION_FAILED, "x", "f.cc", 1)}) {
    const std::string message(status.message());
    ASSERT_GE(message.size(), suffix.size());
    EXPECT_EQ(message.substr(message.size() - suffix.size()), suffix) << message;
  }
}

TEST_F(CudaStatusTest, CufftResultsMapToCodes) {
  const absl::Status status = FromCufftResult(CUFFT_INVALID_SIZE, "cufftPlan2d", "f.cc", 3);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("CUFFT_INVALID_SIZE"));
  EXPECT_EQ(FromCufftResult(CUFFT_ALLOC_FAILED, "x", "f.cc", 1).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FromCufftResult(CUFFT_EXEC_FAILED, "x", "f.cc", 1).code(),
            absl::StatusCode::kInternal);
  EXPECT_STREQ(CufftResultName(static_cast<cufftResult>(9999)), "unknown cufftResult");
}

TEST_F(CudaStatusTest, CublasStatusesMapToCodes) {
  const absl::Status status =
      FromCublasStatus(CUBLAS_STATUS_INVALID_VALUE, "cublasCgemm", "f.cc", 4);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("CUBLAS_STATUS_INVALID_VALUE"));
  EXPECT_EQ(FromCublasStatus(CUBLAS_STATUS_ALLOC_FAILED, "x", "f.cc", 1).code(),
            absl::StatusCode::kResourceExhausted);
}

absl::Status ReturnsEarly(cudaError_t error, bool* reached_end) {
  FFTRAIN_CUDA_RETURN_IF_ERROR(error);
  *reached_end = true;
  return absl::OkStatus();
}

TEST_F(CudaStatusTest, MacroReturnsOnlyOnError) {
  bool reached_end = false;
  EXPECT_TRUE(ReturnsEarly(cudaSuccess, &reached_end).ok());
  EXPECT_TRUE(reached_end);
  reached_end = false;
  const absl::Status status = ReturnsEarly(cudaErrorInvalidValue, &reached_end);
  EXPECT_FALSE(reached_end);
  EXPECT_THAT(std::string(status.message()), HasSubstr("error failed: "));
}

}  // namespace
}  // namespace fftrain::base
