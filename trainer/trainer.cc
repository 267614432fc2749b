#include "trainer/trainer.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/key_value_lines.h"
#include "base/status_macros.h"
#include "comm/rank_agreement.h"
#include "trainer/checkpoint/checkpoint.h"
#include "trainer/metrics_log.h"
#include "trainer/output_files.h"

namespace fftrain::trainer {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Settings that change what a resumed run computes: they must match the checkpoint's.
// The number of epochs is one: the learning-rate schedule spans them. So is the number of
// ranks: it sets the global batch, hence the data order and the steps per epoch.
// The data is compared by content ("data": its sizes and a checksum of the loaded arrays),
// not by the folder's name: "dir/" and "dir", or a copy elsewhere, resume; other files at
// the same path do not.
constexpr const char* kResumeKeys[] = {"ranks",
    "network", "dataset", "data", "train_limit", "synthetic_shape", "synthetic_train",
    "synthetic_classes", "batch_size", "schedule", "learning_rate", "final_learning_rate",
    "step_epochs", "gamma", "warmup_steps", "momentum", "weight_decay", "seed", "epochs"};

// Bounds of counts that are multiplied together (examples, steps): far beyond any real run,
// small enough that their products stay below 2^63.
constexpr int64_t kMaxExamples = int64_t{1} << 40;
constexpr int64_t kMaxEpochs = 1000000000;

// "60000x1x28x28 10 classes crc32 0x1234abcd": the sizes of a data set and, with
// `checksum`, a CRC-32 of its pixels (as loaded, before normalisation) and labels.
std::string DataFingerprint(const ImageDataset& data, bool checksum) {
  const std::string sizes = absl::StrFormat("%dx%dx%dx%d %d classes", data.count,
                                            data.channels, data.height, data.width,
                                            data.num_classes);
  if (!checksum) return sizes;
  uLong crc = crc32_z(0L, Z_NULL, 0);
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(data.images.data()),
                data.images.size() * sizeof(float));
  crc = crc32_z(crc, reinterpret_cast<const Bytef*>(data.labels.data()),
                data.labels.size() * sizeof(int32_t));
  return absl::StrFormat("%s crc32 0x%08x", sizes, static_cast<uint32_t>(crc));
}

// The learning-rate schedule `c` asks for, without its step counts, which depend on the
// data (BuildTraining sets them). Both the configuration check and the training use it.
absl::StatusOr<LearningRateSchedule> ScheduleFromConfig(const TrainConfig& c) {
  FFTRAIN_ASSIGN_OR_RETURN(const ScheduleKind kind, ParseScheduleKind(c.schedule));
  LearningRateSchedule schedule;
  schedule.kind = kind;
  schedule.base = c.learning_rate;
  schedule.final_rate = c.final_learning_rate;
  schedule.step_epochs = c.step_epochs;
  schedule.gamma = c.gamma;
  schedule.warmup_steps = c.warmup_steps;
  return schedule;
}

}  // namespace

absl::Status ValidateConfig(const TrainConfig& c) {
  auto bad = [](const std::string& what) { return absl::InvalidArgumentError(what); };
  if (c.dataset != "fashion-mnist" && c.dataset != "synthetic") {
    return bad(absl::StrCat("--dataset must be fashion-mnist or synthetic, got '", c.dataset, "'"));
  }
  if (c.epochs <= 0 || c.epochs > kMaxEpochs) {
    return bad(absl::StrCat("--epochs must be positive and at most 10^9, got ", c.epochs));
  }
  if (c.batch_size <= 0 || c.batch_size > (1 << 20)) {
    return bad(absl::StrCat("--batch_size must be in [1, 1048576], got ", c.batch_size));
  }
  if (c.train_limit < 0 || c.test_limit < 0) {
    return bad("--train_limit and --test_limit must be >= 0 (0 means all)");
  }
  if (c.dataset == "synthetic" && (c.synthetic_train <= 0 || c.synthetic_test < 0)) {
    return bad("--synthetic_train must be positive and --synthetic_test >= 0");
  }
  if (c.synthetic_train > kMaxExamples || c.synthetic_test > kMaxExamples) {
    return bad(absl::StrCat("--synthetic_train and --synthetic_test must be at most 2^40, got ",
                            c.synthetic_train, " and ", c.synthetic_test));
  }
  if (c.synthetic_classes < 0 || c.synthetic_classes == 1) {
    return bad(absl::StrCat("--synthetic_classes must be 0 (the network's outputs) or >= 2, got ",
                            c.synthetic_classes));
  }
  if (c.stop_after_epoch < 0) {
    return bad(absl::StrCat("--stop_after_epoch must be >= 0, got ", c.stop_after_epoch));
  }
  if (c.log_every_steps <= 0) {
    return bad(absl::StrCat("--log_every_steps must be positive, got ", c.log_every_steps));
  }
  if (c.bucket_bytes < 4 || c.first_bucket_bytes < 4) {
    return bad(absl::StrCat("--bucket_mb must hold at least one float, got ", c.bucket_bytes,
                            " bytes (first bucket ", c.first_bucket_bytes, ")"));
  }
  if (c.resume && c.checkpoint_path.empty()) {
    return bad("--resume needs --checkpoint, the file to resume from");
  }
  // The schedule's settings, each named by its flag.
  if (!(c.learning_rate > 0) || !std::isfinite(c.learning_rate)) {
    return bad(absl::StrCat("--learning_rate must be positive and finite, got ",
                            c.learning_rate));
  }
  if (!(c.final_learning_rate >= 0 && c.final_learning_rate <= c.learning_rate)) {
    return bad(absl::StrCat("--final_learning_rate must be in [0, --learning_rate=",
                            c.learning_rate, "], got ", c.final_learning_rate));
  }
  if (c.warmup_steps < 0 || c.warmup_steps > kMaxExamples) {
    return bad(absl::StrCat("--warmup_steps must be in [0, 2^40], got ", c.warmup_steps));
  }
  if (c.step_epochs <= 0 || c.step_epochs > kMaxEpochs) {
    return bad(absl::StrCat("--step_epochs must be in [1, 10^9], got ", c.step_epochs));
  }
  if (!(c.gamma > 0 && c.gamma <= 1)) {
    return bad(absl::StrCat("--gamma must be in (0, 1], got ", c.gamma));
  }
  FFTRAIN_ASSIGN_OR_RETURN(const LearningRateSchedule schedule, ScheduleFromConfig(c));
  if (absl::Status s = schedule.Validate(); !s.ok()) return bad(absl::StrCat("--", s.message()));
  if (!(c.momentum >= 0 && c.momentum < 1)) {
    return bad(absl::StrCat("--momentum must be in [0, 1), got ", c.momentum));
  }
  if (!(c.weight_decay >= 0) || !std::isfinite(c.weight_decay)) {
    return bad(absl::StrCat("--weight_decay must be >= 0, got ", c.weight_decay));
  }
  return ParseNetworkSpec(c.network).status();
}

