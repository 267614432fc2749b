#include "trainer/data/dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/data/idx_test_util.h"

namespace fftrain::trainer {
namespace {

using ::fftrain::trainer::test_util::IdxBytes;
using ::fftrain::trainer::test_util::TempPath;
using ::fftrain::trainer::test_util::WriteRaw;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

bool FashionMnistInstalled() {
  struct stat info;
  return ::stat(DefaultFashionMnistDir().c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

void ExpectFashionMnist(const ImageDataset& data, int64_t count) {
  EXPECT_EQ(data.count, count);
  EXPECT_EQ(data.channels, 1);
  EXPECT_EQ(data.height, 28);
  EXPECT_EQ(data.width, 28);
  EXPECT_EQ(data.num_classes, 10);
  ASSERT_EQ(data.images.size(), static_cast<size_t>(count * 28 * 28));
  ASSERT_EQ(data.labels.size(), static_cast<size_t>(count));
  const auto [lo, hi] = std::minmax_element(data.images.begin(), data.images.end());
  EXPECT_GE(*lo, 0.0f);
  EXPECT_LE(*hi, 1.0f);
  std::vector<int64_t> per_class(10, 0);
  for (int32_t label : data.labels) {
    ASSERT_GE(label, 0);
    ASSERT_LT(label, 10);
    ++per_class[label];
  }
  // Fashion-MNIST has exactly count / 10 examples of every class.
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], count / 10) << "class " << c;
}

TEST(FashionMnistTest, LoadsTrainAndTestSplits) {
  if (!FashionMnistInstalled()) {
    GTEST_SKIP() << DefaultFashionMnistDir() << " is absent (Debian's data set is not installed)";
  }
  absl::StatusOr<ImageDataset> train = LoadFashionMnist(DefaultFashionMnistDir(), Split::kTrain, 0);
  ASSERT_TRUE(train.ok()) << train.status();
  ExpectFashionMnist(*train, 60000);
  absl::StatusOr<ImageDataset> test = LoadFashionMnist(DefaultFashionMnistDir(), Split::kTest, 0);
  ASSERT_TRUE(test.ok()) << test.status();
  ExpectFashionMnist(*test, 10000);

  // The limit keeps a prefix of the full split.
  absl::StatusOr<ImageDataset> head = LoadFashionMnist(DefaultFashionMnistDir(), Split::kTest, 50);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->count, 50);
  EXPECT_TRUE(std::equal(head->images.begin(), head->images.end(), test->images.begin()));
  EXPECT_TRUE(std::equal(head->labels.begin(), head->labels.end(), test->labels.begin()));
}

TEST(FashionMnistTest, AcceptsUncompressedFiles) {
  const std::string dir = TempPath("fashion-raw");
  ASSERT_EQ(::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST, true);
  WriteRaw(dir + "/t10k-images-idx3-ubyte", IdxBytes(0x08, {2, 1, 3}, {0, 51, 102, 153, 204, 255}));
  WriteRaw(dir + "/t10k-labels-idx1-ubyte", IdxBytes(0x08, {2}, {9, 4}));
  absl::StatusOr<ImageDataset> data = LoadFashionMnist(dir, Split::kTest, 0);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->count, 2);
  EXPECT_EQ(data->height, 1);
  EXPECT_EQ(data->width, 3);
  EXPECT_EQ(data->num_classes, 10);
  EXPECT_THAT(data->images, ElementsAre(0.0f, 0.2f, 0.4f, 0.6f, 0.8f, 1.0f));
  EXPECT_THAT(data->labels, ElementsAre(9, 4));

  // No training files there: the error names both names it looked for.
  const absl::Status status = LoadFashionMnist(dir, Split::kTrain, 0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr(dir + "/train-images-idx3-ubyte.gz"),
                                      HasSubstr(dir + "/train-images-idx3-ubyte'")));
}

TEST(SyntheticDatasetTest, RejectsBadSizes) {
  for (const auto& [count, c, h, w] : std::vector<std::array<int64_t, 4>>{
           {0, 1, 2, 2}, {4, 0, 2, 2}, {4, 1, -1, 2}, {4, 1, 2, 0}}) {
    const absl::Status status = MakeSyntheticDataset(count, c, h, w, 3, 1).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(), HasSubstr("must be positive"));
  }
  for (int32_t classes : {1, 0, -5}) {
    const absl::Status status = MakeSyntheticDataset(4, 1, 2, 2, classes, 1).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(), HasSubstr("num_classes must be at least 2"));
  }
  const absl::Status status =
      MakeSyntheticDataset(int64_t{1} << 40, 1 << 20, 1 << 20, 1, 2, 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr("overflow"));
}

