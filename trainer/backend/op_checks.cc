#include "trainer/backend/op_checks.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fftrain::trainer::internal {
namespace {

// Element counts stay far from int64's limit, so byte counts (x4, x8) never overflow.
constexpr int64_t kMaxElements = int64_t{1} << 60;

absl::Status CheckPointers(const char* op, std::initializer_list<Arg> args) {
  for (const Arg& arg : args) {
    if (arg.pointer == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": ", arg.name, " is null"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckNonNegative(const char* op, const char* name, int64_t value) {
  if (value < 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " = ", value, " < 0"));
  }
  return absl::OkStatus();
}

absl::Status CheckPositive(const char* op, const char* name, int64_t value) {
  if (value <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": ", name, " = ", value, " <= 0"));
  }
  return absl::OkStatus();
}

// a * b for non-negative a, b; InvalidArgument when it exceeds kMaxElements.
absl::Status CheckProduct(const char* op, const char* what, int64_t a, int64_t b,
                          int64_t* product) {
  if (a != 0 && b > kMaxElements / a) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": ", what, " ", a, " x ", b, " is too large"));
  }
  *product = a * b;
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckElementwise(const char* op, int64_t n, std::initializer_list<Arg> args) {
  FFTRAIN_RETURN_IF_ERROR(CheckNonNegative(op, "n", n));
  if (n > kMaxElements) {
    return absl::InvalidArgumentError(absl::StrCat(op, ": n = ", n, " is too large"));
  }
  if (n == 0) return absl::OkStatus();
  return CheckPointers(op, args);
}

absl::Status CheckMatrix(const char* op, int64_t rows, int64_t cols,
                         std::initializer_list<Arg> args) {
  FFTRAIN_RETURN_IF_ERROR(CheckNonNegative(op, "rows", rows));
  FFTRAIN_RETURN_IF_ERROR(CheckNonNegative(op, "cols", cols));
  int64_t elements = 0;
  FFTRAIN_RETURN_IF_ERROR(CheckProduct(op, "matrix", rows, cols, &elements));
  if (elements == 0) return absl::OkStatus();
  return CheckPointers(op, args);
}

absl::Status CheckPool(const char* op, const PoolDims& d, std::initializer_list<Arg> args) {
  FFTRAIN_RETURN_IF_ERROR(CheckPositive(op, "n", d.n));
  FFTRAIN_RETURN_IF_ERROR(CheckPositive(op, "c", d.c));
  FFTRAIN_RETURN_IF_ERROR(CheckPositive(op, "h", d.h));
  FFTRAIN_RETURN_IF_ERROR(CheckPositive(op, "w", d.w));
  FFTRAIN_RETURN_IF_ERROR(CheckPositive(op, "window", d.window));
  FFTRAIN_RETURN_IF_ERROR(CheckPositive(op, "stride", d.stride));
  if (d.window > d.h || d.window > d.w) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": window ", d.window, " is larger than the input ", d.h, "x", d.w));
  }
  const int64_t out_h = (d.h - d.window) / d.stride + 1;
  const int64_t out_w = (d.w - d.window) / d.stride + 1;
  if (d.out_h != out_h || d.out_w != out_w) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": output ", d.out_h, "x", d.out_w, " does not match input ", d.h, "x", d.w,
        ", window ", d.window, ", stride ", d.stride, " (expected ", out_h, "x", out_w, ")"));
  }
  int64_t planes = 0, elements = 0;
  FFTRAIN_RETURN_IF_ERROR(CheckProduct(op, "n x c", d.n, d.c, &planes));
  FFTRAIN_RETURN_IF_ERROR(CheckProduct(op, "planes x h", planes, d.h, &elements));
  FFTRAIN_RETURN_IF_ERROR(CheckProduct(op, "planes x h x w", elements, d.w, &elements));
  if (elements > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        op, ": the input has ", elements, " elements, more than int32 argmax indices reach"));
  }
  return CheckPointers(op, args);
}

absl::Status CheckGemm(int64_t m, int64_t n, int64_t k, const void* a, const void* b,
                       const void* c) {
  constexpr const char* kOp = "Gemm";
  FFTRAIN_RETURN_IF_ERROR(CheckNonNegative(kOp, "m", m));
  FFTRAIN_RETURN_IF_ERROR(CheckNonNegative(kOp, "n", n));
  FFTRAIN_RETURN_IF_ERROR(CheckNonNegative(kOp, "k", k));
  constexpr int64_t kMaxBlasInt = std::numeric_limits<int>::max();
  if (m > kMaxBlasInt || n > kMaxBlasInt || k > kMaxBlasInt) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": m, n, k = ", m, ", ", n, ", ", k, " do not fit BLAS's int"));
  }
  if (m == 0 || n == 0) return absl::OkStatus();
  if (k == 0) return CheckPointers(kOp, {{"c", c}});
  return CheckPointers(kOp, {{"a", a}, {"b", b}, {"c", c}});
}

absl::Status CheckSoftmax(int64_t batch, int64_t classes, const void* logits, const void* labels,
                          const void* grad, const void* loss, const void* correct) {
  constexpr const char* kOp = "SoftmaxCrossEntropy";
  FFTRAIN_RETURN_IF_ERROR(CheckNonNegative(kOp, "batch", batch));
  FFTRAIN_RETURN_IF_ERROR(CheckPositive(kOp, "classes", classes));
  if (classes > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kOp, ": classes = ", classes, " do not fit int32 labels"));
  }
  int64_t elements = 0;
  FFTRAIN_RETURN_IF_ERROR(CheckProduct(kOp, "logits", batch, classes, &elements));
  if (batch == 0) return absl::OkStatus();
  return CheckPointers(kOp, {{"logits", logits},
                             {"labels", labels},
                             {"grad", grad},
                             {"loss_per_example", loss},
                             {"correct_per_example", correct}});
}

absl::Status CheckLabels(const int32_t* labels, int64_t count, int64_t classes) {
  for (int64_t i = 0; i < count; ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      return absl::InvalidArgumentError(
          absl::StrCat("label ", labels[i], " at index ", i, " is outside [0, ", classes, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckCopy(const char* op, const void* from, const void* to, size_t bytes) {
  if (bytes == 0) return absl::OkStatus();
  return CheckPointers(op, {{"source", from}, {"destination", to}});
}

absl::Status CheckSgd(int64_t n, const void* params, const void* grads, const void* velocity) {
  return CheckElementwise("SgdMomentumStep", n,
                          {{"params", params}, {"grads", grads}, {"velocity", velocity}});
}

absl::Status CheckSumRows(int64_t rows, int64_t cols, const void* m, const void* out) {
  FFTRAIN_RETURN_IF_ERROR(CheckMatrix("SumRows", rows, cols, {{"m", m}, {"out", out}}));
  if (cols > 0 && out == nullptr) return absl::InvalidArgumentError("SumRows: out is null");
  return absl::OkStatus();
}

}  // namespace fftrain::trainer::internal