std::string Trainer::ConfigText() const {
  const TrainConfig& c = config_;
  return absl::StrCat(
      "network=", spec_.canonical, "\ndataset=", c.dataset, "\ndata=", train_fingerprint_,
      "\ntrain_limit=", c.train_limit, "\nsynthetic_shape=", train_.channels, "x", train_.height,
      "x", train_.width, "\nsynthetic_train=", c.dataset == "synthetic" ? c.synthetic_train : 0,
      "\nsynthetic_classes=", train_.num_classes, "\nbatch_size=", c.batch_size,
      "\nschedule=", c.schedule, "\nlearning_rate=", c.learning_rate,
      "\nfinal_learning_rate=", c.final_learning_rate, "\nstep_epochs=", c.step_epochs,
      "\ngamma=", c.gamma, "\nwarmup_steps=", c.warmup_steps, "\nmomentum=", c.momentum,
      "\nweight_decay=", c.weight_decay, "\nseed=", c.seed, "\nepochs=", c.epochs,
      "\nranks=", comm_.size(), "\n");
}

absl::Status Trainer::CheckRanksAgree() {
  const TrainConfig& c = config_;
  // Beyond what a checkpoint pins: the data as loaded (a rank reading other files) and
  // whatever changes the arithmetic or the collectives each rank calls.
  const std::string settings = absl::StrCat(
      ConfigText(), "device=", DeviceName(backend_.device()), "\ntrain_examples=",
      train_.count, "\ntest_examples=", test_.count, "\ntest_limit=", c.test_limit,
      "\nimage=", train_.channels, "x", train_.height, "x", train_.width,
      "\ntest_data=", test_fingerprint_,
      "\nkeep_spectra=", static_cast<int>(c.keep_spectra), "\nbucket_bytes=", c.bucket_bytes,
      "\nfirst_bucket_bytes=", c.first_bucket_bytes, "\nevaluate=", c.evaluate,
      "\nstop_after_epoch=", c.stop_after_epoch, "\nlog_every_steps=", c.log_every_steps,
      "\ncuda_graphs=", c.cuda_graphs,
      "\nresume=", c.resume, "\n");
  return comm::CheckSameOnEveryRank(comm_, settings);
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const TrainConfig& config,
                                                         Backend& backend,
                                                         comm::Communicator& communicator,
                                                         std::FILE* log) {
  FFTRAIN_RETURN_IF_ERROR(ValidateConfig(config));
  auto t = std::unique_ptr<Trainer>(new Trainer(config, backend, communicator, log));
  FFTRAIN_ASSIGN_OR_RETURN(t->spec_, ParseNetworkSpec(config.network));
  // A step that fails on one rank fails on all (comm::AgreeOnStatus), so that no rank
  // waits for another that has given up. Outputs first: they are cheap to check, and a bad
  // path should fail before the data is loaded.
  FFTRAIN_RETURN_IF_ERROR(comm::AgreeOnStatus(communicator, t->PrepareOutputsOnRankZero()));
  FFTRAIN_RETURN_IF_ERROR(comm::AgreeOnStatus(communicator, t->LoadData()));
  FFTRAIN_RETURN_IF_ERROR(t->CheckRanksAgree());
  FFTRAIN_RETURN_IF_ERROR(t->BuildNetworkOnEveryRank());
  FFTRAIN_RETURN_IF_ERROR(comm::AgreeOnStatus(communicator, t->BuildTraining()));
  if (config.resume) {
    FFTRAIN_RETURN_IF_ERROR(t->Restore());
  } else {
    t->rng_.seed(config.seed);
    FFTRAIN_RETURN_IF_ERROR(t->network_->InitializeParameters(config.seed));
  }
  // Identical starting points on every rank, whatever the initialisation did.
  FFTRAIN_RETURN_IF_ERROR(comm::AgreeOnStatus(communicator, t->BroadcastState()));
  // Rank 0 alone writes the metrics log. A resumed run drops what the previous run logged
  // after its checkpoint, so that the log reads as one run.
  const std::string log_path = communicator.rank() == 0 ? config.log_path : std::string();
  int64_t dropped = 0;
  absl::StatusOr<JsonLinesWriter> writer =
      config.resume ? JsonLinesWriter::OpenForResume(log_path, t->step_, &dropped)
                    : JsonLinesWriter::Open(log_path, false);
  FFTRAIN_RETURN_IF_ERROR(comm::AgreeOnStatus(communicator, writer.status()));
  t->jsonl_ = std::make_unique<JsonLinesWriter>(*std::move(writer));
  t->PrintStartup();
  if (config.resume) {
    JsonObject resumed;
    const bool mid_epoch = t->step_ != t->epoch_ * t->schedule_.steps_per_epoch;
    resumed.Add("event", "resume").Add("epoch", t->epoch_ + (mid_epoch ? 1 : 0))
        .Add("step", t->step_).Add("mid_epoch", mid_epoch)
        .Add("checkpoint", config.checkpoint_path).Add("dropped_lines", dropped);
    FFTRAIN_RETURN_IF_ERROR(t->jsonl_->Write(resumed));
  }
  FFTRAIN_RETURN_IF_ERROR(t->jsonl_->Write(t->ConfigEvent()));
  return t;
}

absl::Status Trainer::BuildNetworkOnEveryRank() {
  // Rank 0 builds first: its backend chooses each convolution's method (measuring them,
  // with --tune=measure). The others then build with rank 0's choices, so that every
  // rank runs the same methods, hence the same arithmetic.
  std::string choices;
  absl::Status first = absl::OkStatus();
  if (comm_.rank() == 0) {
    first = BuildNetwork();
    if (first.ok() && comm_.size() > 1) {
      absl::StatusOr<std::string> exported = backend_.ExportTuning();
      first = exported.status();
      if (exported.ok()) choices = *std::move(exported);
    }
  }
  FFTRAIN_RETURN_IF_ERROR(comm::AgreeOnStatus(comm_, first));
  if (comm_.size() == 1) return absl::OkStatus();
  FFTRAIN_ASSIGN_OR_RETURN(choices, comm::BroadcastText(comm_, choices));
  absl::Status others = absl::OkStatus();
  if (comm_.rank() != 0) {
    others = backend_.ImportTuning(choices);
    if (others.ok()) others = BuildNetwork();
  }
  return comm::AgreeOnStatus(comm_, others);
}