TEST(SyntheticDatasetTest, DeterministicPerSeed) {
  absl::StatusOr<ImageDataset> a = MakeSyntheticDataset(64, 2, 5, 3, 4, 7);
  absl::StatusOr<ImageDataset> b = MakeSyntheticDataset(64, 2, 5, 3, 4, 7);
  absl::StatusOr<ImageDataset> c = MakeSyntheticDataset(64, 2, 5, 3, 4, 8);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->count, 64);
  EXPECT_EQ(a->channels, 2);
  EXPECT_EQ(a->height, 5);
  EXPECT_EQ(a->width, 3);
  EXPECT_EQ(a->num_classes, 4);
  ASSERT_EQ(a->images.size(), 64u * 2 * 5 * 3);
  EXPECT_EQ(a->images, b->images);
  EXPECT_EQ(a->labels, b->labels);
  EXPECT_NE(a->images, c->images);
}

TEST(SyntheticDatasetTest, LabelsBalancedAndInRange) {
  absl::StatusOr<ImageDataset> data = MakeSyntheticDataset(103, 1, 4, 4, 10, 3);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->labels.size(), 103u);
  std::vector<int64_t> per_class(10, 0);
  for (int32_t label : data->labels) {
    ASSERT_GE(label, 0);
    ASSERT_LT(label, 10);
    ++per_class[label];
  }
  for (int c = 0; c < 10; ++c) {
    EXPECT_GE(per_class[c], 10) << "class " << c;
    EXPECT_LE(per_class[c], 11) << "class " << c;
  }
  // Shuffled, not in round-robin order.
  std::vector<int32_t> round_robin(103);
  for (int i = 0; i < 103; ++i) round_robin[i] = i % 10;
  EXPECT_NE(data->labels, round_robin);
}

TEST(SyntheticDatasetTest, ExamplesAreCloserToTheirOwnClassMean) {
  constexpr int32_t kClasses = 5;
  absl::StatusOr<ImageDataset> made = MakeSyntheticDataset(500, 3, 4, 4, kClasses, 11);
  ASSERT_TRUE(made.ok()) << made.status();
  const ImageDataset& data = *made;
  const int64_t elements = data.image_elements();
  std::vector<double> means(kClasses * elements, 0.0);
  std::vector<int64_t> counts(kClasses, 0);
  for (int64_t i = 0; i < data.count; ++i) {
    ++counts[data.labels[i]];
    for (int64_t e = 0; e < elements; ++e) {
      means[data.labels[i] * elements + e] += data.images[i * elements + e];
    }
  }
  for (int32_t c = 0; c < kClasses; ++c) {
    for (int64_t e = 0; e < elements; ++e) means[c * elements + e] /= counts[c];
  }
  double own = 0.0, other = 0.0;
  int64_t nearest_is_own = 0;
  for (int64_t i = 0; i < data.count; ++i) {
    std::vector<double> distance(kClasses, 0.0);
    for (int32_t c = 0; c < kClasses; ++c) {
      for (int64_t e = 0; e < elements; ++e) {
        const double d = data.images[i * elements + e] - means[c * elements + e];
        distance[c] += d * d;
      }
      distance[c] = std::sqrt(distance[c]);
    }
    own += distance[data.labels[i]];
    other += (std::accumulate(distance.begin(), distance.end(), 0.0) - distance[data.labels[i]]) /
             (kClasses - 1);
    nearest_is_own +=
        std::min_element(distance.begin(), distance.end()) - distance.begin() == data.labels[i];
  }
  own /= data.count;
  other /= data.count;
  EXPECT_LT(own, 0.5 * other) << "own-class distance " << own << ", other classes " << other;
  EXPECT_GT(nearest_is_own, data.count * 95 / 100);
}

