// trainer/train: trains a network of FFT convolutions on a GPU or the CPU.
//
//   bazel run //trainer:train -- --network=fmnist --epochs=15
//   bazel run //trainer:train -- --device=cpu --train_limit=6000 --epochs=1
//   bazel run //trainer:train -- --network=paper128 --dataset=synthetic --benchmark_iterations=20
//   mpirun -np 8 --bind-to none bazel-bin/trainer/train --network=fmnist --batch_size=16
//
// Under mpirun every rank runs this, one per GPU (docs/distributed.md): MPI starts, the
// ranks build a control communicator over MPI and a data communicator (NCCL on GPUs, MPI
// on the CPU), and the trainer averages gradients over them.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "comm/communicator.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"
#include "comm/nccl_data_plane.h"
#include "comm/rank_agreement.h"
#include "trainer/backend/backend.h"
#include "trainer/trainer.h"

namespace {
const fftrain::trainer::TrainConfig kDefaults;
}  // namespace

ABSL_FLAG(std::string, device, "auto", "auto (a GPU when present, else the CPU), cuda or cpu");
ABSL_FLAG(int, gpu, -1,
          "CUDA device ordinal, with --device=cuda or auto (-1: the rank's local rank, "
          "0 for a single process)");
ABSL_FLAG(std::string, communicator, "auto",
          "How ranks average gradients: auto (under mpirun NCCL on GPUs, MPI on the CPU; "
          "alone none), nccl, mpi or single (one process, no communication)");
ABSL_FLAG(double, bucket_mb, 25,
          "Gradient bucket size in MiB: each bucket's all-reduce starts once backward has "
          "completed its layers (the first bucket is 1 MiB, or this if smaller)");
ABSL_FLAG(double, collective_timeout_s, 300,
          "Deadline of every collective in seconds: a rank that waits longer (a peer died "
          "or is out of step) ends the job with a message");
ABSL_FLAG(std::string, network, kDefaults.network,
          "Preset (fmnist, paper128) or spec, e.g. conv5x64p2,relu,pool2,fc10");
ABSL_FLAG(std::string, dataset, kDefaults.dataset, "fashion-mnist or synthetic");
ABSL_FLAG(std::string, data_dir, kDefaults.data_dir, "Folder of the Fashion-MNIST IDX files");
ABSL_FLAG(int64_t, train_limit, 0, "Use the first N training examples (0: all)");
ABSL_FLAG(int64_t, test_limit, 0, "Use the first N test examples (0: all)");
ABSL_FLAG(std::string, synthetic_shape, "",
          "CxHxW of synthetic images (default: the preset's input, else 1x28x28)");
ABSL_FLAG(int64_t, synthetic_train, kDefaults.synthetic_train, "Synthetic training examples");
ABSL_FLAG(int64_t, synthetic_test, kDefaults.synthetic_test, "Synthetic test examples");
ABSL_FLAG(int, synthetic_classes, 0, "Synthetic classes (0: the network's outputs)");
ABSL_FLAG(int64_t, epochs, kDefaults.epochs, "Epochs to train (in all, counting resumed ones)");
ABSL_FLAG(int64_t, stop_after_epoch, 0,
          "Stop after this epoch (0: train all --epochs); --resume continues the run");
ABSL_FLAG(int64_t, batch_size, kDefaults.batch_size, "Examples per step (per GPU)");
ABSL_FLAG(std::string, schedule, kDefaults.schedule, "Learning-rate schedule: constant, step, cosine");
ABSL_FLAG(double, learning_rate, kDefaults.learning_rate, "Base learning rate");
ABSL_FLAG(double, final_learning_rate, kDefaults.final_learning_rate, "Cosine schedule's last rate");
ABSL_FLAG(int64_t, step_epochs, kDefaults.step_epochs, "Step schedule: epochs between decays");
ABSL_FLAG(double, gamma, kDefaults.gamma, "Step schedule: decay factor");
ABSL_FLAG(int64_t, warmup_steps, kDefaults.warmup_steps, "Linear warm-up from lr/10, in steps");
ABSL_FLAG(double, momentum, kDefaults.momentum, "SGD momentum");
ABSL_FLAG(double, weight_decay, kDefaults.weight_decay, "L2 weight decay");
ABSL_FLAG(uint64_t, seed, kDefaults.seed, "Seed of initialisation, data order and synthetic data");
ABSL_FLAG(std::string, keep_spectra, "auto",
          "Keep forward spectra for backward: auto (when memory allows), on or off");