absl::Status Trainer::BuildNetwork() {
  const TrainConfig& config = config_;

  const TensorShape input{train_.channels, train_.height, train_.width};
  const int64_t batch = config.batch_size;
  const int64_t per_step = batch * comm_.size();
  if (train_.count < per_step) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the training set has ", train_.count, " examples, fewer than one step's ", per_step,
        " (--batch_size ", batch, " x ", comm_.size(), " ranks)"));
  }
  NetworkOptions options;
  options.keep_spectra = config.keep_spectra;
  FFTRAIN_ASSIGN_OR_RETURN(network_, Network::Create(spec_, input, batch, backend_, options));
  if (train_.image_elements() != network_->input_shape().elements()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the network's input has ", network_->input_shape().elements(),
        " elements but the training examples have ", train_.image_elements()));
  }
  if (train_.num_classes > network_->classes()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the network's last layer has ", network_->classes(), " outputs but the data set has ",
        train_.num_classes, " classes"));
  }
  return absl::OkStatus();
}

absl::Status Trainer::BuildTraining() {
  const TrainConfig& config = config_;
  const TensorShape input{train_.channels, train_.height, train_.width};
  const int64_t batch = config.batch_size;
  const int64_t per_step = batch * comm_.size();
  FFTRAIN_ASSIGN_OR_RETURN(SgdOptimizer optimizer,
                           SgdOptimizer::Create(backend_, network_->parameter_count(),
                                                config.momentum, config.weight_decay));
  optimizer_ = std::make_unique<SgdOptimizer>(std::move(optimizer));

  const int64_t steps_per_epoch = train_.count / per_step;
  FFTRAIN_ASSIGN_OR_RETURN(schedule_, ScheduleFromConfig(config));
  schedule_.steps_per_epoch = steps_per_epoch;
  if (__builtin_mul_overflow(steps_per_epoch, config.epochs, &schedule_.total_steps)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--epochs=", config.epochs, " of ", steps_per_epoch,
        " steps each overflow the 64-bit step count; train fewer epochs"));
  }

  static_assert(sizeof(float) == sizeof(int32_t), "the rate takes a label's slot");
  FFTRAIN_ASSIGN_OR_RETURN(labels_, backend_.Allocate(sizeof(int32_t) * (batch + 1)));
  learning_rate_on_device_ = reinterpret_cast<const float*>(labels_.ints() + batch);
  FFTRAIN_ASSIGN_OR_RETURN(loss_, backend_.Allocate(sizeof(float) * batch));
  FFTRAIN_ASSIGN_OR_RETURN(correct_, backend_.Allocate(sizeof(int32_t) * batch));
  host_images_.resize(batch * input.elements());
  host_labels_.resize(batch + 1);
  host_loss_.resize(batch);
  host_correct_.resize(batch);

  // Backward completes the layers last to first; so do the buckets.
  std::vector<comm::GradientRange> ready_order;
  const auto& layers = network_->layers();
  for (size_t i = layers.size(); i-- > 0;) {
    if (layers[i]->ParameterCount() == 0) continue;
    ready_order.push_back({layers[i]->name(), network_->parameter_offset(i),
                           layers[i]->ParameterCount()});
  }
  comm::BucketOptions bucket_options;
  bucket_options.bucket_bytes = config.bucket_bytes;
  bucket_options.first_bucket_bytes = std::min(config.first_bucket_bytes, config.bucket_bytes);
  FFTRAIN_ASSIGN_OR_RETURN(
      comm::BucketedAllReduce buckets,
      comm::BucketedAllReduce::Create(comm_, network_->gradients(),
                                      std::move(ready_order), bucket_options));
  buckets_ = std::make_unique<comm::BucketedAllReduce>(std::move(buckets));

  // Phases are timed with marks in the backend's stream of work, read after the step's
  // copy to the host has waited for it anyway: timing never adds a synchronisation.
  for (auto& mark : marks_) {
    FFTRAIN_ASSIGN_OR_RETURN(mark, backend_.CreateTimingMark());
  }
  use_graphs_ = config.cuda_graphs && backend_.CanCapture() && comm_.CanBeCaptured();
  if (use_graphs_) {
    graphs_note_ = "steps: captured as a CUDA graph at the second step, then replayed "
                   "(--cuda_graphs=false runs them call by call)";
  } else if (!config.cuda_graphs) {
    graphs_note_ = "steps: call by call (--cuda_graphs=false)";
  } else if (!backend_.CanCapture()) {
    graphs_note_ = absl::StrCat("steps: call by call (the ", DeviceName(backend_.device()),
                                " backend has no graphs)");
  } else {
    graphs_note_ = absl::StrCat("steps: call by call (the ", comm_.name(),
                                " communicator's collectives run on the host and cannot be "
                                "captured; --communicator=nccl can)");
  }
  return absl::OkStatus();
}

std::string Trainer::step_graph() const {
  return step_graph_ != nullptr ? step_graph_->Describe() : std::string();
}

void Trainer::PrintStartup() const {
  const TrainConfig& config = config_;
  const TensorShape input{train_.channels, train_.height, train_.width};
  const int64_t batch = config.batch_size;
  const int64_t per_step = batch * comm_.size();
  const int64_t steps_per_epoch = schedule_.steps_per_epoch;
  std::FILE* log = log_;
  if (log != nullptr && comm_.rank() == 0) {
    std::fprintf(log, "device: %s\nnetwork: %s, batch %d, input %dx%dx%d\n",
                 backend_.Describe().c_str(), spec_.canonical.c_str(),
                 static_cast<int>(batch), static_cast<int>(input.c), static_cast<int>(input.h),
                 static_cast<int>(input.w));
    for (const std::string& note : network_->startup_notes()) {
      std::fprintf(log, "%s\n", note.c_str());
    }
    std::fprintf(log, "%s\n", graphs_note_.c_str());
    std::fprintf(log, "data: %d training and %d test examples, %d classes; %d steps per epoch\n",
                 static_cast<int>(train_.count), static_cast<int>(test_.count),
                 train_.num_classes, static_cast<int>(steps_per_epoch));
    if (comm_.size() > 1) {
      std::fprintf(log, "data parallel: %d ranks (%s), global batch %d (%d per rank)\n",
                   comm_.size(), comm_.name().c_str(), static_cast<int>(per_step),
                   static_cast<int>(batch));
      const size_t buckets = buckets_->buckets().size();
      std::fprintf(log, "gradients averaged in %d bucket%s, each started once backward has "
                   "completed its layers:\n", static_cast<int>(buckets), buckets == 1 ? "" : "s");
      for (const std::string& line : comm::DescribeBuckets(buckets_->ranges(), buckets_->buckets())) {
        std::fprintf(log, "  %s\n", line.c_str());
      }
    }
    const int64_t dropped = train_.count % per_step;
    if (dropped > 0) {
      std::fprintf(log, "%d training examples an epoch are dropped: they do not fill a global "
                   "batch of %d\n", static_cast<int>(dropped), static_cast<int>(per_step));
    }
    if (config.resume) {
      const int64_t within = step_ - epoch_ * steps_per_epoch;
      if (within == 0) {
        std::fprintf(log, "resumed from %s after epoch %d (step %d)\n",
                     config.checkpoint_path.c_str(), static_cast<int>(epoch_),
                     static_cast<int>(step_));
      } else {
        std::fprintf(log, "resumed from %s at epoch %d, step %d of %d (step %d)\n",
                     config.checkpoint_path.c_str(), static_cast<int>(epoch_ + 1),
                     static_cast<int>(within), static_cast<int>(steps_per_epoch),
                     static_cast<int>(step_));
      }
    }
    std::fflush(log);
  }
}

