// Argument checks shared by the backends, so that the CPU and CUDA backends refuse the
// same calls with the same messages, before anything is enqueued. Internal to
// trainer/backend.
#ifndef FFTRAIN_TRAINER_BACKEND_OP_CHECKS_H_
#define FFTRAIN_TRAINER_BACKEND_OP_CHECKS_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "absl/status/status.h"
#include "trainer/backend/backend.h"

namespace fftrain::trainer::internal {

// A pointer argument, named for messages.
struct Arg {
  const char* name;
  const void* pointer;
};

// InvalidArgument unless n >= 0 and, when n > 0, every pointer is non-null.
absl::Status CheckElementwise(const char* op, int64_t n, std::initializer_list<Arg> args);

// The same for a rows x cols matrix; also refuses products that overflow.
absl::Status CheckMatrix(const char* op, int64_t rows, int64_t cols,
                         std::initializer_list<Arg> args);

// Positive sizes, a window that fits the input, out_h/out_w as PoolDims defines them,
// and an input small enough for int32 argmax indices.
absl::Status CheckPool(const char* op, const PoolDims& d, std::initializer_list<Arg> args);

// Non-negative sizes that fit BLAS's int, and the pointers the product reads and writes.
absl::Status CheckGemm(int64_t m, int64_t n, int64_t k, const void* a, const void* b,
                       const void* c);

// batch >= 0, 1 <= classes <= INT32_MAX (labels are int32), pointers when batch > 0.
absl::Status CheckSoftmax(int64_t batch, int64_t classes, const void* logits, const void* labels,
                          const void* grad, const void* loss, const void* correct);

// InvalidArgument naming the first label outside [0, classes) and its index. `labels`
// is host memory.
absl::Status CheckLabels(const int32_t* labels, int64_t count, int64_t classes);

// Null source or destination with bytes > 0.
absl::Status CheckCopy(const char* op, const void* from, const void* to, size_t bytes);

absl::Status CheckSgd(int64_t n, const void* params, const void* grads, const void* velocity);

// SumRows writes `cols` sums even when rows == 0, so `out` must exist whenever cols > 0.
absl::Status CheckSumRows(int64_t rows, int64_t cols, const void* m, const void* out);

}  // namespace fftrain::trainer::internal

#endif  // FFTRAIN_TRAINER_BACKEND_OP_CHECKS_H_
