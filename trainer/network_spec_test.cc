#include "trainer/network_spec.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::trainer {
namespace {

using ::testing::HasSubstr;

TEST(NetworkSpecTest, ParsesThePresetsAndChainsTheirShapes) {
  auto fmnist = ParseNetworkSpec("fmnist");
  ASSERT_TRUE(fmnist.ok()) << fmnist.status();
  EXPECT_EQ(fmnist->canonical, "conv5x64p2,relu,pool2,conv5x128p2,relu,pool2,fc10");
  auto shapes = ChainShapes(*fmnist, {1, 28, 28});
  ASSERT_TRUE(shapes.ok()) << shapes.status();
  EXPECT_EQ((*shapes)[0], (TensorShape{64, 28, 28}));
  EXPECT_EQ((*shapes)[2], (TensorShape{64, 14, 14}));
  EXPECT_EQ((*shapes)[5], (TensorShape{128, 7, 7}));
  EXPECT_EQ(shapes->back(), (TensorShape{10, 1, 1}));

  auto paper = ParseNetworkSpec("paper128");
  ASSERT_TRUE(paper.ok());
  auto paper_shapes = ChainShapes(*paper, {3, 128, 128});
  ASSERT_TRUE(paper_shapes.ok()) << paper_shapes.status();
  // 128 -conv11-> 118 -pool-> 59 -conv9-> 51 -pool-> 25 -conv7-> 19 -pool-> 9 -conv3-> 7
  EXPECT_EQ((*paper_shapes)[0], (TensorShape{96, 118, 118}));
  EXPECT_EQ((*paper_shapes)[3], (TensorShape{256, 51, 51}));
  EXPECT_EQ((*paper_shapes)[6], (TensorShape{384, 19, 19}));
  EXPECT_EQ((*paper_shapes)[9], (TensorShape{384, 7, 7}));
  EXPECT_EQ(paper_shapes->back(), (TensorShape{1000, 1, 1}));
}

TEST(NetworkSpecTest, ParsesEveryLayerForm) {
  auto spec = ParseNetworkSpec(" Conv3x8, relu,pool3s2,conv1x4p0,fc7 ");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->layers.size(), 5u);
  EXPECT_EQ(spec->layers[0].kind, LayerKind::kConv);
  EXPECT_EQ(spec->layers[0].kernel, 3);
  EXPECT_EQ(spec->layers[0].maps, 8);
  EXPECT_EQ(spec->layers[0].padding, 0);
  EXPECT_EQ(spec->layers[2].window, 3);
  EXPECT_EQ(spec->layers[2].stride, 2);
  EXPECT_EQ(spec->layers[4].outputs, 7);
  EXPECT_EQ(spec->canonical, "conv3x8,relu,pool3s2,conv1x4p0,fc7");
  auto shapes = ChainShapes(*spec, {2, 9, 10});
  ASSERT_TRUE(shapes.ok());
  EXPECT_EQ((*shapes)[2], (TensorShape{8, 3, 3}));  // (7-3)/2+1 = 3, (8-3)/2+1 = 3
}

TEST(NetworkSpecTest, RefusesBadSpecsWithPositionAndReason) {
  const struct {
    const char* spec;
    const char* message;
  } cases[] = {
      {"", "empty"},
      {"conv5x64,,fc10", "layer 2 is empty"},
      {"conv5,fc10", "layer 1 'conv5': expected conv<k>x<maps>"},
      {"conv5x0,fc10", "layer 1 'conv5x0'"},
      {"conv5x8q,fc10", "unexpected 'q'"},
      {"conv5x8px,fc10", "padding after 'p'"},
      {"relu,pool,fc10", "layer 2 'pool': expected pool<w>"},
      {"pool2s,fc10", "stride after 's'"},
      {"relu,fc", "layer 2 'fc': expected fc<outputs>"},
      {"relu,tanh,fc10", "layer 2 'tanh': unknown layer"},
      {"conv3x8,relu", "layer 2 'relu': the last layer must be fc"},
      {"conv3x99999999,fc10", "layer 1"},
  };
  for (const auto& c : cases) {
    const auto spec = ParseNetworkSpec(c.spec);
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << c.spec;
    EXPECT_THAT(std::string(spec.status().message()), HasSubstr(c.message)) << c.spec;
  }
}

TEST(NetworkSpecTest, RefusesShapesThatDoNotChain) {
  const struct {
    const char* spec;
    TensorShape input;
    const char* message;
  } cases[] = {
      {"conv5x8,fc10", {1, 4, 4}, "layer 1 'conv5x8': kernel 5x5 is larger than its padded input 4x4"},
      {"pool2,pool2,pool2,fc10", {1, 5, 5}, "layer 3 'pool2': pooling window 2x2 does not fit its input 1x1x1"},
      {"fc10,conv1x2,fc3", {1, 3, 3}, "layer 2 'conv1x2': a convolution cannot follow"},
      {"fc10,pool1,fc3", {1, 3, 3}, "layer 2 'pool1': pooling cannot follow"},
      // Found by fuzz/network_spec_fuzzer: padding grows each map by 2 * 999999, and the
      // second layer's 999999 x ~4e6 x ~4e6 values overflowed int64 (UBSan) in c * h * w.
      {"conv1x999999p999999,conv1x999999p999999,fc10", {1, 28, 28},
       "layer 1 'conv1x999999p999999': its output 999999x2000026x2000026 (input 1x28x28) has "
       "more than 2^40 values"},
      {"conv1x1p300000,relu,conv1x1p300000,fc10", {1, 1, 1},
       "layer 3 'conv1x1p300000': its output 1x1200001x1200001 (input 1x600001x600001) has "
       "more than 2^40 values"},
      {"fc10", {1, int64_t{1} << 32, int64_t{1} << 32}, "network input shape 1x4294967296x"
       "4294967296 has more than 2^40 values"},
  };
  for (const auto& c : cases) {
    auto spec = ParseNetworkSpec(c.spec);
    ASSERT_TRUE(spec.ok()) << c.spec;
    const auto shapes = ChainShapes(*spec, c.input);
    EXPECT_EQ(shapes.status().code(), absl::StatusCode::kInvalidArgument) << c.spec;
    EXPECT_THAT(std::string(shapes.status().message()), HasSubstr(c.message)) << c.spec;
  }
}

}  // namespace
}  // namespace fftrain::trainer