JsonObject Trainer::ConfigEvent() const {
  const TrainConfig& config = config_;
  const int64_t batch = config.batch_size;
  const int64_t steps_per_epoch = schedule_.steps_per_epoch;
  JsonObject event;
  event.Add("event", "config").Add("device", backend_.Describe()).Add("network", spec_.canonical)
      .Add("batch_size", batch).Add("epochs", config.epochs).Add("schedule", config.schedule)
      .Add("learning_rate", static_cast<double>(config.learning_rate))
      .Add("momentum", static_cast<double>(config.momentum))
      .Add("weight_decay", static_cast<double>(config.weight_decay))
      .Add("seed", static_cast<int64_t>(config.seed)).Add("dataset", config.dataset)
      .Add("train_examples", train_.count).Add("test_examples", test_.count)
      .Add("steps_per_epoch", steps_per_epoch)
      .Add("workspace_bytes", static_cast<int64_t>(network_->workspace_pool().bytes()))
      .Add("keep_spectra", network_->keeps_spectra()).Add("resumed", config.resume)
      .Add("start_epoch", epoch_).Add("start_step", step_)
      .Add("ranks", static_cast<int64_t>(comm_.size()))
      .Add("communicator", comm_.name())
      .Add("cuda_graphs", use_graphs_)
      .Add("buckets", static_cast<int64_t>(buckets_->buckets().size()));
  return event;
}

absl::Status Trainer::PrepareOutputsOnRankZero() {
  if (comm_.rank() != 0) return absl::OkStatus();  // rank 0 alone writes outputs
  const TrainConfig& c = config_;
  std::vector<FlagPath> inputs;
  if (c.dataset == "fashion-mnist") {
    for (const char* name : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
      for (const char* suffix : {".gz", ""}) {
        inputs.push_back({"--data_dir", absl::StrCat(c.data_dir, "/", name, suffix)});
      }
    }
  }
  FFTRAIN_RETURN_IF_ERROR(CheckOutputFiles({{"--log", c.log_path},
                                            {"--checkpoint", c.checkpoint_path},
                                            {"--tuner_cache", c.tuner_cache_path}},
                                           inputs));
  if (!c.checkpoint_path.empty() && !c.resume && PathExists(c.checkpoint_path)) {
    if (!c.overwrite_checkpoint) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--checkpoint=", c.checkpoint_path, " already exists: --resume continues the run it "
          "holds, --overwrite_checkpoint starts a new run that replaces it, or choose another "
          "path"));
    }
    if (log_ != nullptr) {
      std::fprintf(log_, "note: --overwrite_checkpoint: this new run replaces the checkpoint "
                   "at %s when it writes its first one\n", c.checkpoint_path.c_str());
    }
  }
  if (!c.log_path.empty() && !c.resume && PathExists(c.log_path) && log_ != nullptr) {
    std::fprintf(log_, "note: --log=%s exists; this new run replaces it\n", c.log_path.c_str());
  }
  if (!c.checkpoint_path.empty()) {
    FFTRAIN_ASSIGN_OR_RETURN(std::vector<std::string> removed,
                             RemoveStaleTemporaries(c.checkpoint_path));
    for (const std::string& file : removed) {
      if (log_ != nullptr) {
        std::fprintf(log_, "removed %s: a checkpoint's temporary file left by a run that was "
                     "killed while writing it\n", file.c_str());
      }
    }
  }
  if (log_ != nullptr) std::fflush(log_);
  return absl::OkStatus();
}

absl::Status Trainer::LoadData() {
  const TrainConfig& c = config_;
  if (c.dataset == "fashion-mnist") {
    FFTRAIN_ASSIGN_OR_RETURN(train_, LoadFashionMnist(c.data_dir, Split::kTrain, c.train_limit));
    FFTRAIN_ASSIGN_OR_RETURN(test_, LoadFashionMnist(c.data_dir, Split::kTest, c.test_limit));
  } else {
    TensorShape shape = c.synthetic_shape;
    if (shape.elements() == 0) {
      shape = {1, 28, 28};
      for (const Preset& preset : Presets()) {
        if (c.network == preset.name) shape = preset.input;
      }
    }
    int32_t classes = c.synthetic_classes;
    if (classes == 0) classes = static_cast<int32_t>(spec_.layers.back().outputs);
    // One set split in two, so that both halves share the classes' prototypes.
    absl::StatusOr<ImageDataset> made = MakeSyntheticDataset(
        c.synthetic_train + c.synthetic_test, shape.c, shape.h, shape.w, classes, c.seed);
    if (!made.ok()) {
      return absl::Status(made.status().code(),
                          absl::StrCat("--synthetic_train=", c.synthetic_train,
                                       " --synthetic_test=", c.synthetic_test,
                                       " --synthetic_shape=", shape.c, "x", shape.h, "x",
                                       shape.w, ": ", made.status().message()));
    }
    ImageDataset all = *std::move(made);
    // The test set is the tail; the training set keeps the rest without a copy.
    const int64_t split = c.synthetic_train * all.image_elements();
    test_ = ImageDataset{c.synthetic_test, all.channels, all.height, all.width,
                         all.num_classes,
                         std::vector<float>(all.images.begin() + split, all.images.end()),
                         std::vector<int32_t>(all.labels.begin() + c.synthetic_train,
                                              all.labels.end())};
    train_ = std::move(all);
    train_.count = c.synthetic_train;
    train_.images.resize(split);
    train_.labels.resize(c.synthetic_train);
  }
  // Each set on its own, then the pair: the network is built for the training set's
  // examples and the test set goes through the same batch buffers, so the shapes must
  // agree before anything is sized from them.
  FFTRAIN_RETURN_IF_ERROR(CheckDataset(train_, "the training set"));
  if (test_.count > 0) {
    FFTRAIN_RETURN_IF_ERROR(CheckDataset(test_, "the test set"));
    FFTRAIN_RETURN_IF_ERROR(
        CheckSameExampleShape(train_, "the training set", test_, "the test set"));
  }
  // What resuming and the ranks compare: the files' data as loaded, not the folder's name.
  // A synthetic set is fixed by its seed and sizes, which are compared anyway; its pixels
  // come from the C library's log and cos, which may round differently on another machine.
  const bool files = c.dataset != "synthetic";
  train_fingerprint_ = DataFingerprint(train_, files);
  test_fingerprint_ = test_.count > 0 ? DataFingerprint(test_, files) : "none";
  // Statistics of the training set normalise both sets.
  const Normalization norm = ComputeNormalization(train_);
  Normalize(norm, &train_);
  if (test_.count > 0) Normalize(norm, &test_);
  return absl::OkStatus();
}

