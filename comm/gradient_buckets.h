// Gradient buckets: backward hands over each layer's gradients as they are complete;
// contiguous runs of them are grouped into buckets, and each bucket's all-reduce starts
// as soon as its last layer is ready, while backward goes on with the layers below. The
// buckets are slices of the one flat gradient buffer (no copies), planned once, in the
// same order on every rank (the communicator's ordering rule).
#ifndef FFTRAIN_COMM_GRADIENT_BUCKETS_H_
#define FFTRAIN_COMM_GRADIENT_BUCKETS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/communicator.h"

namespace fftrain::comm {

// One layer's gradients in the flat buffer, in floats.
struct GradientRange {
  std::string name;
  int64_t offset = 0;
  int64_t count = 0;
};

struct GradientBucket {
  int64_t offset = 0;  // floats, a contiguous slice of the gradient buffer
  int64_t count = 0;
  // Indices into the ranges given to PlanGradientBuckets, in the order they get ready.
  std::vector<int> ranges;
};

struct BucketOptions {
  // PyTorch DDP's defaults: a small first bucket, so that communication starts early in
  // backward, then 25 MiB, large enough that each all-reduce runs near full bandwidth.
  int64_t first_bucket_bytes = int64_t{1} << 20;
  int64_t bucket_bytes = int64_t{25} << 20;
};

// Groups `ready_order` (the ranges in the order backward completes them: the last layer
// first) into buckets: ranges are added to the open bucket until it holds at least its
// size (the first bucket's, then bucket_bytes); a range is never split, so a range larger
// than a bucket is a bucket of its own. Consecutive ranges must be adjacent in the
// buffer (each one ending where the previous one begins), as a network's flat buffer
// lays them; InvalidArgument otherwise, or for empty or overlapping ranges.
absl::StatusOr<std::vector<GradientBucket>> PlanGradientBuckets(
    const std::vector<GradientRange>& ready_order, const BucketOptions& options);

// One line per bucket for the start-up log: "bucket 0: 1.02 MiB, 3 layers (fc10, ...)".
std::vector<std::string> DescribeBuckets(const std::vector<GradientRange>& ready_order,
                                         const std::vector<GradientBucket>& buckets);

// Drives the buckets through one step after another: MarkReady as backward completes a
// range, Finish before the optimizer reads the gradients.
class BucketedAllReduce {
 public:
  // `gradients` is the flat buffer in the communicator's memory; it must outlive this.
  static absl::StatusOr<BucketedAllReduce> Create(Communicator& communicator,
                                                  float* gradients,
                                                  std::vector<GradientRange> ready_order,
                                                  const BucketOptions& options);

  const std::vector<GradientBucket>& buckets() const { return buckets_; }
  const std::vector<GradientRange>& ranges() const { return ranges_; }

  // Range [offset, offset + count) of the gradients is complete (enqueued, for a device).
  // Starts the all-reduce (average over ranks) of every bucket this completes. Ranges
  // must arrive in the planned order: anything else would break the ordering rule
  // between ranks, so it is refused (FailedPrecondition) instead of started.
  absl::Status MarkReady(int64_t offset, int64_t count);
  // Every bucket has started (else FailedPrecondition naming the first missing range);
  // waits for all of them (Communicator::WaitAllReduces) and resets for the next step.
  absl::Status Finish();

 private:
  BucketedAllReduce(Communicator& communicator, float* gradients,
                    std::vector<GradientRange> ranges, std::vector<GradientBucket> buckets);

  Communicator* communicator_;
  float* gradients_;
  std::vector<GradientRange> ranges_;
  std::vector<GradientBucket> buckets_;
  size_t next_range_ = 0;   // the next range expected this step
  size_t next_bucket_ = 0;  // the next bucket to start
};

}  // namespace fftrain::comm

#endif  // FFTRAIN_COMM_GRADIENT_BUCKETS_H_