ABSL_FLAG(std::string, tune, "measure",
          "On the GPU, how each convolution's method is chosen: measure (time the "
          "candidates once per shape), cost (the cost model), off (the plan's default)");
ABSL_FLAG(std::string, tuner_cache, "", "File that keeps tuning results between runs");
ABSL_FLAG(int64_t, workspace_cap_mb, 0,
          "Tuning skips methods whose workspace exceeds this many MiB (0: no cap)");
ABSL_FLAG(std::string, log, "", "Write metrics as JSON lines to this file");
ABSL_FLAG(std::string, checkpoint, "", "Write a checkpoint here after every epoch");
ABSL_FLAG(bool, resume, false, "Continue from --checkpoint");
ABSL_FLAG(bool, overwrite_checkpoint, false,
          "Let a new run (without --resume) replace an existing --checkpoint file; without "
          "it, such a run is refused");
ABSL_FLAG(bool, progress, true, "Show a progress line when stderr is a terminal");
ABSL_FLAG(int64_t, log_every_steps, kDefaults.log_every_steps, "Steps between step events");
ABSL_FLAG(bool, evaluate, true, "Evaluate on the test set after every epoch");
ABSL_FLAG(bool, cuda_graphs, true,
          "Capture the training step and the evaluation of a batch as CUDA graphs and replay "
          "them (CUDA backend with one rank or --communicator=nccl; elsewhere steps run call "
          "by call)");
ABSL_FLAG(int64_t, benchmark_iterations, 0,
          "Instead of training: time this many iterations (after 5 warm-up ones) and print "
          "milliseconds per iteration");

namespace fftrain::trainer {
namespace {

absl::StatusOr<TensorShape> ParseShape(const std::string& text) {
  if (text.empty()) return TensorShape{};
  std::vector<std::string> parts = absl::StrSplit(text, 'x');
  TensorShape s;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &s.c) || !absl::SimpleAtoi(parts[1], &s.h) ||
      !absl::SimpleAtoi(parts[2], &s.w) || s.c <= 0 || s.h <= 0 || s.w <= 0 || s.c > 4096 ||
      s.h > 65536 || s.w > 65536) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--synthetic_shape must be CxHxW with positive sizes, e.g. 3x128x128; got '", text, "'"));
  }
  return s;
}

absl::StatusOr<KeepSpectra> ParseKeepSpectra(const std::string& text) {
  if (text == "auto") return KeepSpectra::kAuto;
  if (text == "on") return KeepSpectra::kOn;
  if (text == "off") return KeepSpectra::kOff;
  return absl::InvalidArgumentError(
      absl::StrCat("--keep_spectra must be auto, on or off; got '", text, "'"));
}