absl::Status Trainer::Restore() {
  std::string progress;
  FFTRAIN_RETURN_IF_ERROR(comm::AgreeOnStatus(comm_, RestoreOnRankZero(&progress)));
  // The other ranks take rank 0's place in the run: epoch, step and the data order's RNG.
  FFTRAIN_ASSIGN_OR_RETURN(progress, comm::BroadcastText(comm_, progress));
  std::istringstream text(progress);
  text >> epoch_ >> step_ >> rng_;
  if (text.fail()) {
    return absl::DataLossError(absl::StrCat("checkpoint ", config_.checkpoint_path,
                                            ": unreadable progress or RNG state"));
  }
  return absl::OkStatus();
}

absl::Status Trainer::RestoreOnRankZero(std::string* progress) {
  if (comm_.rank() != 0) return absl::OkStatus();
  FFTRAIN_ASSIGN_OR_RETURN(TrainingState state, ReadCheckpoint(config_.checkpoint_path));
  const std::string& path = config_.checkpoint_path;
  if (state.network_spec != spec_.canonical) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", path, " holds network '", state.network_spec, "', not '",
        spec_.canonical, "'"));
  }
  if (static_cast<int64_t>(state.parameters.size()) != network_->parameter_count()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", path, " holds ", state.parameters.size(), " parameters; the network has ",
        network_->parameter_count()));
  }
  const auto saved = base::ParseKeyValueLines(state.config);
  const auto current = base::ParseKeyValueLines(ConfigText());
  for (const char* key : kResumeKeys) {
    auto s = saved.find(key), c = current.find(key);
    // Checkpoints written before the data was fingerprinted name its folder instead: the
    // same folder, however spelled, is taken for the same data.
    if (std::string(key) == "data" && s == saved.end() && saved.count("data_dir") > 0) {
      std::error_code error;
      const auto folder = [&](const std::string& dir) {
        return std::filesystem::weakly_canonical(std::filesystem::path(dir) / "", error);
      };
      if (config_.dataset == "synthetic" ||
          folder(saved.at("data_dir")) == folder(config_.data_dir)) {
        continue;
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint ", path, " was written with data_dir=", saved.at("data_dir"),
          " but this run has data_dir=", config_.data_dir,
          "; resuming continues the same run and needs the same data"));
    }
    if (s == saved.end() || c == current.end() || s->second != c->second) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint ", path, " was written with ", key, "=",
          s == saved.end() ? "(missing)" : s->second, " but this run has ", key, "=",
          c == current.end() ? "(missing)" : c->second,
          "; resuming continues the same run and needs the same settings"));
    }
  }
  // The counters must place the checkpoint at an epoch's end or inside it.
  const int64_t steps = schedule_.steps_per_epoch;
  int64_t epoch_start = 0;
  if (__builtin_mul_overflow(state.epoch, steps, &epoch_start) || state.step < epoch_start ||
      state.step - epoch_start >= steps) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint ", path, ": step ", state.step, " is not within epoch ", state.epoch + 1,
        " of ", steps, " steps each"));
  }
  // Parameters and momentum must be numbers: a NaN or infinity would only spread.
  for (const auto* values : {&state.parameters, &state.momentum}) {
    for (size_t i = 0; i < values->size(); ++i) {
      if (!std::isfinite((*values)[i])) {
        return absl::DataLossError(absl::StrCat(
            "checkpoint ", path, ": ", values == &state.parameters ? "parameter " : "momentum ",
            i, " is ", (*values)[i], "; a checkpoint with NaN or infinite values cannot be "
            "resumed"));
      }
    }
  }
  std::istringstream rng_text(state.rng_state);
  std::mt19937_64 rng;
  rng_text >> rng;
  if (rng_text.fail()) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, ": unreadable RNG state"));
  }
  FFTRAIN_RETURN_IF_ERROR(backend_.CopyFromHost(state.parameters.data(), network_->parameters(),
                                                sizeof(float) * state.parameters.size()));
  FFTRAIN_RETURN_IF_ERROR(backend_.CopyFromHost(state.momentum.data(), optimizer_->velocity(),
                                                sizeof(float) * state.momentum.size()));
  *progress = absl::StrCat(state.epoch, " ", state.step, " ", state.rng_state);
  return absl::OkStatus();
}

absl::Status Trainer::BroadcastState() {
  if (comm_.size() == 1) return absl::OkStatus();
  const int64_t count = network_->parameter_count();
  FFTRAIN_RETURN_IF_ERROR(comm_.Broadcast(network_->parameters(), count, 0));
  FFTRAIN_RETURN_IF_ERROR(comm_.Broadcast(optimizer_->velocity(), count, 0));
  return backend_.Synchronize();
}

absl::Status Trainer::SaveCheckpoint() {
  if (config_.checkpoint_path.empty()) return absl::OkStatus();
  // Rank 0 writes (atomically: WriteCheckpoint renames a complete file into place); the
  // agreement is the barrier after which every rank may read it, and ends every rank if
  // the write failed.
  return comm::AgreeOnStatus(comm_, WriteCheckpointOnRankZero());
}

absl::Status Trainer::WriteCheckpointOnRankZero() {
  if (comm_.rank() != 0) return absl::OkStatus();
  TrainingState state;
  state.network_spec = spec_.canonical;
  state.epoch = epoch_;
  state.step = step_;
  state.parameters.resize(network_->parameter_count());
  state.momentum.resize(network_->parameter_count());
  FFTRAIN_RETURN_IF_ERROR(backend_.CopyToHost(network_->parameters(), state.parameters.data(),
                                              sizeof(float) * state.parameters.size()));
  FFTRAIN_RETURN_IF_ERROR(backend_.CopyToHost(optimizer_->velocity(), state.momentum.data(),
                                              sizeof(float) * state.momentum.size()));
  // Mid-epoch, the generator as it was before this epoch drew its order: the resumed run
  // draws it again and continues at the step within the epoch.
  std::ostringstream rng_text;
  rng_text << (mid_epoch_ ? epoch_rng_ : rng_);
  state.rng_state = rng_text.str();
  // The folder only for the record: resuming compares the data itself.
  state.config = absl::StrCat(ConfigText(), "data_dir=", config_.data_dir, "\n");
  return WriteCheckpoint(config_.checkpoint_path, state);
}

