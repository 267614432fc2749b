// NcclCommunicator with one rank (SingleProcessCommunicator as the control plane): the
// collectives are identities, so what is tested is the plumbing around them: the
// ordering against the compute stream in both directions, that the host never waits,
// the start-up refusals, and the watchdog. Traffic between ranks needs a GPU per rank
// (NCCL refuses two ranks on one GPU); the all-reduce benchmark checks sums there.
//
// GPU tests skip, with the reason, where no GPU is present; CheckOneRankPerGpu's tests
// and the refusal without a GPU run anywhere.
#include "comm/nccl_communicator.h"

#include <cuda_runtime.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/cuda/cuda_resources.h"
#include "base/cuda/testing/spin_kernel.h"
#include "comm/communicator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fftrain::comm {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int64_t kMillisecond = 1000 * 1000;  // nanoseconds, for LaunchSpin

#define SKIP_WITHOUT_GPU()                                         \
  do {                                                             \
    std::string why;                                               \
    if (base::CudaDeviceCount(&why) == 0) {                        \
      GTEST_SKIP() << "no CUDA device, GPU test skipped: " << why; \
    }                                                              \
  } while (0)

// A control plane that claims two ranks and answers every AllGather with two copies of
// this rank's entry: what two ranks on one GPU would gather.
class TwinControl : public SingleProcessCommunicator {
 public:
  int size() const override { return 2; }
  absl::StatusOr<std::vector<std::string>> AllGather(const std::string& mine) override {
    return std::vector<std::string>{mine, mine};
  }
};

// Whether `stream` still has work, without leaving cudaErrorNotReady behind as this
// thread's last error, where the next launch check would find it.
bool StreamBusy(base::CudaStreamHandle stream) {
  const cudaError_t state = cudaStreamQuery(stream);
  if (state == cudaErrorNotReady && cudaPeekAtLastError() == cudaErrorNotReady) {
    cudaGetLastError();
  }
  return state == cudaErrorNotReady;
}

std::vector<float> Seeded(size_t count, uint32_t seed) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(count);
  for (float& v : values) v = uniform(engine);
  return values;
}

TEST(CheckOneRankPerGpuTest, AcceptsDistinctGpusAndHosts) {
  EXPECT_TRUE(CheckOneRankPerGpu({"a|0000:1B:00.0", "a|0000:2C:00.0", "b|0000:1B:00.0"}).ok());
  EXPECT_TRUE(CheckOneRankPerGpu({"a|0000:1B:00.0"}).ok());
}

TEST(CheckOneRankPerGpuTest, RefusesTwoRanksOnOneGpuNamingBoth) {
  const absl::Status status =
      CheckOneRankPerGpu({"a|0000:1B:00.0", "h|0000:2C:00.0", "x|0", "h|0000:2C:00.0"});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "ranks 1 and 3 both use GPU 0000:2C:00.0 on host h: one rank per GPU");
}

TEST(CheckOneRankPerGpuTest, NamesARankThatCouldNotSetUpItsGpu) {
  const absl::Status status = CheckOneRankPerGpu({"a|0000:1B:00.0", "!no CUDA device"});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr("rank 1"), HasSubstr("no CUDA device")));
  EXPECT_EQ(CheckOneRankPerGpu({"no bar"}).code(), absl::StatusCode::kInternal);
}

TEST(NcclCommunicatorSetUpTest, RefusesBadOptionsAndAMissingGpu) {
  SingleProcessCommunicator control;
  auto zero = NcclCommunicator::Create(control, 0, nullptr, absl::ZeroDuration());
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  std::string why;
  const int count = base::CudaDeviceCount(&why);
  // A device that is not there: every machine has one (ordinal `count`).
  auto missing = NcclCommunicator::Create(control, count, nullptr, absl::Seconds(10));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("cudaSetDevice"));
}

class NcclCommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_GPU();
    ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
    auto stream = base::CudaStream::Create();
    ASSERT_TRUE(stream.ok()) << stream.status();
    compute_.emplace(std::move(stream).value());
  }

  std::unique_ptr<NcclCommunicator> Make(NcclCommunicatorOptions options = {}) {
    auto comm = NcclCommunicator::Create(control_, 0, compute(), std::move(options));
    EXPECT_TRUE(comm.ok()) << comm.status();
    return comm.ok() ? std::move(comm).value() : nullptr;
  }

  base::CudaStreamHandle compute() const { return compute_->get(); }

  // On the compute stream: a plain cudaMemcpy from pageable memory may return before its
  // copy lands, and the legacy stream it uses orders nothing on the non-blocking streams
  // that the collectives run on.
  base::DeviceBuffer Upload(const std::vector<float>& host) {
    auto buffer = base::DeviceBuffer::Allocate(host.size() * sizeof(float));
    EXPECT_TRUE(buffer.ok()) << buffer.status();
    EXPECT_EQ(cudaMemcpyAsync(buffer->data(), host.data(), host.size() * sizeof(float),
                              cudaMemcpyHostToDevice, compute()),
              cudaSuccess);
    EXPECT_EQ(cudaStreamSynchronize(compute()), cudaSuccess);
    return std::move(buffer).value();
  }

  // Copies on the compute stream, so that the copy is ordered as the trainer's reads are.
  std::vector<float> DownloadOnCompute(const base::DeviceBuffer& buffer, size_t count) {
    std::vector<float> host(count);
    EXPECT_EQ(cudaMemcpyAsync(host.data(), buffer.data(), count * sizeof(float),
                              cudaMemcpyDeviceToHost, compute()),
              cudaSuccess);
    EXPECT_EQ(cudaStreamSynchronize(compute()), cudaSuccess);
    return host;
  }

  SingleProcessCommunicator control_;
  std::optional<base::CudaStream> compute_;
};

TEST_F(NcclCommunicatorTest, DescribesItselfAndDelegatesTheControlPlane) {
  auto comm = Make();
  ASSERT_NE(comm, nullptr);
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->name(), "nccl");
  EXPECT_EQ(comm->device(), 0);
  EXPECT_NE(comm->communication_stream(), compute());
  EXPECT_TRUE(comm->Barrier().ok());
  double sums[2] = {1.5, -2};
  EXPECT_TRUE(comm->AllReduceHost(sums, 2).ok());
  EXPECT_EQ(sums[0], 1.5);
  auto gathered = comm->AllGather("mine");
  ASSERT_TRUE(gathered.ok());
  EXPECT_EQ(*gathered, std::vector<std::string>{"mine"});
}