absl::StatusOr<CudaBackendOptions> CudaOptionsFromFlags() {
  CudaBackendOptions options;
  const std::string tune = absl::GetFlag(FLAGS_tune);
  if (tune == "measure") {
    options.tuning = ConvTuning::kMeasure;
  } else if (tune == "cost") {
    options.tuning = ConvTuning::kCostModel;
  } else if (tune == "off") {
    options.tuning = ConvTuning::kOff;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--tune must be measure, cost or off; got '", tune, "'"));
  }
  const int64_t cap = absl::GetFlag(FLAGS_workspace_cap_mb);
  if (cap < 0 || cap > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--workspace_cap_mb must be in [0, 2^30], got ", cap));
  }
  options.workspace_cap = static_cast<size_t>(cap) << 20;
  options.tuner_cache = absl::GetFlag(FLAGS_tuner_cache);
  return options;
}

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(const std::string& device, int gpu) {
  FFTRAIN_ASSIGN_OR_RETURN(CudaBackendOptions cuda_options, CudaOptionsFromFlags());
  if (device == "cpu") return CreateCpuBackend();
  if (device == "cuda") return CreateCudaBackend(gpu, cuda_options);
  if (device == "auto") {
    std::string why;
    if (CudaBackendDevices(&why) > 0) return CreateCudaBackend(gpu, cuda_options);
    std::fprintf(stderr, "no GPU (%s): training on the CPU\n", why.c_str());
    return CreateCpuBackend();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--device must be auto, cuda or cpu; got '", device, "'"));
}

// A double flag as the float the trainer uses: refused, with the flag's name, when it is
// not a number or does not fit a float (the conversion would be undefined behaviour).
absl::StatusOr<float> FloatFlag(const char* name, double value) {
  if (!std::isfinite(value) || std::fabs(value) > std::numeric_limits<float>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, " must be a finite number within a float's range (|x| <= 3.4e38), got ",
        value));
  }
  return static_cast<float>(value);
}

absl::StatusOr<TrainConfig> ConfigFromFlags() {
  TrainConfig c;
  c.network = absl::GetFlag(FLAGS_network);
  c.dataset = absl::GetFlag(FLAGS_dataset);
  c.data_dir = absl::GetFlag(FLAGS_data_dir);
  c.train_limit = absl::GetFlag(FLAGS_train_limit);
  c.test_limit = absl::GetFlag(FLAGS_test_limit);
  FFTRAIN_ASSIGN_OR_RETURN(c.synthetic_shape, ParseShape(absl::GetFlag(FLAGS_synthetic_shape)));
  c.synthetic_train = absl::GetFlag(FLAGS_synthetic_train);
  c.synthetic_test = absl::GetFlag(FLAGS_synthetic_test);
  c.synthetic_classes = absl::GetFlag(FLAGS_synthetic_classes);
  c.epochs = absl::GetFlag(FLAGS_epochs);
  c.batch_size = absl::GetFlag(FLAGS_batch_size);
  c.stop_after_epoch = absl::GetFlag(FLAGS_stop_after_epoch);
  c.schedule = absl::GetFlag(FLAGS_schedule);
  FFTRAIN_ASSIGN_OR_RETURN(c.learning_rate, FloatFlag("learning_rate", absl::GetFlag(FLAGS_learning_rate)));
  FFTRAIN_ASSIGN_OR_RETURN(c.final_learning_rate, FloatFlag("final_learning_rate", absl::GetFlag(FLAGS_final_learning_rate)));
  c.step_epochs = absl::GetFlag(FLAGS_step_epochs);
  FFTRAIN_ASSIGN_OR_RETURN(c.gamma, FloatFlag("gamma", absl::GetFlag(FLAGS_gamma)));
  c.warmup_steps = absl::GetFlag(FLAGS_warmup_steps);
  FFTRAIN_ASSIGN_OR_RETURN(c.momentum, FloatFlag("momentum", absl::GetFlag(FLAGS_momentum)));
  FFTRAIN_ASSIGN_OR_RETURN(c.weight_decay, FloatFlag("weight_decay", absl::GetFlag(FLAGS_weight_decay)));
  c.seed = absl::GetFlag(FLAGS_seed);
  FFTRAIN_ASSIGN_OR_RETURN(c.keep_spectra, ParseKeepSpectra(absl::GetFlag(FLAGS_keep_spectra)));
  c.log_path = absl::GetFlag(FLAGS_log);
  c.checkpoint_path = absl::GetFlag(FLAGS_checkpoint);
  c.resume = absl::GetFlag(FLAGS_resume);
  c.overwrite_checkpoint = absl::GetFlag(FLAGS_overwrite_checkpoint);
  c.tuner_cache_path = absl::GetFlag(FLAGS_tuner_cache);
  c.progress = absl::GetFlag(FLAGS_progress);
  c.log_every_steps = absl::GetFlag(FLAGS_log_every_steps);
  c.evaluate = absl::GetFlag(FLAGS_evaluate);
  c.cuda_graphs = absl::GetFlag(FLAGS_cuda_graphs);
  const double bucket_mb = absl::GetFlag(FLAGS_bucket_mb);
  if (!(bucket_mb >= 1.0 / (1 << 18) && bucket_mb <= 1 << 20)) {  // one float .. 1 TiB
    return absl::InvalidArgumentError(
        absl::StrCat("--bucket_mb must be in [2^-18, 2^20] (one float to 1 TiB), got ",
                     bucket_mb));
  }
  c.bucket_bytes = static_cast<int64_t>(bucket_mb * (1 << 20));
  FFTRAIN_RETURN_IF_ERROR(ValidateConfig(c));
  return c;
}