TEST(NormalizationTest, HandComputed) {
  ImageDataset data;
  data.count = 1;
  data.channels = 1;
  data.height = 2;
  data.width = 2;
  data.images = {1.f, 2.f, 3.f, 4.f};
  data.labels = {0};
  const Normalization norm = ComputeNormalization(data);
  EXPECT_FLOAT_EQ(norm.mean, 2.5f);
  EXPECT_FLOAT_EQ(norm.stddev, std::sqrt(1.25f));
  Normalize(norm, &data);
  const float s = std::sqrt(1.25f);
  EXPECT_THAT(data.images, ElementsAre(::testing::FloatEq(-1.5f / s), ::testing::FloatEq(-0.5f / s),
                                       ::testing::FloatEq(0.5f / s), ::testing::FloatEq(1.5f / s)));
}

TEST(NormalizationTest, ConstantImagesGetTheStddevFloor) {
  ImageDataset data;
  data.count = 2;
  data.channels = 1;
  data.height = 1;
  data.width = 3;
  data.images.assign(6, 0.25f);
  data.labels = {0, 1};
  const Normalization norm = ComputeNormalization(data);
  EXPECT_FLOAT_EQ(norm.mean, 0.25f);
  EXPECT_FLOAT_EQ(norm.stddev, 1e-6f);
  Normalize(norm, &data);
  for (float x : data.images) EXPECT_EQ(x, 0.0f);
  EXPECT_FLOAT_EQ(ComputeNormalization(ImageDataset()).stddev, 1.0f);
}

TEST(NormalizationTest, NormalizedSetHasZeroMeanUnitStddev) {
  absl::StatusOr<ImageDataset> data = MakeSyntheticDataset(200, 3, 8, 8, 10, 5);
  ASSERT_TRUE(data.ok()) << data.status();
  // Shift and scale so the check is not trivially near the answer already.
  for (float& x : data->images) x = 3.0f * x + 40.0f;
  Normalize(ComputeNormalization(*data), &*data);
  const Normalization after = ComputeNormalization(*data);
  EXPECT_NEAR(after.mean, 0.0f, 1e-4f);
  EXPECT_NEAR(after.stddev, 1.0f, 1e-4f);
}

TEST(NormalizationTest, FashionMnistNormalizes) {
  if (!FashionMnistInstalled()) {
    GTEST_SKIP() << DefaultFashionMnistDir() << " is absent (Debian's data set is not installed)";
  }
  absl::StatusOr<ImageDataset> data = LoadFashionMnist(DefaultFashionMnistDir(), Split::kTest, 2000);
  ASSERT_TRUE(data.ok()) << data.status();
  const Normalization norm = ComputeNormalization(*data);
  // Fashion-MNIST's pixels average about 0.29 with a spread of about 0.35.
  EXPECT_NEAR(norm.mean, 0.29f, 0.03f);
  EXPECT_NEAR(norm.stddev, 0.35f, 0.03f);
  Normalize(norm, &*data);
  const Normalization after = ComputeNormalization(*data);
  EXPECT_NEAR(after.mean, 0.0f, 1e-4f);
  EXPECT_NEAR(after.stddev, 1.0f, 1e-4f);
}

bool IsPermutation(const std::vector<int64_t>& order, int64_t count) {
  if (static_cast<int64_t>(order.size()) != count) return false;
  std::vector<bool> seen(count, false);
  for (int64_t v : order) {
    if (v < 0 || v >= count || seen[v]) return false;
    seen[v] = true;
  }
  return true;
}

TEST(EpochPermutationTest, IsAPermutation) {
  for (int64_t count : {0, 1, 2, 7, 1000}) {
    EXPECT_TRUE(IsPermutation(EpochPermutation(count, 42, 3), count)) << "count " << count;
  }
  EXPECT_TRUE(EpochPermutation(-5, 42, 3).empty());
}

TEST(EpochPermutationTest, DependsOnlyOnSeedAndEpoch) {
  const std::vector<int64_t> a = EpochPermutation(1000, 42, 0);
  EXPECT_EQ(a, EpochPermutation(1000, 42, 0));
  EXPECT_NE(a, EpochPermutation(1000, 42, 1));
  EXPECT_NE(a, EpochPermutation(1000, 43, 0));
  EXPECT_NE(EpochPermutation(1000, 42, 1), EpochPermutation(1000, 42, 2));
  std::vector<int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(a, identity);
}

// Golden values, cross-checked against an independent Python version of mt19937_64 and the
// same mixing and Fisher-Yates: if this fails, the shuffle algorithm changed, and with it the
// order every earlier run (and every rank still running older code) used.
TEST(EpochPermutationTest, GoldenOrder) {
  EXPECT_THAT(EpochPermutation(10, 1, 0), ElementsAre(5, 1, 2, 7, 6, 4, 8, 9, 3, 0));
}