// One rank: sum and average leave the data bit for bit (an odd count, not a multiple of
// any vector width).
TEST_F(NcclCommunicatorTest, SumAndAverageOfOneRankAreIdentities) {
  auto comm = Make();
  ASSERT_NE(comm, nullptr);
  const std::vector<float> values = Seeded(1001, 14);
  std::printf("seed 14, 1001 floats\n");
  base::DeviceBuffer buffer = Upload(values);
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage}) {
    ASSERT_TRUE(comm->StartAllReduce(buffer.as<float>(), 1001, op).ok()) << ReduceOpName(op);
    ASSERT_TRUE(comm->WaitAllReduces().ok());
    const std::vector<float> got = DownloadOnCompute(buffer, values.size());
    EXPECT_EQ(std::memcmp(got.data(), values.data(), 4 * values.size()), 0) << ReduceOpName(op);
  }
  // Several started before one wait, as gradient buckets do.
  ASSERT_TRUE(comm->StartAllReduce(buffer.as<float>(), 500, ReduceOp::kAverage).ok());
  ASSERT_TRUE(comm->StartAllReduce(buffer.as<float>() + 500, 501, ReduceOp::kAverage).ok());
  ASSERT_TRUE(comm->WaitAllReduces().ok());
  EXPECT_EQ(DownloadOnCompute(buffer, values.size()), values);
  // Nothing to do, and bad buffers.
  EXPECT_TRUE(comm->StartAllReduce(buffer.as<float>(), 0, ReduceOp::kSum).ok());
  EXPECT_EQ(comm->StartAllReduce(nullptr, 5, ReduceOp::kSum).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(comm->StartAllReduce(buffer.as<float>(), -1, ReduceOp::kSum).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(NcclCommunicatorTest, BroadcastFromTheOnlyRank) {
  auto comm = Make();
  ASSERT_NE(comm, nullptr);
  const std::vector<float> values = Seeded(777, 15);
  base::DeviceBuffer buffer = Upload(values);
  ASSERT_TRUE(comm->Broadcast(buffer.as<float>(), 777, 0).ok());
  EXPECT_EQ(DownloadOnCompute(buffer, values.size()), values);
  EXPECT_EQ(comm->Broadcast(buffer.as<float>(), 777, 1).code(), absl::StatusCode::kInvalidArgument);
}

// The value seen after WaitAllReduces is the one the compute stream wrote before
// StartAllReduce, although the write was held back by 50 ms of other work.
TEST_F(NcclCommunicatorTest, SeesComputeWritesBeforeAndIsSeenAfter) {
  auto comm = Make();
  ASSERT_NE(comm, nullptr);
  base::DeviceBuffer buffer = Upload(std::vector<float>(4096, 0.0f));
  ASSERT_EQ(base::test_util::LaunchSpin(50 * kMillisecond, compute()), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(buffer.data(), 0x3f, buffer.bytes(), compute()), cudaSuccess);
  ASSERT_TRUE(comm->StartAllReduce(buffer.as<float>(), 4096, ReduceOp::kAverage).ok());
  ASSERT_TRUE(comm->WaitAllReduces().ok());
  float expected;
  std::memset(&expected, 0x3f, sizeof(expected));
  const std::vector<float> got = DownloadOnCompute(buffer, 4096);
  EXPECT_EQ(got, std::vector<float>(4096, expected));
}

// Identities cannot show the order by their values, so the streams are watched: the
// communication stream waits for compute work enqueued before the start, and compute
// work enqueued after the wait waits for the communication stream.
TEST_F(NcclCommunicatorTest, OrdersTheStreamsBothWays) {
  auto comm = Make();
  ASSERT_NE(comm, nullptr);
  base::DeviceBuffer buffer = Upload(std::vector<float>(256, 1.0f));
  ASSERT_TRUE(comm->AllReduce(buffer.as<float>(), 256, ReduceOp::kSum).ok());  // warm-up
  ASSERT_EQ(cudaStreamSynchronize(compute()), cudaSuccess);

  ASSERT_EQ(base::test_util::LaunchSpin(300 * kMillisecond, compute()), cudaSuccess);
  ASSERT_TRUE(comm->StartAllReduce(buffer.as<float>(), 256, ReduceOp::kSum).ok());
  EXPECT_TRUE(StreamBusy(comm->communication_stream()))
      << "the communication stream did not wait for the compute stream";
  ASSERT_EQ(cudaStreamSynchronize(compute()), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(comm->communication_stream()), cudaSuccess);
  ASSERT_TRUE(comm->WaitAllReduces().ok());

  // Work on the communication stream after the collective (as a slow peer would be):
  // the compute stream, after the wait, must not run ahead of it.
  ASSERT_TRUE(comm->StartAllReduce(buffer.as<float>(), 256, ReduceOp::kSum).ok());
  ASSERT_EQ(base::test_util::LaunchSpin(300 * kMillisecond, comm->communication_stream()),
            cudaSuccess);
  ASSERT_TRUE(comm->WaitAllReduces().ok());
  auto after = base::CudaEvent::Create();
  ASSERT_TRUE(after.ok());
  ASSERT_TRUE(after->Record(compute()).ok());
  auto complete = after->IsComplete();
  ASSERT_TRUE(complete.ok()) << complete.status();
  EXPECT_FALSE(*complete) << "the compute stream did not wait for the communication stream";
  ASSERT_EQ(cudaStreamSynchronize(compute()), cudaSuccess);
}

// The host never waits in Start or Wait: with 200 ms of work ahead on the compute stream,
// both return long before it is done.
TEST_F(NcclCommunicatorTest, StartAndWaitDoNotBlockTheHost) {
  auto comm = Make();
  ASSERT_NE(comm, nullptr);
  base::DeviceBuffer buffer = Upload(std::vector<float>(1 << 20, 1.0f));
  ASSERT_TRUE(comm->AllReduce(buffer.as<float>(), 1 << 20, ReduceOp::kAverage).ok());
  ASSERT_EQ(cudaStreamSynchronize(compute()), cudaSuccess);

  ASSERT_EQ(base::test_util::LaunchSpin(200 * kMillisecond, compute()), cudaSuccess);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(comm->StartAllReduce(buffer.as<float>(), 1 << 20, ReduceOp::kAverage).ok());
  ASSERT_TRUE(comm->WaitAllReduces().ok());
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("StartAllReduce + WaitAllReduces behind 200 ms of compute: %.3f ms on the host\n",
              ms);
  EXPECT_LT(ms, 50.0);
  ASSERT_EQ(cudaStreamSynchronize(compute()), cudaSuccess);
}

TEST_F(NcclCommunicatorTest, RefusesTwoRanksOnOneGpu) {
  TwinControl twins;
  auto comm = NcclCommunicator::Create(twins, 0, compute(), absl::Seconds(10));
  ASSERT_FALSE(comm.ok());
  EXPECT_EQ(comm.status().code(), absl::StatusCode::kFailedPrecondition);
  char bus_id[64] = {};
  ASSERT_EQ(cudaDeviceGetPCIBusId(bus_id, sizeof(bus_id), 0), cudaSuccess);
  EXPECT_THAT(std::string(comm.status().message()),
              AllOf(StartsWith("ranks 0 and 1 both use GPU "), HasSubstr(bus_id),
                    HasSubstr("one rank per GPU")));
}

// A collective held back (here by 1.5 s of compute work it is ordered after; in a job by
// a peer that is gone) past the timeout: the watchdog reports it once, naming the
// collective, the step and the timeout, aborts, and calls the exit function; later calls
// fail with the same message.
TEST_F(NcclCommunicatorTest, WatchdogReportsACollectivePastTheTimeout) {
  absl::Mutex mu;
  std::string message;
  int faults = 0;
  absl::Notification faulted;
  NcclCommunicatorOptions options;
  options.timeout = absl::Milliseconds(300);
  options.on_fault = [&](const std::string& m) {
    absl::MutexLock lock(&mu);
    message = m;
    if (++faults == 1) faulted.Notify();
  };
  auto comm = Make(options);
  ASSERT_NE(comm, nullptr);
  comm->set_step(7);
  base::DeviceBuffer buffer = Upload(std::vector<float>(1234, 1.0f));
  ASSERT_TRUE(comm->AllReduce(buffer.as<float>(), 1234, ReduceOp::kSum).ok());  // completes
  ASSERT_EQ(cudaStreamSynchronize(compute()), cudaSuccess);

  ASSERT_EQ(base::test_util::LaunchSpin(1500 * kMillisecond, compute()), cudaSuccess);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(comm->StartAllReduce(buffer.as<float>(), 1234, ReduceOp::kSum).ok());
  ASSERT_TRUE(faulted.WaitForNotificationWithTimeout(absl::Seconds(10)))
      << "the watchdog did not fire";
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  {
    absl::MutexLock lock(&mu);
    EXPECT_THAT(message, AllOf(StartsWith("fftrain: rank 0 on host "),
                               HasSubstr("all-reduce #1 (1234 floats) at step 7"),
                               HasSubstr("did not complete within 300ms"),
                               HasSubstr("a rank is gone or out of step; aborting")));
  }
  EXPECT_GE(seconds, 0.3);
  const absl::Status after = comm->StartAllReduce(buffer.as<float>(), 1234, ReduceOp::kSum);
  EXPECT_FALSE(after.ok());
  EXPECT_THAT(std::string(after.message()), HasSubstr("did not complete within 300ms"));
  EXPECT_FALSE(comm->WaitAllReduces().ok());
  ASSERT_EQ(cudaStreamSynchronize(compute()), cudaSuccess);
  comm.reset();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(faults, 1);
}

// Aborting by hand (the trainer, after a control-plane fault) ends the data plane
// without the watchdog reporting anything; a second Abort does nothing.
TEST_F(NcclCommunicatorTest, AbortEndsTheDataPlaneQuietly) {
  bool reported = false;
  NcclCommunicatorOptions options;
  options.on_fault = [&](const std::string&) { reported = true; };
  auto comm = Make(options);
  ASSERT_NE(comm, nullptr);
  base::DeviceBuffer buffer = Upload(std::vector<float>(64, 1.0f));
  ASSERT_TRUE(comm->AllReduce(buffer.as<float>(), 64, ReduceOp::kSum).ok());
  ASSERT_EQ(cudaStreamSynchronize(compute()), cudaSuccess);
  comm->Abort();
  comm->Abort();
  const absl::Status after = comm->StartAllReduce(buffer.as<float>(), 64, ReduceOp::kSum);
  EXPECT_EQ(after.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(after.message()), HasSubstr("aborted"));
  absl::SleepFor(absl::Milliseconds(50));  // several watchdog periods
  comm.reset();
  EXPECT_FALSE(reported);
}

}  // namespace
}  // namespace fftrain::comm