// Whether a flag was given a value other than its default.
template <typename T>
bool IsSet(const absl::Flag<T>& flag) {
  const absl::CommandLineFlag& handle = absl::GetFlagReflectionHandle(flag);
  return handle.CurrentValue() != handle.DefaultValue();
}

// "flag --X has no effect with ..." for each flag given that this run does not use, so that
// a mistyped setting does not pass in silence. Notices, not errors: the run goes on.
std::vector<std::string> IneffectiveFlagNotices(const TrainConfig& c, bool on_gpu, int ranks,
                                                bool benchmark) {
  std::vector<std::string> notes;
  auto note = [&](const char* flag, const std::string& why) {
    notes.push_back(absl::StrCat("flag --", flag, " has no effect ", why));
  };
  const std::string with_dataset = absl::StrCat("with --dataset=", c.dataset);
  if (c.dataset == "fashion-mnist") {
    if (IsSet(FLAGS_synthetic_shape)) note("synthetic_shape", with_dataset);
    if (IsSet(FLAGS_synthetic_train)) note("synthetic_train", with_dataset);
    if (IsSet(FLAGS_synthetic_test)) note("synthetic_test", with_dataset);
    if (IsSet(FLAGS_synthetic_classes)) note("synthetic_classes", with_dataset);
  } else {
    if (IsSet(FLAGS_data_dir)) note("data_dir", with_dataset);
    if (IsSet(FLAGS_train_limit)) note("train_limit", with_dataset);
    if (IsSet(FLAGS_test_limit)) note("test_limit", with_dataset);
  }
  const std::string with_schedule = absl::StrCat("with --schedule=", c.schedule);
  if (c.schedule != "cosine" && IsSet(FLAGS_final_learning_rate)) {
    note("final_learning_rate", with_schedule);
  }
  if (c.schedule != "step") {
    if (IsSet(FLAGS_step_epochs)) note("step_epochs", with_schedule);
    if (IsSet(FLAGS_gamma)) note("gamma", with_schedule);
  }
  if (!on_gpu) {
    for (const auto& [flag, set] : {std::pair{"gpu", IsSet(FLAGS_gpu)},
                                    std::pair{"tune", IsSet(FLAGS_tune)},
                                    std::pair{"tuner_cache", IsSet(FLAGS_tuner_cache)},
                                    std::pair{"workspace_cap_mb", IsSet(FLAGS_workspace_cap_mb)}}) {
      if (set) note(flag, "on the CPU (it concerns the CUDA backend)");
    }
  }
  if (ranks == 1) {
    if (IsSet(FLAGS_bucket_mb)) note("bucket_mb", "with one rank (nothing is all-reduced)");
    if (IsSet(FLAGS_collective_timeout_s)) {
      note("collective_timeout_s", "with one rank (there are no collectives to wait for)");
    }
  }
  if (c.overwrite_checkpoint && c.resume) note("overwrite_checkpoint", "with --resume");
  if (c.overwrite_checkpoint && c.checkpoint_path.empty()) {
    note("overwrite_checkpoint", "without --checkpoint");
  }
  if (benchmark) {
    for (const auto& [flag, set] :
         {std::pair{"epochs", IsSet(FLAGS_epochs)},
          std::pair{"stop_after_epoch", IsSet(FLAGS_stop_after_epoch)},
          std::pair{"evaluate", IsSet(FLAGS_evaluate)},
          std::pair{"log_every_steps", IsSet(FLAGS_log_every_steps)},
          std::pair{"checkpoint", !c.resume && IsSet(FLAGS_checkpoint)}}) {
      if (set) note(flag, "with --benchmark_iterations (nothing is trained or saved)");
    }
  }
  return notes;
}

