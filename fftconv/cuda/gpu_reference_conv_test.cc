#include "fftconv/cuda/gpu_reference_conv.h"

#include <vector>

#include "fftconv/cuda/gpu_test_util.h"
#include "fftconv/reference_conv.h"
#include "fftconv/test_util.h"
#include "gtest/gtest.h"

namespace fftrain::fftconv {
namespace {

using ::fftrain::base::DeviceBuffer;
using ::fftrain::base::MemorySpan;
using test_util::Download;
using test_util::Poisoned;
using test_util::RandomVector;
using test_util::RelativeError;
using test_util::Upload;

// Both references accumulate in double and round once to float; they differ only in
// summation order, far below float precision: 1e-6 allows one float rounding step.
constexpr double kTolerance = 1e-6;

TEST(GpuReferenceConvTest, MatchesCpuReferenceOverTheSweep) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  uint32_t seed = 5000;
  for (const ConvShape& s : test_util::SweepShapes()) {
    SCOPED_TRACE(s.ToString() + " seed " + std::to_string(seed));
    const auto x = RandomVector(s.input_elements(), seed);
    const auto w = RandomVector(s.weight_elements(), seed + 1);
    const auto bias = RandomVector(s.k, seed + 2);
    const auto gy = RandomVector(s.output_elements(), seed + 3);
    seed += 10;
    std::vector<float> y(s.output_elements()), gx(s.input_elements()), gw(s.weight_elements()),
        gb(s.k);
    ASSERT_TRUE(ReferenceForward(s, x.data(), w.data(), bias.data(), y.data()).ok());
    ASSERT_TRUE(ReferenceBackwardData(s, gy.data(), w.data(), gx.data()).ok());
    ASSERT_TRUE(ReferenceBackwardFilter(s, x.data(), gy.data(), gw.data(), gb.data()).ok());

    DeviceBuffer dx = Upload(x), dw = Upload(w), dbias = Upload(bias), dgy = Upload(gy);
    DeviceBuffer dy = Poisoned(y.size()), dgx = Poisoned(gx.size()), dgw = Poisoned(gw.size()),
                 dgb = Poisoned(gb.size());
    auto scratch = DeviceBuffer::Allocate(GpuReferenceBackwardFilterWorkspaceBytes(s));
    ASSERT_TRUE(scratch.ok());
    ASSERT_TRUE(GpuReferenceForward(s, dx.as<float>(), dw.as<float>(), dbias.as<float>(),
                                    dy.as<float>(), nullptr)
                    .ok());
    ASSERT_TRUE(
        GpuReferenceBackwardData(s, dgy.as<float>(), dw.as<float>(), dgx.as<float>(), nullptr)
            .ok());
    ASSERT_TRUE(GpuReferenceBackwardFilter(s, dx.as<float>(), dgy.as<float>(), dgw.as<float>(),
                                           dgb.as<float>(), scratch->span(), nullptr)
                    .ok());
    EXPECT_LE(RelativeError(Download(dy, y.size()), y), kTolerance);
    EXPECT_LE(RelativeError(Download(dgx, gx.size()), gx), kTolerance);
    EXPECT_LE(RelativeError(Download(dgw, gw.size()), gw), kTolerance);
    EXPECT_LE(RelativeError(Download(dgb, gb.size()), gb), kTolerance);
  }
}

TEST(GpuReferenceConvTest, RefusesSmallWorkspace) {
  FFTRAIN_SKIP_WITHOUT_GPU();
  ConvShape s;
  s.n = 4;
  s.k = 3;
  DeviceBuffer d = Poisoned(64);
  const absl::Status status = GpuReferenceBackwardFilter(
      s, d.as<float>(), d.as<float>(), d.as<float>(), nullptr, MemorySpan{d.data(), 1}, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fftrain::fftconv
