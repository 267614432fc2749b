// Propagation macros for absl::Status and absl::StatusOr. Our Abseil (20220623) has no
// ABSL_RETURN_IF_ERROR, so the project carries its own, prefixed to avoid clashes.
#ifndef FFTRAIN_BASE_STATUS_MACROS_H_
#define FFTRAIN_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FFTRAIN_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::absl::Status fftrain_status_ = (expr);           \
    if (!fftrain_status_.ok()) return fftrain_status_; \
  } while (0)

#define FFTRAIN_STATUS_CONCAT_INNER_(a, b) a##b
#define FFTRAIN_STATUS_CONCAT_(a, b) FFTRAIN_STATUS_CONCAT_INNER_(a, b)

// FFTRAIN_ASSIGN_OR_RETURN(auto plan, Plan::Create(shape));
#define FFTRAIN_ASSIGN_OR_RETURN(lhs, rexpr) \
  FFTRAIN_ASSIGN_OR_RETURN_IMPL_(FFTRAIN_STATUS_CONCAT_(fftrain_statusor_, __LINE__), lhs, rexpr)

#define FFTRAIN_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

#endif  // FFTRAIN_BASE_STATUS_MACROS_H_