// The ranks of this job and how they talk: the MPI session (under mpirun), the control
// communicator (MPI, or one process), and the data communicator the trainer averages
// gradients with (NCCL on GPUs, else the control one). Destroyed in reverse order.
struct Ranks {
  std::optional<comm::MpiSession> session;
  std::unique_ptr<comm::Communicator> control;
  std::unique_ptr<comm::Communicator> nccl;  // when the data plane is NCCL's
  comm::Communicator& data() { return nccl != nullptr ? *nccl : *control; }
  int local_rank() const { return session ? session->local_rank() : 0; }
};

absl::Status StartRanks(const std::string& communicator, absl::Duration timeout, Ranks* ranks) {
  if (communicator != "auto" && communicator != "nccl" && communicator != "mpi" &&
      communicator != "single") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--communicator must be auto, nccl, mpi or single; got '", communicator, "'"));
  }
  const bool mpi = communicator == "mpi" ||
                   (communicator != "single" && comm::RunningUnderMpirun());
  if (!mpi) {
    ranks->control = std::make_unique<comm::SingleProcessCommunicator>();
    return absl::OkStatus();
  }
  FFTRAIN_ASSIGN_OR_RETURN(comm::MpiSession session, comm::MpiSession::Init(nullptr, nullptr));
  ranks->session.emplace(std::move(session));
  FFTRAIN_ASSIGN_OR_RETURN(ranks->control,
                           comm::MpiCommunicator::Create(*ranks->session, timeout));
  return absl::OkStatus();
}

// The signal that asked training to stop (SIGINT, SIGTERM), or 0. Set by the handler, read
// by the trainer after each step: a lock-free atomic, safe to store from a signal handler.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

// The first SIGINT or SIGTERM asks the trainer to stop after the current step (it then
// writes its checkpoint and exits 128 + the signal); a second one ends the process at once,
// with the signal's default action. Only async-signal-safe calls here.
extern "C" void OnStopSignal(int signal) {
  int expected = 0;
  if (!g_stop_signal.compare_exchange_strong(expected, signal)) {
    std::signal(signal, SIG_DFL);
    std::raise(signal);
    return;
  }
  static const char kMessage[] =
      "train: stopping after this step (a checkpoint follows if configured); "
      "signal again to end at once\n";
  const ssize_t ignored = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  (void)ignored;
}

// A signal this process was started with ignored (a background job of a script ignores
// SIGINT) stays ignored, as the one who started it asked.
void InstallStopHandlers() {
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // blocking calls carry on; the loop polls the flag
  for (const int signal : {SIGINT, SIGTERM}) {
    struct sigaction inherited = {};
    if (sigaction(signal, nullptr, &inherited) == 0 && inherited.sa_handler == SIG_IGN) continue;
    sigaction(signal, &action, nullptr);
  }
}

