// The training loop: data, forward, loss, backward (gradients all-reduced as each layer
// finishes), SGD, evaluation each epoch, metrics, checkpoints and exact resume.
#ifndef FFTRAIN_TRAINER_TRAINER_H_
#define FFTRAIN_TRAINER_TRAINER_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "comm/gradient_buckets.h"
#include "trainer/backend/backend.h"
#include "trainer/data/dataset.h"
#include "trainer/metrics_log.h"
#include "trainer/network.h"
#include "trainer/optimizer.h"

namespace fftrain::trainer {

struct TrainConfig {
  std::string network = "fmnist";        // a preset or a spec string
  std::string dataset = "fashion-mnist";  // or "synthetic"
  std::string data_dir = DefaultFashionMnistDir();
  int64_t train_limit = 0;                // first N training examples; 0 = all
  int64_t test_limit = 0;                 // first N test examples; 0 = all
  // Synthetic data: per-example shape (0s: the preset's input, else 1x28x28) and sizes.
  TensorShape synthetic_shape;
  int64_t synthetic_train = 10000;
  int64_t synthetic_test = 2000;
  int32_t synthetic_classes = 0;          // 0: the network's number of outputs

  int64_t epochs = 15;
  // Stop after this epoch (0: run all): splits a run that --resume then continues.
  int64_t stop_after_epoch = 0;
  int64_t batch_size = 128;
  std::string schedule = "cosine";
  float learning_rate = 0.02f;
  float final_learning_rate = 0.0f;
  int64_t step_epochs = 10;
  float gamma = 0.1f;
  int64_t warmup_steps = 100;
  float momentum = 0.9f;
  float weight_decay = 5e-4f;
  uint64_t seed = 1;
  KeepSpectra keep_spectra = KeepSpectra::kAuto;

  std::string log_path;         // JSON lines; empty: none
  std::string checkpoint_path;  // written after every epoch; empty: none
  bool resume = false;          // continue from checkpoint_path
  // A fresh run (no resume) refuses a checkpoint_path where a file exists, unless this is
  // set: then that file is replaced by the new run's first checkpoint.
  bool overwrite_checkpoint = false;
  // The GPU tuner's cache file, which the backend reads and writes: checked with the other
  // outputs at start-up (no output may be it). Empty: none.
  std::string tuner_cache_path;
  bool progress = true;         // progress line on stderr when it is a terminal
  int64_t log_every_steps = 50;
  bool evaluate = true;         // test-set evaluation after each epoch
  // Capture the training step (forward, loss, backward with its all-reduces, update) and
  // the evaluation of a batch as CUDA graphs at their second run, and replay them: one
  // launch each instead of hundreds. Used where the backend can capture (CUDA) and the
  // communicator's collectives can be captured (one rank, or NCCL); else steps run call
  // by call, as with false.
  bool cuda_graphs = true;

  // Data parallelism (docs/distributed.md): gradients are averaged over ranks in buckets
  // of about this many bytes (the first one smaller), each started as soon as backward
  // has completed its layers.
  int64_t bucket_bytes = int64_t{25} << 20;
  int64_t first_bucket_bytes = int64_t{1} << 20;
};

// OK, or InvalidArgument naming the first bad setting.
absl::Status ValidateConfig(const TrainConfig& config);

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  int64_t step = 0;   // optimizer steps completed
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;  // NaN without evaluation
  double images_per_second = 0;
  double seconds = 0;
  double data_seconds = 0, forward_seconds = 0, backward_seconds = 0, update_seconds = 0,
         eval_seconds = 0;
};