TEST(GatherBatchTest, CopiesTheChosenExamples) {
  absl::StatusOr<ImageDataset> made = MakeSyntheticDataset(6, 2, 3, 2, 3, 9);
  ASSERT_TRUE(made.ok()) << made.status();
  const ImageDataset& data = *made;
  const int64_t elements = data.image_elements();
  const std::vector<int64_t> indices = {4, 0, 4, 5};
  std::vector<float> images(indices.size() * elements, -1.f);
  std::vector<int32_t> labels(indices.size(), -1);
  ASSERT_TRUE(GatherBatch(data, indices, absl::MakeSpan(images), absl::MakeSpan(labels)).ok());
  for (size_t i = 0; i < indices.size(); ++i) {
    EXPECT_EQ(labels[i], data.labels[indices[i]]) << "slot " << i;
    for (int64_t e = 0; e < elements; ++e) {
      EXPECT_EQ(images[i * elements + e], data.images[indices[i] * elements + e])
          << "slot " << i << " element " << e;
    }
  }
  EXPECT_TRUE(GatherBatch(data, {}, {}, {}).ok());  // An empty batch touches nothing.
}

// Issue 17, defect 4: huge synthetic sizes ended in an uncaught std::bad_alloc. A size that
// cannot fit in memory is ResourceExhausted before anything is allocated.
TEST(SyntheticDatasetTest, SizesBeyondTheAvailableMemoryAreRefusedBeforeAllocating) {
  absl::StatusOr<ImageDataset> huge = MakeSyntheticDataset(int64_t{1} << 34, 1, 28, 28, 10, 1);
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted) << huge.status();
  EXPECT_THAT(std::string(huge.status().message()),
              AllOf(HasSubstr("17179869184 images of 1 x 28 x 28 floats need"),
                    HasSubstr("TiB of memory, more than the")));
}

// The batch gather is where a test set of another shape than the network's input ran off
// the end of the batch buffer (issue 17, defect 1): every size is now checked first.
TEST(GatherBatchTest, RefusesBuffersOfAnotherSizeAndIndicesOutOfRange) {
  absl::StatusOr<ImageDataset> made = MakeSyntheticDataset(6, 1, 4, 4, 3, 9);
  ASSERT_TRUE(made.ok()) << made.status();
  const std::vector<int64_t> two = {0, 5};
  std::vector<float> small(2 * 3 * 3);  // a batch buffer for 3x3 images
  std::vector<int32_t> labels(2);
  const absl::Status shape = GatherBatch(*made, two, absl::MakeSpan(small), absl::MakeSpan(labels));
  EXPECT_EQ(shape.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(shape.message()), HasSubstr("need buffers of 32 pixels"));
  std::vector<float> images(2 * 16);
  const std::vector<int64_t> outside = {0, 6};
  EXPECT_THAT(std::string(GatherBatch(*made, outside, absl::MakeSpan(images),
                                      absl::MakeSpan(labels)).message()),
              HasSubstr("example index 6 is outside [0, 6)"));
}

TEST(CheckDatasetTest, RefusesInconsistentSetsAndShapesThatDiffer) {
  absl::StatusOr<ImageDataset> made = MakeSyntheticDataset(6, 1, 4, 4, 3, 9);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_TRUE(CheckDataset(*made, "set").ok());
  ImageDataset short_images = *made;
  short_images.images.pop_back();
  EXPECT_THAT(std::string(CheckDataset(short_images, "set").message()),
              HasSubstr("holds 95 pixels and 6 labels for 6 examples of 1x4x4"));
  ImageDataset bad_label = *made;
  bad_label.labels[2] = 3;
  EXPECT_THAT(std::string(CheckDataset(bad_label, "set").message()),
              HasSubstr("label 2 is 3, not in [0, 3)"));
  absl::StatusOr<ImageDataset> other = MakeSyntheticDataset(6, 1, 5, 4, 3, 9);
  ASSERT_TRUE(other.ok());
  EXPECT_THAT(std::string(CheckSameExampleShape(*made, "the training set", *other,
                                                "the test set").message()),
              HasSubstr("the test set holds images of 1x5x4 but the training set holds "
                        "images of 1x4x4"));
  EXPECT_TRUE(CheckSameExampleShape(*made, "a", *made, "b").ok());
}

}  // namespace
}  // namespace fftrain::trainer