// The device memory the run held, for comparison with PyTorch
// (torch.cuda.max_memory_allocated counts what its allocator handed out, as
// peak_allocated does here). Nothing on the CPU.
void PrintDeviceMemory(Backend& backend, const std::string& step_graph) {
  if (backend.device() != Device::kCuda) return;
  absl::StatusOr<Backend::MemoryUse> use = backend.DeviceMemoryUse();
  if (!use.ok()) {
    std::fprintf(stderr, "train: device memory not known: %s\n",
                 std::string(use.status().message()).c_str());
    return;
  }
  constexpr double kMiB = 1 << 20;
  std::printf("device memory: peak %.1f MiB allocated by fftrain; %.1f MiB of the device in "
              "use beyond the CUDA context (with cuFFT, cuBLAS%s)\n",
              use->peak_allocated / kMiB, use->device_in_use / kMiB,
              step_graph.empty() ? "" : " and the graphs");
}

absl::Status Run(Ranks& ranks, absl::Duration timeout, int* stopped_by) {
  FFTRAIN_ASSIGN_OR_RETURN(TrainConfig config, ConfigFromFlags());
  const int64_t benchmark = absl::GetFlag(FLAGS_benchmark_iterations);
  if (benchmark < 0 || benchmark > 1000000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--benchmark_iterations must be >= 0 and at most 10^6, got ", benchmark));
  }
  const std::string communicator = absl::GetFlag(FLAGS_communicator);
  comm::Communicator& control = *ranks.control;
  const int gpu_flag = absl::GetFlag(FLAGS_gpu);
  if (gpu_flag < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--gpu must be -1 (the local rank) or a device ordinal >= 0, got ",
                     gpu_flag));
  }
  const int gpu = gpu_flag >= 0 ? gpu_flag : ranks.local_rank();
  // Each rank's own failures (no GPU, out of memory) reach every rank.
  absl::StatusOr<std::unique_ptr<Backend>> made =
      MakeBackend(absl::GetFlag(FLAGS_device), gpu);
  FFTRAIN_RETURN_IF_ERROR(comm::AgreeOnStatus(control, made.status()));
  std::unique_ptr<Backend> backend = *std::move(made);
  const bool on_gpu = backend->device() == Device::kCuda;
  if (communicator == "nccl" && !on_gpu) {
    return absl::InvalidArgumentError("--communicator=nccl needs --device=cuda");
  }
  if (on_gpu && (communicator == "nccl" || (communicator == "auto" && ranks.session))) {
    absl::StatusOr<std::unique_ptr<comm::Communicator>> nccl =
        comm::CreateNcclDataPlane(control, gpu, backend->compute_stream(), timeout);
    FFTRAIN_RETURN_IF_ERROR(comm::AgreeOnStatus(control, nccl.status()));
    ranks.nccl = *std::move(nccl);
  }
  comm::Communicator& data = ranks.data();
  if (control.rank() == 0) {
    for (const std::string& note :
         IneffectiveFlagNotices(config, on_gpu, control.size(), benchmark > 0)) {
      std::fprintf(stderr, "train: note: %s\n", note.c_str());
    }
  }
  FFTRAIN_ASSIGN_OR_RETURN(auto trainer, Trainer::Create(config, *backend, data));
  if (benchmark > 0) {
    FFTRAIN_ASSIGN_OR_RETURN(double ms, trainer->TimeIterations(5, benchmark));
    if (data.rank() == 0) {
      std::printf("%s, batch %d%s: %.3f ms per training iteration (median of %d)\n",
                  trainer->network().spec().canonical.c_str(),
                  static_cast<int>(config.batch_size),
                  data.size() > 1 ? absl::StrCat(" per rank, ", data.size(), " ranks (",
                                                 data.name(), ")").c_str()
                                  : "",
                  ms, static_cast<int>(benchmark));
      PrintDeviceMemory(*backend, trainer->step_graph());
    }
    return absl::OkStatus();
  }
  // From here a signal stops training cleanly; before, it ends start-up as usual.
  trainer->set_stop_request(&g_stop_signal);
  InstallStopHandlers();
  FFTRAIN_ASSIGN_OR_RETURN(auto history, trainer->Run());
  *stopped_by = trainer->stopped_by();
  if (*stopped_by != 0) return absl::OkStatus();  // the trainer said where it stopped
  if (!history.empty() && data.rank() == 0) {
    const EpochMetrics& last = history.back();
    std::printf("final test accuracy: %.2f%% (test loss %.4f) after %d epochs\n",
                100 * last.test_accuracy, last.test_loss, static_cast<int>(last.epoch));
  }
  if (data.rank() == 0) PrintDeviceMemory(*backend, trainer->step_graph());
  return absl::OkStatus();
}

