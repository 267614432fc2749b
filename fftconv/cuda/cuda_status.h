// The one place where CUDA, cuFFT and cuBLAS error codes become absl::Status, carrying
// the expression that failed and where. Internal: includes the CUDA headers.
#ifndef FFTRAIN_FFTCONV_CUDA_CUDA_STATUS_H_
#define FFTRAIN_FFTCONV_CUDA_CUDA_STATUS_H_

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cufft.h>

#include "absl/status/status.h"

namespace fftrain::fftconv {

absl::Status FromCudaError(cudaError_t error, const char* expression, const char* file,
                           int line);
absl::Status FromCufftResult(cufftResult result, const char* expression, const char* file,
                             int line);
absl::Status FromCublasStatus(cublasStatus_t status, const char* expression,
                              const char* file, int line);

const char* CufftResultName(cufftResult result);

}  // namespace fftrain::fftconv

#define FFTRAIN_CUDA_RETURN_IF_ERROR(expr)                                              \
  FFTRAIN_RETURN_IF_ERROR(::fftrain::fftconv::FromCudaError((expr), #expr, __FILE__, \
                                                            __LINE__))
#define FFTRAIN_CUFFT_RETURN_IF_ERROR(expr)                                               \
  FFTRAIN_RETURN_IF_ERROR(::fftrain::fftconv::FromCufftResult((expr), #expr, __FILE__, \
                                                              __LINE__))
#define FFTRAIN_CUBLAS_RETURN_IF_ERROR(expr)                                               \
  FFTRAIN_RETURN_IF_ERROR(::fftrain::fftconv::FromCublasStatus((expr), #expr, __FILE__, \
                                                               __LINE__))

#endif  // FFTRAIN_FFTCONV_CUDA_CUDA_STATUS_H_
