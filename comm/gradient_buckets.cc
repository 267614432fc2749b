#include "comm/gradient_buckets.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace fftrain::comm {

absl::StatusOr<std::vector<GradientBucket>> PlanGradientBuckets(
    const std::vector<GradientRange>& ready_order, const BucketOptions& options) {
  if (options.first_bucket_bytes <= 0 || options.bucket_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bucket sizes must be positive, got first ", options.first_bucket_bytes, " and ",
        options.bucket_bytes, " bytes"));
  }
  std::vector<GradientBucket> buckets;
  GradientBucket open;
  for (size_t i = 0; i < ready_order.size(); ++i) {
    const GradientRange& r = ready_order[i];
    if (r.count <= 0 || r.offset < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gradient range '", r.name, "' is empty or negative (offset ", r.offset, ", count ",
          r.count, ")"));
    }
    if (i > 0) {
      const GradientRange& previous = ready_order[i - 1];
      if (r.offset + r.count != previous.offset) {
        return absl::InvalidArgumentError(absl::StrCat(
            "gradient range '", r.name, "' [", r.offset, ", ", r.offset + r.count,
            ") does not end where '", previous.name, "' begins (", previous.offset,
            "): buckets need ranges laid out back to front in one buffer"));
      }
    }
    // Ranges arrive back to front: the bucket grows downwards.
    open.offset = r.offset;
    open.count += r.count;
    open.ranges.push_back(static_cast<int>(i));
    const int64_t limit = buckets.empty() ? options.first_bucket_bytes : options.bucket_bytes;
    if (open.count * static_cast<int64_t>(sizeof(float)) >= limit) {
      buckets.push_back(std::move(open));
      open = GradientBucket();
    }
  }
  if (!open.ranges.empty()) buckets.push_back(std::move(open));
  return buckets;
}

std::vector<std::string> DescribeBuckets(const std::vector<GradientRange>& ready_order,
                                         const std::vector<GradientBucket>& buckets) {
  std::vector<std::string> lines;
  for (size_t b = 0; b < buckets.size(); ++b) {
    std::vector<std::string> names;
    for (int r : buckets[b].ranges) names.push_back(ready_order[r].name);
    lines.push_back(absl::StrFormat("bucket %d: %.2f MiB (%d floats at offset %d), %d %s: %s",
                                    b, buckets[b].count * 4.0 / (1 << 20), buckets[b].count,
                                    buckets[b].offset, names.size(),
                                    names.size() == 1 ? "layer" : "layers",
                                    absl::StrJoin(names, ", ")));
  }
  return lines;
}

absl::StatusOr<BucketedAllReduce> BucketedAllReduce::Create(
    Communicator& communicator, float* gradients, std::vector<GradientRange> ready_order,
    const BucketOptions& options) {
  if (gradients == nullptr && !ready_order.empty()) {
    return absl::InvalidArgumentError("BucketedAllReduce: no gradient buffer");
  }
  FFTRAIN_ASSIGN_OR_RETURN(std::vector<GradientBucket> buckets,
                           PlanGradientBuckets(ready_order, options));
  return BucketedAllReduce(communicator, gradients, std::move(ready_order), std::move(buckets));
}

BucketedAllReduce::BucketedAllReduce(Communicator& communicator, float* gradients,
                                     std::vector<GradientRange> ranges,
                                     std::vector<GradientBucket> buckets)
    : communicator_(&communicator),
      gradients_(gradients),
      ranges_(std::move(ranges)),
      buckets_(std::move(buckets)) {}

absl::Status BucketedAllReduce::MarkReady(int64_t offset, int64_t count) {
  if (next_range_ >= ranges_.size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "gradients [", offset, ", ", offset + count, ") reported after every range of the step"));
  }
  const GradientRange& expected = ranges_[next_range_];
  if (expected.offset != offset || expected.count != count) {
    return absl::FailedPreconditionError(absl::StrCat(
        "gradients [", offset, ", ", offset + count, ") reported where '", expected.name, "' [",
        expected.offset, ", ", expected.offset + expected.count,
        ") was due: the buckets' order would differ between ranks"));
  }
  ++next_range_;
  // A bucket is complete once its last range is.
  while (next_bucket_ < buckets_.size() &&
         static_cast<size_t>(buckets_[next_bucket_].ranges.back()) < next_range_) {
    const GradientBucket& bucket = buckets_[next_bucket_];
    FFTRAIN_RETURN_IF_ERROR(communicator_->StartAllReduce(gradients_ + bucket.offset,
                                                          bucket.count, ReduceOp::kAverage));
    ++next_bucket_;
  }
  return absl::OkStatus();
}

absl::Status BucketedAllReduce::Finish() {
  if (next_range_ != ranges_.size()) {
    const GradientRange& missing = ranges_[next_range_];
    next_range_ = next_bucket_ = 0;
    return absl::FailedPreconditionError(absl::StrCat(
        "the step ended before the gradients of '", missing.name, "' were reported"));
  }
  next_range_ = next_bucket_ = 0;
  return communicator_->WaitAllReduces();
}

}  // namespace fftrain::comm