class Trainer {
 public:
  // Loads the data, builds the network and optimizer, and restores the checkpoint when
  // resuming. Start-up notes (network, workspace pool, spectra) go to `log`.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const TrainConfig& config,
                                                         Backend& backend,
                                                         comm::Communicator& communicator,
                                                         std::FILE* log = stderr);

  // Trains the remaining epochs; the metrics of each epoch run here. When a stop is
  // requested (set_stop_request), returns early and OK, with stopped_by() set: see there.
  absl::StatusOr<std::vector<EpochMetrics>> Run();

  // Where Run looks for a request to stop (SIGINT or SIGTERM, from a signal handler: the
  // signal's number, or 0). Read after each optimizer step. In a job of several ranks the
  // ranks agree on stopping (a host all-reduce every kStopCheckSteps steps, folded into the
  // metrics reduction on logging steps), so every rank stops after the same step even when
  // only one was signalled. Then the checkpoint is written (when configured; mid-epoch it
  // resumes exactly where training stopped), a "stop" event is logged and Run returns.
  void set_stop_request(const std::atomic<int>* signal) { stop_request_ = signal; }
  // 0, or the signal the run stopped for (SIGINT where any rank got one, else SIGTERM).
  int stopped_by() const { return stopped_by_; }
  // Steps between the ranks' agreements on stopping (every step with one rank).
  static constexpr int64_t kStopCheckSteps = 10;

  // Loss and accuracy over the test set (batches padded; padding not counted), each rank
  // evaluating every ranks-th batch, the sums reduced over ranks.
  absl::Status Evaluate(double* loss, double* accuracy);

  Network& network() { return *network_; }
  int64_t epochs_done() const { return epoch_; }
  int64_t steps_done() const { return step_; }
  // Parameters copied to the host.
  absl::StatusOr<std::vector<float>> Parameters();

  // Whether steps are captured and replayed as graphs (see TrainConfig::cuda_graphs), and
  // what they hold once captured: "a CUDA graph of 412 nodes" ("" before).
  bool uses_graphs() const { return use_graphs_; }
  std::string step_graph() const;

  // Milliseconds per training iteration (forward, loss, backward, update on one batch,
  // the device synchronised at the end), the median of `iterations` after `warmup`; with
  // graphs, the step is replayed as in training. Changes the parameters: for benchmarks.
  absl::StatusOr<double> TimeIterations(int64_t warmup, int64_t iterations);

 private:
  Trainer(TrainConfig config, Backend& backend, comm::Communicator& communicator,
          std::FILE* log)
      : config_(std::move(config)), backend_(backend), comm_(communicator), log_(log) {}

  // Rank 0's checks of the files the run writes (trainer/output_files.h), the policy for
  // an existing checkpoint, and the removal of its stale temporaries.
  absl::Status PrepareOutputsOnRankZero();
  absl::Status LoadData();
  // Every rank's configuration and data sizes against rank 0's.
  absl::Status CheckRanksAgree();
  // Rank 0 reads the checkpoint; every rank gets its state.
  absl::Status Restore();
  absl::Status RestoreOnRankZero(std::string* progress_text);
  // Rank 0's parameters (and momentum) on every rank.
  absl::Status BroadcastState();
  absl::Status SaveCheckpoint();
  absl::Status WriteCheckpointOnRankZero();
  // This rank's stop request as {SIGINT, SIGTERM} counts, for the ranks' sum.
  void AddStopRequest(double* sigint, double* sigterm) const;
  // A collective (every rank at the same point): whether any rank was asked to stop.
  absl::StatusOr<bool> AgreeOnStop();
  // Records the stop, writes the checkpoint, prints and logs where training stopped.
  absl::Status Stop(bool mid_epoch);
  // The network, on every rank with rank 0's choice of convolution methods.
  absl::Status BuildNetworkOnEveryRank();
  absl::Status BuildNetwork();
  // The optimizer, schedule, buffers and gradient buckets.
  absl::Status BuildTraining();
  void PrintStartup() const;
  JsonObject ConfigEvent() const;
  // Trains the rest of the current epoch (from the step the run is at: a checkpoint taken
  // mid-epoch resumes there). *stopped: the ranks agreed to stop before its end.
  absl::Status TrainEpoch(EpochMetrics* metrics, bool* stopped);
  // Marks around a step's phases (forward, backward, update) in the backend's stream.
  using PhaseMarks = std::array<std::unique_ptr<TimingMark>, 4>;
  // This rank's sums over the examples of one step.
  struct StepSums {
    double loss = 0;
    int64_t correct = 0;
  };
  // What the next report covers: sums {loss, correct, SIGINT, SIGTERM requests} over the
  // steps since the last one, and when they began.
  struct ReportWindow {
    double sums[4] = {0, 0, 0, 0};
    int64_t steps = 0;
    std::chrono::steady_clock::time_point start;
  };
  // The ranks' stop requests, {SIGINT, SIGTERM} counts.
  using StopRequests = std::array<double, 2>;
  // One step on this rank: its share of batch `step_in_epoch` of `order` loaded, forward,
  // loss, backward (gradients all-reduced), the update at `rate`; the phases' times added
  // to *metrics. Returns this rank's sums; a loss that is not finite is an error.
  absl::StatusOr<StepSums> TrainStep(const std::vector<int64_t>& order, int64_t step_in_epoch,
                                     float rate, EpochMetrics* metrics);
  // After step `step_in_epoch` of `steps` (a collective on logging steps and every
  // kStopCheckSteps steps): on logging steps the window is reduced over the ranks, logged
  // as a "step" event and restarted; the progress line on rank 0's terminal. Returns the
  // ranks' stop requests, the same on every rank (zeros where they were not compared).
  absl::StatusOr<StopRequests> ReportAndAgreeOnStop(int64_t step_in_epoch, int64_t steps,
                                                    float rate, bool show_progress,
                                                    ReportWindow& window);
  // Forward, loss, backward and the update at the rate LoadBatch put on the device, on
  // the loaded batch, with marks_ around the phases: enqueued, or captured.
  absl::Status EnqueueStep();
  // EnqueueStep's work: replayed where it was captured; captured and replayed at its
  // second run when graphs are used (the first warms up what runs once: NCCL's
  // connections, the libraries' lazy set-up); else enqueued.
  absl::Status RunStep();
  // Forward and loss of the loaded batch, likewise.
  absl::Status EnqueueEvaluation();
  absl::Status RunEvaluation();
  // Replays `graph`, or captures it from `enqueue` at the second run when graphs are
  // used, or enqueues; `runs` counts the calls. `what` names the work in errors.
  absl::Status RunCapturable(const char* what, std::unique_ptr<CapturedWork>& graph,
                             int64_t& runs, absl::Status (Trainer::*enqueue)());
  // Backward, each bucket's all-reduce started as soon as backward has completed its
  // layers; returns once they are all waited for (their results visible to what follows).
  absl::Status Backward();
  // Copies examples `indices` (padded with the last one up to a full batch) to the
  // device, with the learning rate of the step they are for (read by the update).
  absl::Status LoadBatch(const ImageDataset& data, const std::vector<int64_t>& indices,
                         float learning_rate = 0.0f);
  std::string ConfigText() const;

  TrainConfig config_;
  Backend& backend_;
  comm::Communicator& comm_;
  std::FILE* log_;
  NetworkSpec spec_;
  ImageDataset train_, test_;
  // Sizes and checksums of the loaded sets: what a resume and the ranks compare.
  std::string train_fingerprint_, test_fingerprint_;
  std::unique_ptr<Network> network_;
  std::unique_ptr<SgdOptimizer> optimizer_;
  LearningRateSchedule schedule_;
  // The batch's labels, then the step's learning rate (its float's bits): one copy for
  // both. Then per-example losses and whether each was classified right.
  Buffer labels_, loss_, correct_;
  const float* learning_rate_on_device_ = nullptr;  // in labels_, after the labels
  std::vector<float> host_images_;
  std::vector<int32_t> host_labels_;  // batch labels and the rate's bits, as labels_
  std::vector<float> host_loss_;       // a step's per-example losses, copied back
  std::vector<int32_t> host_correct_;  // and whether each was classified right
  // Draws each epoch's shuffle seed; checkpointed, so a resumed run sees the same order.
  std::mt19937_64 rng_;
  // rng_ before the current epoch drew its order: what a mid-epoch checkpoint saves, so
  // that the resumed run draws the same order.
  std::mt19937_64 epoch_rng_;
  bool mid_epoch_ = false;
  const std::atomic<int>* stop_request_ = nullptr;
  double stop_sigints_ = 0;  // ranks that asked to stop for SIGINT, when they agreed
  int stopped_by_ = 0;
  int64_t epoch_ = 0;
  int64_t step_ = 0;
  std::unique_ptr<JsonLinesWriter> jsonl_;
  std::unique_ptr<comm::BucketedAllReduce> buckets_;
  PhaseMarks marks_;  // recorded around every step's phases (in its graph too)
  bool use_graphs_ = false;
  std::string graphs_note_;  // why steps are or are not captured, for the start-up log
  std::unique_ptr<CapturedWork> step_graph_, evaluation_graph_;
  int64_t step_runs_ = 0, evaluation_runs_ = 0;
};

}  // namespace fftrain::trainer

#endif  // FFTRAIN_TRAINER_TRAINER_H_