absl::StatusOr<std::vector<float>> Trainer::Parameters() {
  std::vector<float> host(network_->parameter_count());
  FFTRAIN_RETURN_IF_ERROR(
      backend_.CopyToHost(network_->parameters(), host.data(), sizeof(float) * host.size()));
  return host;
}

absl::Status Trainer::LoadBatch(const ImageDataset& data, const std::vector<int64_t>& indices,
                               float learning_rate) {
  if (indices.empty() || static_cast<int64_t>(indices.size()) > network_->batch()) {
    return absl::InternalError(absl::StrCat("LoadBatch: ", indices.size(),
                                            " examples for a batch of ", network_->batch()));
  }
  std::vector<int64_t> padded = indices;
  padded.resize(network_->batch(), indices.back());
  // GatherBatch checks the sizes: a set whose examples are not the network's input shape
  // is refused here rather than read past the batch buffer.
  const size_t batch = network_->batch();
  FFTRAIN_RETURN_IF_ERROR(GatherBatch(data, padded, absl::MakeSpan(host_images_),
                                      absl::MakeSpan(host_labels_.data(), batch)));
  std::memcpy(&host_labels_[batch], &learning_rate, sizeof(float));
  FFTRAIN_RETURN_IF_ERROR(backend_.CopyFromHost(host_images_.data(), network_->input(),
                                                sizeof(float) * host_images_.size()));
  return backend_.CopyFromHost(host_labels_.data(), labels_.data(),
                               sizeof(int32_t) * host_labels_.size());
}

absl::Status Trainer::Evaluate(double* loss, double* accuracy) {
  const int64_t batch = network_->batch();
  double loss_sum = 0;
  int64_t correct = 0;
  std::vector<float> host_loss(batch);
  std::vector<int32_t> host_correct(batch);
  // Rank r evaluates batches r, r + ranks, ...: the ranks together see each example once.
  for (int64_t begin = comm_.rank() * batch; begin < test_.count;
       begin += batch * comm_.size()) {
    std::vector<int64_t> indices;
    for (int64_t i = begin; i < std::min(test_.count, begin + batch); ++i) indices.push_back(i);
    FFTRAIN_RETURN_IF_ERROR(LoadBatch(test_, indices));
    FFTRAIN_RETURN_IF_ERROR(RunEvaluation());
    FFTRAIN_RETURN_IF_ERROR(backend_.CopyToHost(loss_.data(), host_loss.data(), 4 * batch));
    FFTRAIN_RETURN_IF_ERROR(backend_.CopyToHost(correct_.data(), host_correct.data(), 4 * batch));
    for (size_t i = 0; i < indices.size(); ++i) {  // the padding is not counted
      loss_sum += host_loss[i];
      correct += host_correct[i];
    }
  }
  double sums[2] = {loss_sum, static_cast<double>(correct)};
  FFTRAIN_RETURN_IF_ERROR(comm_.AllReduceHost(sums, 2));
  *loss = test_.count > 0 ? sums[0] / test_.count : std::nan("");
  *accuracy = test_.count > 0 ? sums[1] / test_.count : std::nan("");
  return absl::OkStatus();
}

void Trainer::AddStopRequest(double* sigint, double* sigterm) const {
  const int signal = stop_request_ != nullptr ? stop_request_->load() : 0;
  if (signal == SIGINT) *sigint += 1;
  if (signal != 0 && signal != SIGINT) *sigterm += 1;
}

absl::StatusOr<bool> Trainer::AgreeOnStop() {
  double requests[2] = {0, 0};
  AddStopRequest(&requests[0], &requests[1]);
  if (comm_.size() > 1) FFTRAIN_RETURN_IF_ERROR(comm_.AllReduceHost(requests, 2));
  stop_sigints_ = requests[0];
  return requests[0] + requests[1] > 0;
}

absl::Status Trainer::TrainEpoch(EpochMetrics* m, bool* stopped) {
  *stopped = false;
  const int64_t batch = network_->batch();
  const int64_t ranks = comm_.size();
  const int64_t steps = schedule_.steps_per_epoch;
  // A run resumed from a checkpoint taken mid-epoch starts inside the epoch.
  const int64_t first_step = step_ - epoch_ * steps;
  if (first_step < 0 || first_step >= steps) {
    return absl::InternalError(absl::StrCat("step ", step_, " is not in epoch ", epoch_ + 1,
                                            " of ", steps, " steps"));
  }
  // The same permutation on every rank (the same RNG state); each takes its share.
  epoch_rng_ = rng_;
  const std::vector<int64_t> order = EpochPermutation(train_.count, rng_(), epoch_);
  mid_epoch_ = true;
  const bool show_progress = config_.progress && comm_.rank() == 0 && isatty(fileno(stderr));
  // Sums over this rank's examples: {loss, correct}; reduced over ranks at the end.
  double epoch_sums[2] = {0, 0};
  const auto epoch_start = Clock::now();
  ReportWindow window;
  window.start = epoch_start;

  for (int64_t s = first_step; s < steps; ++s) {
    const float rate = schedule_.At(step_);
    FFTRAIN_ASSIGN_OR_RETURN(const StepSums step, TrainStep(order, s, rate, m));
    epoch_sums[0] += step.loss;
    epoch_sums[1] += step.correct;
    window.sums[0] += step.loss;
    window.sums[1] += step.correct;
    ++window.steps;
    FFTRAIN_ASSIGN_OR_RETURN(const StopRequests stop_requests,
                             ReportAndAgreeOnStop(s, steps, rate, show_progress, window));
    // Every rank has the same sums here, so every rank stops after the same step. A request
    // at the epoch's last step is taken at its end, after evaluation and the checkpoint.
    if (stop_requests[0] + stop_requests[1] > 0 && s + 1 < steps) {
      if (show_progress) std::fprintf(stderr, "\r%*s\r", 100, "");
      stop_sigints_ = stop_requests[0];
      *stopped = true;
      return absl::OkStatus();
    }
  }
  mid_epoch_ = false;
  if (show_progress) std::fprintf(stderr, "\r%*s\r", 100, "");
  FFTRAIN_RETURN_IF_ERROR(comm_.AllReduceHost(epoch_sums, 2));
  const double train_seconds = SecondsSince(epoch_start);
  const double examples = static_cast<double>((steps - first_step) * batch * ranks);
  m->train_loss = epoch_sums[0] / examples;
  m->train_accuracy = epoch_sums[1] / examples;
  m->images_per_second = examples / train_seconds;
  return absl::OkStatus();
}