// Run, with any exception that escapes it (std::bad_alloc where a size was not checked in
// advance) turned into a failure of this rank, so that it is reported like any other.
absl::Status RunCatchingExceptions(Ranks& ranks, absl::Duration timeout, int* stopped_by) {
  try {
    return Run(ranks, timeout, stopped_by);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(
        "out of memory (std::bad_alloc): the host cannot hold what these settings need; "
        "try a smaller --batch_size, data set or network");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("unexpected exception: ", e.what()));
  }
}

// 0 on success. A failure every rank knows of (agreed) is printed once, by rank 0, and
// every rank ends normally; any other failure of a rank in a job (a deadline, a lost
// peer) is printed with the rank and ends the whole job, since the other ranks may be
// waiting for this one.
int Main() {
  const double timeout_s = absl::GetFlag(FLAGS_collective_timeout_s);
  if (!(timeout_s > 0 && timeout_s <= 7 * 24 * 3600)) {
    std::fprintf(stderr, "train: --collective_timeout_s must be in (0, 604800], got %g\n",
                 timeout_s);
    return 1;
  }
  const absl::Duration timeout = absl::Seconds(timeout_s);
  Ranks ranks;
  if (absl::Status started = StartRanks(absl::GetFlag(FLAGS_communicator), timeout, &ranks);
      !started.ok()) {
    std::fprintf(stderr, "train: %s\n", std::string(started.message()).c_str());
    return 1;
  }
  int stopped_by = 0;
  const absl::Status status = RunCatchingExceptions(ranks, timeout, &stopped_by);
  if (status.ok()) {
    ranks.nccl.reset();
    ranks.control.reset();
    if (ranks.session) {
      if (absl::Status finalized = ranks.session->Finalize(); !finalized.ok()) {
        std::fprintf(stderr, "train: %s\n", std::string(finalized.message()).c_str());
        return 1;
      }
    }
    // Stopped by a signal: every rank stopped after the same step; 130 for SIGINT, 143 for
    // SIGTERM, as a shell reports a process killed by them.
    return stopped_by != 0 ? 128 + stopped_by : 0;
  }
  const int rank = ranks.control->rank();
  if (comm::IsAgreedFailure(status)) {
    if (rank == 0) std::fprintf(stderr, "train: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  if (ranks.session && ranks.session->size() > 1) {
    std::fprintf(stderr, "train: rank %d on %s: %s; ending the job\n", rank,
                 ranks.session->host().c_str(), std::string(status.message()).c_str());
    std::fflush(stderr);
    if (ranks.nccl) ranks.nccl->Abort();
    ranks.session->Abort(1);
  }
  std::fprintf(stderr, "train: %s\n", std::string(status.message()).c_str());
  return 1;
}

}  // namespace
}  // namespace fftrain::trainer

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Trains a convolutional network whose convolutions run as FFT products.\n"
      "  train --network=fmnist --epochs=15 [--device=auto|cuda|cpu] [--log=run.jsonl]\n"
      "  mpirun -np G train ...   (data parallel, one rank per GPU: docs/distributed.md)");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::fprintf(stderr, "train: unexpected argument '%s' (flags look like --name=value)\n",
                 rest[1]);
    return 2;
  }
  try {
    return fftrain::trainer::Main();
  } catch (const std::exception& e) {  // outside Run: starting or ending MPI
    std::fprintf(stderr, "train: unexpected exception: %s\n", e.what());
    return 1;
  }
}