absl::StatusOr<Trainer::StepSums> Trainer::TrainStep(const std::vector<int64_t>& order,
                                                     int64_t step_in_epoch, float rate,
                                                     EpochMetrics* m) {
  const int64_t batch = network_->batch();
  comm_.set_step(step_);
  const auto data_start = Clock::now();
  const int64_t first = (step_in_epoch * comm_.size() + comm_.rank()) * batch;
  std::vector<int64_t> indices(order.begin() + first, order.begin() + first + batch);
  FFTRAIN_RETURN_IF_ERROR(LoadBatch(train_, indices, rate));
  m->data_seconds += SecondsSince(data_start);
  FFTRAIN_RETURN_IF_ERROR(RunStep());
  FFTRAIN_RETURN_IF_ERROR(backend_.CopyToHost(loss_.data(), host_loss_.data(), 4 * batch));
  FFTRAIN_RETURN_IF_ERROR(backend_.CopyToHost(correct_.data(), host_correct_.data(), 4 * batch));
  double* phase_seconds[3] = {&m->forward_seconds, &m->backward_seconds, &m->update_seconds};
  for (int p = 0; p < 3; ++p) {
    FFTRAIN_ASSIGN_OR_RETURN(double seconds, marks_[p + 1]->SecondsSince(*marks_[p]));
    *phase_seconds[p] += seconds;
  }
  ++step_;

  StepSums sums;
  for (int64_t i = 0; i < batch; ++i) {
    sums.loss += host_loss_[i];
    sums.correct += host_correct_[i];
  }
  if (!std::isfinite(sums.loss)) {
    return absl::InternalError(absl::StrCat("the loss became ", sums.loss, " at epoch ",
                                            epoch_ + 1, " step ", step_,
                                            "; lower --learning_rate"));
  }
  return sums;
}

absl::StatusOr<Trainer::StopRequests> Trainer::ReportAndAgreeOnStop(int64_t step_in_epoch,
                                                                    int64_t steps, float rate,
                                                                    bool show_progress,
                                                                    ReportWindow& window) {
  const int64_t batch = network_->batch();
  const int64_t ranks = comm_.size();
  const int64_t s = step_in_epoch;
  // The same steps on every rank, so every rank joins the reduction.
  const bool log_now = (s + 1) % config_.log_every_steps == 0 || s + 1 == steps;
  StopRequests stop_requests = {0, 0};
  if (log_now) {
    AddStopRequest(&window.sums[2], &window.sums[3]);
    FFTRAIN_RETURN_IF_ERROR(comm_.AllReduceHost(window.sums, 4));
    stop_requests[0] = window.sums[2];
    stop_requests[1] = window.sums[3];
  } else if (ranks == 1 || (s + 1) % kStopCheckSteps == 0) {
    AddStopRequest(&stop_requests[0], &stop_requests[1]);
    if (ranks > 1) FFTRAIN_RETURN_IF_ERROR(comm_.AllReduceHost(stop_requests.data(), 2));
  }
  if (!log_now && !show_progress) return stop_requests;
  const double elapsed = SecondsSince(window.start);
  const double images_per_s = window.steps * batch * ranks / std::max(elapsed, 1e-9);
  // Between reports the progress line shows rank 0's own examples.
  const double examples = window.steps * batch * (log_now ? ranks : 1);
  const double mean_loss = window.sums[0] / examples;
  const double accuracy = window.sums[1] / examples;
  if (show_progress) {
    std::fprintf(stderr, "\repoch %d/%d  step %d/%d  loss %.4f  acc %5.1f%%  %.0f img/s  lr %.4g ",
                 static_cast<int>(epoch_ + 1), static_cast<int>(config_.epochs),
                 static_cast<int>(s + 1), static_cast<int>(steps), mean_loss, 100 * accuracy,
                 images_per_s, rate);
    std::fflush(stderr);
  }
  if (log_now) {
    JsonObject event;
    event.Add("event", "step").Add("epoch", epoch_ + 1).Add("step", step_)
        .Add("loss", mean_loss).Add("accuracy", accuracy)
        .Add("images_per_s", images_per_s).Add("learning_rate", static_cast<double>(rate));
    FFTRAIN_RETURN_IF_ERROR(jsonl_->Write(event));
    window = ReportWindow();
    window.start = Clock::now();
  }
  return stop_requests;
}

absl::Status Trainer::Backward() {
  const Network::GradientsReady ready = [this](const Layer&, int64_t offset, int64_t count) {
    return buckets_->MarkReady(offset, count);
  };
  FFTRAIN_RETURN_IF_ERROR(network_->Backward(ready));
  return buckets_->Finish();
}

absl::Status Trainer::EnqueueStep() {
  FFTRAIN_RETURN_IF_ERROR(marks_[0]->Record());
  {
    ScopedRange range(backend_, "forward");
    FFTRAIN_RETURN_IF_ERROR(network_->Forward());
    FFTRAIN_RETURN_IF_ERROR(backend_.SoftmaxCrossEntropy(
        network_->logits(), labels_.ints(), network_->batch(), network_->classes(),
        network_->logits_gradient(), loss_.floats(), correct_.ints()));
  }
  FFTRAIN_RETURN_IF_ERROR(marks_[1]->Record());
  {
    ScopedRange range(backend_, "backward");
    FFTRAIN_RETURN_IF_ERROR(Backward());
  }
  FFTRAIN_RETURN_IF_ERROR(marks_[2]->Record());
  {
    ScopedRange range(backend_, "update");
    // The rate from the device, where LoadBatch put it: a replayed step reads its own.
    FFTRAIN_RETURN_IF_ERROR(optimizer_->StepWithRateFrom(
        network_->parameters(), network_->gradients(), learning_rate_on_device_));
  }
  return marks_[3]->Record();
}

absl::Status Trainer::EnqueueEvaluation() {
  FFTRAIN_RETURN_IF_ERROR(network_->Forward());
  return backend_.SoftmaxCrossEntropy(network_->logits(), labels_.ints(), network_->batch(),
                                      network_->classes(), network_->logits_gradient(),
                                      loss_.floats(), correct_.ints());
}

absl::Status Trainer::RunStep() {
  return RunCapturable("the training step", step_graph_, step_runs_, &Trainer::EnqueueStep);
}

absl::Status Trainer::RunEvaluation() {
  return RunCapturable("the evaluation of a batch", evaluation_graph_, evaluation_runs_,
                       &Trainer::EnqueueEvaluation);
}

absl::Status Trainer::RunCapturable(const char* what, std::unique_ptr<CapturedWork>& graph,
                                    int64_t& runs, absl::Status (Trainer::*enqueue)()) {
  ++runs;
  if (!use_graphs_ || (graph == nullptr && runs < 2)) return (this->*enqueue)();
  if (graph == nullptr) {
    absl::StatusOr<std::unique_ptr<CapturedWork>> captured =
        backend_.Capture([&] { return (this->*enqueue)(); });
    if (!captured.ok()) {
      return absl::Status(captured.status().code(),
                          absl::StrCat("capturing ", what, ": ", captured.status().message(),
                                       " (--cuda_graphs=false runs steps call by call)"));
    }
    graph = *std::move(captured);
    if (log_ != nullptr && comm_.rank() == 0) {
      std::fprintf(log_, "%s: %s\n", what, graph->Describe().c_str());
    }
  }
  ScopedRange range(backend_, what);
  FFTRAIN_RETURN_IF_ERROR(graph->Replay());
  return comm_.WatchReplay(absl::StrCat(what, " (replayed) at step ", step_));
}

absl::StatusOr<double> Trainer::TimeIterations(int64_t warmup, int64_t iterations) {
  if (warmup < 0 || iterations <= 0) {
    return absl::InvalidArgumentError("TimeIterations: need warmup >= 0 and iterations > 0");
  }
  std::vector<int64_t> first_batch(network_->batch());
  for (int64_t i = 0; i < network_->batch(); ++i) first_batch[i] = i % train_.count;
  // A small rate keeps the parameters finite however many iterations run.
  FFTRAIN_RETURN_IF_ERROR(LoadBatch(train_, first_batch, 1e-4f));
  for (int64_t i = 0; i < warmup; ++i) FFTRAIN_RETURN_IF_ERROR(RunStep());
  FFTRAIN_RETURN_IF_ERROR(backend_.Synchronize());
  std::vector<double> ms;
  for (int64_t i = 0; i < iterations; ++i) {
    const auto start = Clock::now();
    FFTRAIN_RETURN_IF_ERROR(RunStep());
    FFTRAIN_RETURN_IF_ERROR(backend_.Synchronize());
    ms.push_back(1e3 * SecondsSince(start));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

absl::StatusOr<std::vector<EpochMetrics>> Trainer::Run() {
  std::vector<EpochMetrics> history;
  if (epoch_ >= config_.epochs && log_ != nullptr) {
    std::fprintf(log_, "nothing to do: the checkpoint has %d epochs, --epochs is %d\n",
                 static_cast<int>(epoch_), static_cast<int>(config_.epochs));
  }
  const int64_t last = config_.stop_after_epoch > 0
                           ? std::min(config_.epochs, config_.stop_after_epoch)
                           : config_.epochs;
  while (epoch_ < last) {
    EpochMetrics m;
    const auto start = Clock::now();
    bool stopped = false;
    FFTRAIN_RETURN_IF_ERROR(TrainEpoch(&m, &stopped));
    if (stopped) {
      FFTRAIN_RETURN_IF_ERROR(Stop(/*mid_epoch=*/true));
      return history;
    }
    m.test_loss = m.test_accuracy = std::nan("");
    if (config_.evaluate && test_.count > 0) {
      const auto eval_start = Clock::now();
      FFTRAIN_RETURN_IF_ERROR(Evaluate(&m.test_loss, &m.test_accuracy));
      m.eval_seconds = SecondsSince(eval_start);
    }
    ++epoch_;
    m.epoch = epoch_;
    m.step = step_;
    m.seconds = SecondsSince(start);
    FFTRAIN_RETURN_IF_ERROR(SaveCheckpoint());
    if (log_ != nullptr && comm_.rank() == 0) {
      std::fprintf(log_,
                   "epoch %d/%d: train loss %.4f acc %.2f%% | test loss %.4f acc %.2f%% | "
                   "%.0f img/s | %.1f s (data %.1f, forward %.1f, backward %.1f, update %.1f, "
                   "eval %.1f)\n",
                   static_cast<int>(m.epoch), static_cast<int>(config_.epochs), m.train_loss,
                   100 * m.train_accuracy, m.test_loss, 100 * m.test_accuracy,
                   m.images_per_second, m.seconds, m.data_seconds, m.forward_seconds,
                   m.backward_seconds, m.update_seconds, m.eval_seconds);
      std::fflush(log_);
    }
    JsonObject phases;
    phases.Add("data", m.data_seconds).Add("forward", m.forward_seconds)
        .Add("backward", m.backward_seconds).Add("update", m.update_seconds)
        .Add("eval", m.eval_seconds);
    JsonObject event;
    event.Add("event", "epoch").Add("epoch", m.epoch).Add("step", m.step)
        .Add("train_loss", m.train_loss).Add("train_accuracy", m.train_accuracy)
        .Add("test_loss", m.test_loss).Add("test_accuracy", m.test_accuracy)
        .Add("images_per_s", m.images_per_second).Add("epoch_seconds", m.seconds)
        .Add("phase_seconds", phases);
    FFTRAIN_RETURN_IF_ERROR(jsonl_->Write(event));
    history.push_back(m);
    // A request that came during the epoch's last step or its evaluation: stop here, with
    // the epoch's checkpoint just written.
    if (epoch_ < last) {
      FFTRAIN_ASSIGN_OR_RETURN(const bool stop, AgreeOnStop());
      if (stop) {
        FFTRAIN_RETURN_IF_ERROR(Stop(/*mid_epoch=*/false));
        return history;
      }
    }
  }
  return history;
}

absl::Status Trainer::Stop(bool mid_epoch) {
  stopped_by_ = stop_sigints_ > 0 ? SIGINT : SIGTERM;
  const char* signal_name = stopped_by_ == SIGINT ? "SIGINT" : "SIGTERM";
  // Mid-epoch, the checkpoint holds the step within the epoch and the epoch's order.
  if (mid_epoch) FFTRAIN_RETURN_IF_ERROR(SaveCheckpoint());
  const int64_t steps = schedule_.steps_per_epoch;
  const std::string where =
      mid_epoch ? absl::StrFormat("at epoch %d/%d, step %d of %d (optimizer step %d)",
                                  epoch_ + 1, config_.epochs, step_ - epoch_ * steps, steps,
                                  step_)
                : absl::StrFormat("after epoch %d/%d (optimizer step %d)", epoch_,
                                  config_.epochs, step_);
  const std::string saved =
      config_.checkpoint_path.empty()
          ? std::string("no checkpoint was written (no --checkpoint)")
          : absl::StrCat("checkpoint written to ", config_.checkpoint_path,
                         "; --resume continues from there");
  if (log_ != nullptr && comm_.rank() == 0) {
    std::fprintf(log_, "stopped by %s %s; %s\n", signal_name, where.c_str(), saved.c_str());
    std::fflush(log_);
  }
  JsonObject event;
  // "epoch" as in step events (the epoch the step is in) mid-epoch, else the one completed.
  event.Add("event", "stop").Add("signal", signal_name).Add("epoch", epoch_ + (mid_epoch ? 1 : 0))
      .Add("step", step_).Add("mid_epoch", mid_epoch).Add("checkpoint", config_.checkpoint_path);
  return jsonl_->Write(event);
}

}  // namespace fftrain::trainer
