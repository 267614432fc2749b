#!/usr/bin/env bash
# Multi-GPU checks and measurements of the GPU bundle, one rank per GPU under mpirun
# (docs/distributed.md). Copied to the bundle's root by tools/make_gpu_bundle.sh; run it
# there, on a machine with G >= 2 GPUs (one GPU: --allow-one, a smoke test of 1-rank
# variants, since NCCL refuses two ranks on one GPU):
#
#   gpu_bundle/run_multigpu.sh [--gpus G] [--out DIR] [--quick] [--allow-one]
#                              [--only LETTERS] [--budget SECONDS] [--tolerance X]
#                              [--work DIR] [--dry-run]
#
# Steps (each prints a header, what it measured and a PASS/FAIL line per check; the run
# ends with a summary of every check, the GPUs and "N passed, N failed, N skipped").
# Times are estimates for 8 H200s, not measurements:
#   a. multi-rank tests (~20 s): comm.mpi_communicator_test_bin and tests.mpi_training_test
#      (MPI on the CPU: bitwise identical ranks, G ranks = one rank with G times the batch)
#      under mpirun -np G; NCCL's all-reduce across G ranks checked element by element by
#      comm.allreduce_benchmark at 1 KiB..16 MiB, sum and average.
#   b. training correctness (~50 s): fmnist, G ranks x batch 32 against one rank x batch
#      32G (--tune=off on both: the same method on every layer), checkpoints compared by
#      tools.checkpoint_diff: after 5 steps the largest |a-b| <= --tolerance x largest |a|;
#      after 100 steps (where rounding differences have grown ~1e6-fold, see the step's
#      header) the epoch's training losses within 2%, the parameters reported. That every
#      rank holds the same parameters is not checked here: rank 0 alone writes
#      checkpoints; step a's mpi_training_test and CI (tests/) check it bitwise.
#   c. fmnist to the end, 15 epochs (~70 s; skipped with --quick): G ranks (global batch
#      128, 128/G per rank) and one GPU (batch 128); test accuracy (>= 90%) and wall time.
#   d. all-reduce bandwidth (~60 s): comm.allreduce_benchmark and bench/torch_allreduce.py
#      under mpirun -np G, 1 KiB..1 GiB, side by side (bench/compare_allreduce.py):
#      busbw per size and fftrain/PyTorch at >= 64 MiB.
#   e. weak scaling, paper128, batch 128 per GPU (~150 s): trainer.train
#      --benchmark_iterations=20 and bench/torch_ddp_paper128.py --baseline at 1, 2, 4, 8
#      ranks (those <= G), ms per iteration and efficiency t(1)/t(G)
#      (bench/weak_scaling_table.py); one rank with --communicator=nccl against =single
#      (the NCCL path's cost; issue 14: < 1%).
#   f. nodes emulated on one host (~60 s): NCCL_P2P_DISABLE=1, NCCL_SHM_DISABLE=1 and a
#      NCCL_HOSTID per rank: paper128 at G ranks and the all-reduce benchmark (to 256 MiB
#      with --quick, else 1 GiB), the transport NCCL chose, against step d and e's NVLink.
#   g. faults (~45 s): fmnist at G ranks with --checkpoint; once the first checkpoint
#      exists, kill -9 the newest rank; the job must end non-zero within 60 s with
#      mpirun's notice and no rank left; then resume on G ranks for one more epoch.
# --quick: about 6-7 minutes on 8 GPUs; without it about 8. --budget (default 570 s,
# 0: none) bounds the whole run: a run that would start with under 30 s left is skipped
# (counted as skipped) and every run's timeout is cut to what is left, so the summary
# always prints inside the budget. Every mpirun runs under `timeout`: a hang fails its
# check, not the whole run.
#
# Outputs: --out DIR (default $OUT when set, else ./multigpu_out) gets at most 6 files,
# since the device tool brings back at most 8: run_multigpu.log (the console, written as
# it goes, so a run cut short still leaves it), summary.txt, allreduce.md,
# weak_scaling.md, emulated_vs_nvlink.md and results.tar.gz, every file of the run (logs,
# JSON, tables, the commands in full; no checkpoints). The runs write in --work DIR
# (default a new /tmp/run_multigpu.XXXXXX, kept), one folder per step.
# NCCL_NVLS_ENABLE=0 is exported and passed to every rank (-x). --dry-run prints every
# command without running anything (no GPU needed). Exit status: 0 when nothing failed,
# 2 for bad arguments.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=$here/bin
bench=$here/bench
train=$bin/trainer.train
allreduce=$bin/comm.allreduce_benchmark
mpi_test=$bin/comm.mpi_communicator_test_bin
mpi_training_test=$bin/tests.mpi_training_test
checkpoint_diff=$bin/tools.checkpoint_diff

die() { echo "run_multigpu: $*" >&2; exit 2; }

gpus="" out="" work="" quick=0 allow_one=0 dry_run=0 only="" budget=570 tolerance=1e-4
while (( $# )); do
  case $1 in
    --gpus) (( $# >= 2 )) || die "--gpus needs a value"; gpus=$2; shift ;;
    --gpus=*) gpus=${1#*=} ;;
    --out) (( $# >= 2 )) || die "--out needs a value"; out=$2; shift ;;
    --out=*) out=${1#*=} ;;
    --work) (( $# >= 2 )) || die "--work needs a value"; work=$2; shift ;;
    --work=*) work=${1#*=} ;;
    --only) (( $# >= 2 )) || die "--only needs a value"; only=$2; shift ;;
    --only=*) only=${1#*=} ;;
    --budget) (( $# >= 2 )) || die "--budget needs a value"; budget=$2; shift ;;
    --budget=*) budget=${1#*=} ;;
    --tolerance) (( $# >= 2 )) || die "--tolerance needs a value"; tolerance=$2; shift ;;
    --tolerance=*) tolerance=${1#*=} ;;
    --quick) quick=1 ;;
    --allow-one) allow_one=1 ;;
    --dry-run|--dry_run) dry_run=1 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[[ -z $only || $only =~ ^[a-g]+$ ]] || die "--only takes step letters a..g, e.g. --only abd; got '$only'"
[[ $budget =~ ^[0-9]+$ ]] || die "--budget must be whole seconds (0: none), got '$budget'"
[[ $tolerance =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]] ||
  die "--tolerance must be a number, got '$tolerance'"

# --- GPUs ---
available=0 gpu_names="none"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  available=$(nvidia-smi -L | grep -c '^GPU ')
  gpu_names=$(nvidia-smi --query-gpu=name --format=csv,noheader | sort | uniq -c |
              awk '{n = $1; $1 = ""; sub(/^ /, ""); printf "%s%d x %s", sep, n, $0; sep = ", "}')
fi
if [[ -z $gpus ]]; then
  if (( available > 0 )); then
    gpus=$available
  elif (( dry_run )); then
    gpus=8
    echo "run_multigpu: dry run without GPUs: assuming --gpus 8"
  else
    die "no GPU found (nvidia-smi -L fails or lists none); give --gpus for a --dry-run"
  fi
fi
[[ $gpus =~ ^[1-9][0-9]*$ ]] || die "--gpus must be a positive number, got '$gpus'"
if (( !dry_run && gpus > available )); then
  die "--gpus $gpus but this machine has $available GPUs (one rank per GPU)"
fi
if (( gpus < 2 && !allow_one )); then
  die "G = $gpus: multi-rank NCCL needs at least 2 GPUs (NCCL refuses two ranks on one GPU)." \
      "--allow-one runs the 1-rank variants of every step, a smoke test of this runner."
fi
G=$gpus

# --- output and environment ---
out=${out:-${OUT:-./multigpu_out}}
mkdir -p "$out" || die "cannot create the output folder $out"
out=$(cd "$out" && pwd)
if [[ -n $work ]]; then
  mkdir -p "$work" || die "cannot create the work folder $work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/run_multigpu.XXXXXX") || die "cannot create a work folder"
fi
work=$(cd "$work" && pwd)
exec > >(tee -a "$out/run_multigpu.log") 2>&1
tee_pid=$!

export LD_LIBRARY_PATH="$here/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [[ -d $here/data/fashion-mnist ]]; then
  export FFTRAIN_FASHION_MNIST_DIR=${FFTRAIN_FASHION_MNIST_DIR:-$here/data/fashion-mnist}
fi
export FFTRAIN_FASHION_MNIST_DIR=${FFTRAIN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
# NVLink SHARP (multicast) stays off on these machines.
export NCCL_NVLS_ENABLE=0
# Open MPI: shared memory without cross-memory attach (containers often forbid ptrace),
# and session files in a private folder, so that no other job's collide with ours
# (comm/mpi_communicator_test.sh says more).
export OMPI_MCA_btl_vader_single_copy_mechanism=none
ompi_dir=$(mktemp -d /tmp/ompi-mg.XXXXXX) || die "mktemp failed"
export OMPI_MCA_orte_tmpdir_base=$ompi_dir OMPI_MCA_btl_vader_backing_directory=$ompi_dir
background=""
cleanup() {
  [[ -n $background ]] && kill -TERM "$background" 2>/dev/null
  rm -rf "$ompi_dir"
  # Let tee write the last lines before this script's caller reads them.
  exec >&- 2>&-
  wait "$tee_pid" 2>/dev/null
}
trap cleanup EXIT

launch=(mpirun --bind-to none -x NCCL_NVLS_ENABLE=0 -x LD_LIBRARY_PATH -x FFTRAIN_FASHION_MNIST_DIR)
(( $(id -u) == 0 )) && launch+=(--allow-run-as-root)
master_port=29500
next_port() { master_port=$((master_port + 1)); }

start_time=$SECONDS
remaining() { if (( budget > 0 )); then echo $((budget - (SECONDS - start_time))); else echo 999999; fi; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN {printf "%.1f", e - s}'; }

passed=0 failed=0 skipped=0 planned=0
summary=()
header() {
  echo
  echo "=== $1"
  current_step=${1%%.*}
}
check() {  # check NAME STATUS(0 pass, 1 fail, 2 skip) DETAILS
  local line
  if (( dry_run )); then
    planned=$((planned + 1)); line="DRY  $current_step: $1"
  elif (( $2 == 0 )); then
    passed=$((passed + 1)); line="PASS $current_step: $1${3:+ ($3)}"
  elif (( $2 == 2 )); then
    skipped=$((skipped + 1)); line="SKIP $current_step: $1${3:+ ($3)}"
  else
    failed=$((failed + 1)); line="FAIL $current_step: $1${3:+ ($3)}"
  fi
  echo "$line"
  summary+=("$line")
}
note() { (( dry_run )) && return; echo "  $*"; summary+=("     $current_step: $*"); }
quote() { printf '%q ' "$@" | sed 's/ $//'; }
# show TEXT: prints "+ TEXT" shortened (MPIRUN for the launcher, paths relative to the
# bundle and to OUT), and keeps TEXT itself in OUT/commands.txt.
show() {
  local text=$1
  echo "$text" >>"$work/commands.txt"
  text=${text//"$launch_text"/MPIRUN}
  text=${text//"$here/"/}
  text=${text//"$work/"/WORK/}
  echo "+ $text"
}

# run LOG LIMIT COMMAND...: runs COMMAND under timeout (LIMIT seconds, cut to the budget
# left), output to LOG; sets rc (124/137: timed out; 125: skipped for the budget) and secs.
rc=0 secs=0
run() {
  local log=$1 limit=$2
  shift 2
  local left
  left=$(remaining)
  if (( left - 10 < limit )); then limit=$((left - 10)); fi
  show "$(quote "$@") > $log"
  if (( dry_run )); then rc=0 secs=0; return 0; fi
  if (( limit < 30 )); then
    echo "  skipped: $(remaining) s of the --budget left"
    rc=125 secs=0; return 0
  fi
  local start
  start=$(now)
  timeout --kill-after=15 "$limit" "$@" </dev/null >"$log" 2>&1
  rc=$?
  secs=$(since "$start")
  if (( rc == 124 || rc == 137 )); then
    echo "  TIMED OUT after ${secs} s (limit ${limit} s): a hang? log: $log"
  fi
  return 0
}
# verdict NAME OK DETAILS: a check from the last run's rc; OK is 0 when its output was
# right too. Shows the log's tail on failure.
verdict() {
  local name=$1 ok=$2 details=$3 log=${4:-}
  if (( rc == 125 )); then check "$name" 2 "budget"; return; fi
  if (( rc == 0 && ok == 0 )); then
    check "$name" 0 "$details"
  else
    check "$name" 1 "exit $rc; $details"
    [[ -n $log && -f $log ]] && tail -n 15 "$log" | sed 's/^/    | /'
  fi
}
want() { [[ -z $only ]] || [[ $only == *"$1"* ]]; }
ms_of() { grep -oE '[0-9.]+ ms per training iteration' "$1" 2>/dev/null | tail -n 1 | cut -d' ' -f1; }
regex_escape() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g'; }
# ranks_of PATTERN [JOB]: the pids of the processes whose command line matches PATTERN,
# oldest first, leaving out JOB (the `timeout` that started mpirun) and its children
# (mpirun), whose command lines hold the rank's as well.
ranks_of() {
  local pattern=$1 job=${2:-} pids=() pid exclude=" "
  [[ -n $job ]] && exclude=" $job $(pgrep -P "$job" | tr '\n' ' ') "
  for pid in $(pgrep -f -- "$pattern"); do
    [[ $exclude == *" $pid "* ]] || pids+=("$pid")
  done
  (( ${#pids[@]} )) || return 0
  local IFS=,
  ps -o pid= --sort=start_time -p "${pids[*]}" | tr -d ' '
}

echo "run_multigpu: G = $G ranks (one per GPU); GPUs: $gpu_names; bundle commit" \
     "$(cat "$here/COMMIT" 2>/dev/null || echo unknown); $( ((quick)) && echo quick || echo full)" \
     "run; budget $budget s; console log and results in $out, run files in $work"
(( G == 1 )) && echo "run_multigpu: --allow-one: every step runs its 1-rank variant (no traffic between GPUs)"
launch_text=$(quote "${launch[@]}")
echo "run_multigpu: commands below run in $(pwd), with MPIRUN = $launch_text, paths relative" \
     "to the bundle $here and WORK = $work; WORK/commands.txt has them in full"
: >"$work/commands.txt"
if (( !dry_run )) && (( available > 0 )); then
  nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv >"$work/gpus.txt" 2>&1
  nvidia-smi topo -m >"$work/topology.txt" 2>&1
fi
for f in "$train" "$allreduce" "$mpi_test" "$mpi_training_test" "$checkpoint_diff" \
         "$bench/torch_allreduce.py" "$bench/torch_ddp_paper128.py" "$bench/torch_paper128.py" \
         "$bench/compare_allreduce.py" "$bench/weak_scaling_table.py"; do
  [[ -e $f ]] || echo "run_multigpu: warning: $f is missing (rebuild the bundle): its checks will fail"
done

# fmnist's per-rank batch for "the same model as one GPU with batch 128" (tools/train.sh).
if (( 128 % G == 0 )); then fmnist_batch=$((128 / G)); else fmnist_batch=16; fi
paper128=(--network=paper128 --dataset=synthetic --synthetic_test=0 --batch_size=128
          --benchmark_iterations=20 --progress=false)

# ---------------------------------------------------------------------------------------
step_a() {
  header "a. multi-rank tests: MPI communicator, MPI training (CPU), NCCL all-reduce at $G ranks"
  local d=$work/a
  mkdir -p "$d/tmp"
  run "$d/mpi_communicator_test.log" 120 "${launch[@]}" -np "$G" "$mpi_test" \
    --expected_ranks="$G" --expect_mpirun=yes --gtest_color=no
  verdict "mpi_communicator_test_bin at $G ranks" 0 \
    "$(grep -E '^\[  (PASSED|FAILED)  \]' "$d/mpi_communicator_test.log" 2>/dev/null | head -n 1)" \
    "$d/mpi_communicator_test.log"

  run "$d/mpi_training_test.log" 180 "${launch[@]}" -np "$G" -x OPENBLAS_NUM_THREADS=1 \
    -x TEST_TMPDIR="$d/tmp" "$mpi_training_test" --gtest_color=no
  verdict "mpi_training_test at $G ranks (CPU)" 0 \
    "$(grep -m1 -E 'MPI ranks vs' "$d/mpi_training_test.log" 2>/dev/null)" "$d/mpi_training_test.log"

  local op
  for op in sum average; do
    run "$d/allreduce_$op.log" 120 "${launch[@]}" -np "$G" "$allreduce" --min_bytes 1K \
      --max_bytes 16M --iters 5 --warmup 2 --op "$op"
    local wrong=0
    grep -q 'WRONG' "$d/allreduce_$op.log" 2>/dev/null && wrong=1
    verdict "NCCL all-reduce ($op) checked at $G ranks, 1 KiB..16 MiB" "$wrong" \
      "$(grep -m1 -oE 'NCCL [0-9.]+' "$d/allreduce_$op.log" 2>/dev/null)" "$d/allreduce_$op.log"
  done
}

# ---------------------------------------------------------------------------------------
step_b() {
  local b=32
  while (( b > 1 && 100 * G * b > 60000 )); do b=$((b / 2)); done
  local global=$((G * b))
  header "b. training correctness: fmnist, $G ranks x batch $b against 1 rank x batch $global, 5 and 100 steps"
  echo "  Rounding differences (the order of the sums) grow about x10 every 5-8 steps: on the CPU"
  echo "  (2 MPI ranks) 8e-9 of the largest parameter after 1 step, 8e-8 after 5, 2e-5 after 20,"
  echo "  7e-4 after 50, 1e-2 after 100. So the parameters are held to --tolerance after 5 steps,"
  echo "  and after 100 the training losses must agree within 2% (the parameters are reported)."
  local d=$work/b
  mkdir -p "$d"
  local steps
  for steps in 5 100; do
    rm -f "$d/ranks_$steps.ckpt" "$d/one_$steps.ckpt"
    local common=(--network=fmnist --epochs=1 --train_limit=$((steps * global)) --evaluate=false
                  --progress=false --tune=off)
    run "$d/ranks_$steps.log" 240 "${launch[@]}" -np "$G" "$train" "${common[@]}" \
      --batch_size="$b" --checkpoint="$d/ranks_$steps.ckpt" --log="$d/ranks_$steps.jsonl"
    grep -m1 -E '^epoch 1/1' "$d/ranks_$steps.log" 2>/dev/null | sed "s/^/  $G ranks: /"
    verdict "$G ranks x batch $b, $steps steps" 0 "${secs} s" "$d/ranks_$steps.log"
    run "$d/one_$steps.log" 240 "$train" "${common[@]}" --communicator=single \
      --batch_size="$global" --checkpoint="$d/one_$steps.ckpt" --log="$d/one_$steps.jsonl"
    grep -m1 -E '^epoch 1/1' "$d/one_$steps.log" 2>/dev/null | sed "s/^/  1 rank:  /"
    verdict "1 rank x batch $global, $steps steps" 0 "${secs} s" "$d/one_$steps.log"
    run "$d/checkpoint_diff_$steps.log" 60 "$checkpoint_diff" --tolerance="$tolerance" \
      "$d/one_$steps.ckpt" "$d/ranks_$steps.ckpt"
    grep -E '^(max|  at|within|ABOVE|not comparable)' "$d/checkpoint_diff_$steps.log" 2>/dev/null |
      sed 's/^/  /'
    local difference
    difference=$(grep -m1 '^max |a-b|' "$d/checkpoint_diff_$steps.log" 2>/dev/null)
    if (( steps == 5 )); then
      verdict "same parameters after 5 steps (tolerance $tolerance of the largest)" 0 \
        "$difference" "$d/checkpoint_diff_$steps.log"
      continue
    fi
    # After 100 steps: the same training, judged by its loss; checkpoint_diff's verdict
    # (exit 1 above the tolerance) is for the record.
    (( rc == 1 )) && grep -q '^ABOVE' "$d/checkpoint_diff_$steps.log" && rc=0
    local loss_ranks loss_one ok
    loss_ranks=$(grep -m1 -oE '^epoch 1/1: train loss [0-9.]+' "$d/ranks_$steps.log" 2>/dev/null |
                 grep -oE '[0-9.]+$')
    loss_one=$(grep -m1 -oE '^epoch 1/1: train loss [0-9.]+' "$d/one_$steps.log" 2>/dev/null |
               grep -oE '[0-9.]+$')
    ok=$(awk -v a="${loss_ranks:-0}" -v b="${loss_one:-0}" \
         'BEGIN {d = a - b; if (d < 0) d = -d; print (b > 0 && d <= 0.02 * b) ? 0 : 1}')
    (( dry_run )) && ok=0
    verdict "the same training after 100 steps: train loss $G ranks ${loss_ranks:-?}, 1 rank ${loss_one:-?} (within 2%)" \
      "$ok" "$difference" "$d/checkpoint_diff_$steps.log"
  done
}

# ---------------------------------------------------------------------------------------
accuracy_of() { grep -oE 'final test accuracy: [0-9.]+' "$1" 2>/dev/null | grep -oE '[0-9.]+$'; }
step_c() {
  header "c. fmnist, 15 epochs: $G ranks (batch $fmnist_batch per rank) and 1 GPU (batch 128)"
  local d=$work/c
  mkdir -p "$d"
  local fmnist=(--network=fmnist --epochs=15 --progress=false)
  local acc ok
  if (( G > 1 )); then
    run "$d/ranks.log" 300 "${launch[@]}" -np "$G" "$train" "${fmnist[@]}" \
      --batch_size="$fmnist_batch" --log="$d/ranks.jsonl"
    acc=$(accuracy_of "$d/ranks.log")
    ok=$(awk -v a="${acc:-0}" 'BEGIN {print (a >= 90) ? 0 : 1}')
    note "$G GPUs: test accuracy ${acc:-?}%, ${secs} s wall (mpirun start to end)"
    verdict "fmnist 15 epochs on $G GPUs reaches >= 90%" "$ok" "${acc:-?}%, ${secs} s" "$d/ranks.log"
  fi
  run "$d/one.log" 300 "$train" "${fmnist[@]}" --communicator=single --batch_size=128 \
    --log="$d/one.jsonl"
  acc=$(accuracy_of "$d/one.log")
  ok=$(awk -v a="${acc:-0}" 'BEGIN {print (a >= 90) ? 0 : 1}')
  note "1 GPU: test accuracy ${acc:-?}%, ${secs} s wall"
  verdict "fmnist 15 epochs on 1 GPU reaches >= 90%" "$ok" "${acc:-?}%, ${secs} s" "$d/one.log"
}

# ---------------------------------------------------------------------------------------
step_d() {
  header "d. all-reduce busbw at $G ranks, 1 KiB..1 GiB: fftrain (NcclCommunicator) and PyTorch"
  local d=$work/d
  mkdir -p "$d"
  rm -f "$d/fftrain_allreduce.json" "$d/torch_allreduce.json"
  run "$d/fftrain_allreduce.log" 240 "${launch[@]}" -np "$G" "$allreduce" --min_bytes 1K \
    --max_bytes 1G --json "$d/fftrain_allreduce.json"
  verdict "fftrain all-reduce benchmark, 1 KiB..1 GiB, sums checked" 0 "${secs} s" \
    "$d/fftrain_allreduce.log"
  next_port
  run "$d/torch_allreduce.log" 300 "${launch[@]}" -np "$G" -x MASTER_PORT="$master_port" \
    python3 "$bench/torch_allreduce.py" --min_bytes 1K --max_bytes 1G \
    --json "$d/torch_allreduce.json"
  verdict "PyTorch all-reduce (torch_allreduce.py), 1 KiB..1 GiB" 0 "${secs} s" \
    "$d/torch_allreduce.log"
  show "python3 $bench/compare_allreduce.py $d/fftrain_allreduce.json $d/torch_allreduce.json"
  (( dry_run )) && return
  if [[ -s $d/fftrain_allreduce.json && -s $d/torch_allreduce.json ]]; then
    python3 "$bench/compare_allreduce.py" "$d/fftrain_allreduce.json" "$d/torch_allreduce.json" \
      --markdown "$d/allreduce.md" >"$d/allreduce.txt" 2>&1
    sed 's/^/  /' "$d/allreduce.txt"
    local line
    line=$(grep -m1 '^at >=' "$d/allreduce.txt")
    [[ -n $line ]] && summary+=("     d: $line")
  elif [[ -s $d/fftrain_allreduce.json ]]; then
    grep -E '^(#|  )' "$d/fftrain_allreduce.log" | sed 's/^/  /'
  fi
}

# ---------------------------------------------------------------------------------------
step_e() {
  local counts=() r
  for r in 1 2 4 8; do (( r <= G )) && counts+=("$r"); done
  [[ " ${counts[*]} " == *" $G "* ]] || counts+=("$G")
  header "e. weak scaling, paper128, batch 128 per GPU, at ${counts[*]} ranks: fftrain and PyTorch DDP"
  local d=$work/e
  mkdir -p "$d"
  # One tuning (rank 0 measures at the first run) for every run: the same methods.
  local cache=$d/tuner_cache.txt
  local table_args=() ms single="" nccl=""
  for r in "${counts[@]}"; do
    run "$d/fftrain_$r.log" 240 "${launch[@]}" -np "$r" "$train" "${paper128[@]}" \
      --synthetic_train=$((128 * r)) --tuner_cache="$cache"
    ms=$(ms_of "$d/fftrain_$r.log")
    verdict "fftrain paper128 at $r ranks" "$([[ -n $ms ]] || (( dry_run )); echo $?)" \
      "${ms:-?} ms/iteration" "$d/fftrain_$r.log"
    [[ -n $ms ]] && table_args+=(--fftrain "$r=$ms")
    if (( r == 1 )); then
      local comm
      for comm in single nccl; do
        run "$d/fftrain_1_$comm.log" 240 "$train" "${paper128[@]}" --synthetic_train=128 \
          --tuner_cache="$cache" --communicator="$comm"
        ms=$(ms_of "$d/fftrain_1_$comm.log")
        verdict "fftrain paper128, 1 rank, --communicator=$comm" \
          "$([[ -n $ms ]] || (( dry_run )); echo $?)" "${ms:-?} ms/iteration" \
          "$d/fftrain_1_$comm.log"
        [[ $comm == single ]] && single=$ms || nccl=$ms
      done
    fi
  done
  for r in "${counts[@]}"; do
    next_port
    rm -f "$d/torch_$r.json"
    run "$d/torch_$r.log" 300 "${launch[@]}" -np "$r" -x MASTER_PORT="$master_port" \
      python3 "$bench/torch_ddp_paper128.py" --network paper128 --baseline --iterations 20 \
      --json "$d/torch_$r.json"
    verdict "PyTorch DDP paper128 at $r ranks" 0 \
      "$(grep -m1 -oE '^ddp paper128: .* ms per iteration' "$d/torch_$r.log" 2>/dev/null |
         grep -oE '[0-9.]+ ms per iteration')" "$d/torch_$r.log"
    [[ -s $d/torch_$r.json ]] && table_args+=(--torch "$r=$d/torch_$r.json")
  done
  [[ -n $single ]] && table_args+=(--single "$single")
  [[ -n $nccl ]] && table_args+=(--nccl "$nccl")
  if (( dry_run )); then
    show "python3 $bench/weak_scaling_table.py --fftrain RANKS=MS... --torch RANKS=JSON... --single MS --nccl MS --markdown $d/weak_scaling.md"
    return
  fi
  show "python3 $bench/weak_scaling_table.py $(quote "${table_args[@]}")"
  if (( ${#table_args[@]} )); then
    python3 "$bench/weak_scaling_table.py" "${table_args[@]}" --markdown "$d/weak_scaling.md" \
      >"$d/weak_scaling.txt" 2>&1
    sed 's/^/  /' "$d/weak_scaling.txt"
    local row
    while read -r row; do summary+=("     e: $row"); done < <(grep -E '^ *[0-9]+ |^one rank' "$d/weak_scaling.txt")
  fi
}

# ---------------------------------------------------------------------------------------
step_f() {
  local max=1G iters=20 warmup=5
  (( quick )) && max=256M iters=10 warmup=2
  header "f. $G nodes emulated on one host (no P2P, no SHM, a NCCL_HOSTID per rank): paper128 and all-reduce"
  local d=$work/f
  mkdir -p "$d"
  rm -f "$d/emulated_allreduce.json"
  local emulate=(-x NCCL_P2P_DISABLE=1 -x NCCL_SHM_DISABLE=1)
  # shellcheck disable=SC2016  # expanded by each rank's bash
  local wrap=(bash -c 'NCCL_HOSTID=fftrain-node-$OMPI_COMM_WORLD_RANK exec "$0" "$@"')
  # Step e's tuning when it ran (the same methods as its NVLink times), else our own.
  local cache=$d/tuner_cache.txt
  [[ -s $work/e/tuner_cache.txt ]] && cache=$work/e/tuner_cache.txt
  run "$d/paper128.log" 300 "${launch[@]}" -np "$G" "${emulate[@]}" "${wrap[@]}" "$train" \
    "${paper128[@]}" --synthetic_train=$((128 * G)) --tuner_cache="$cache"
  local ms nvlink
  ms=$(ms_of "$d/paper128.log")
  nvlink=$(ms_of "$work/e/fftrain_$G.log")
  verdict "fftrain paper128 at $G emulated nodes" "$([[ -n $ms ]] || (( dry_run )); echo $?)" \
    "${ms:-?} ms/iteration; NVLink (step e) ${nvlink:-?} ms" "$d/paper128.log"
  run "$d/emulated_allreduce.log" 300 "${launch[@]}" -np "$G" "${emulate[@]}" \
    -x NCCL_DEBUG=INFO -x NCCL_DEBUG_SUBSYS=INIT,NET "${wrap[@]}" "$allreduce" \
    --min_bytes 1K --max_bytes "$max" --iters "$iters" --warmup "$warmup" \
    --json "$d/emulated_allreduce.json"
  local transports
  transports=$(grep -oE 'via (NET/[A-Za-z0-9_]+|P2P[A-Za-z0-9/_]*|SHM[A-Za-z0-9/_]*)' \
               "$d/emulated_allreduce.log" 2>/dev/null | sort | uniq -c |
               awk '{printf "%s%s x%d", sep, $3, $1; sep = ", "}')
  local network
  network=$(grep -m1 -oE 'Using network [A-Za-z0-9_]+' "$d/emulated_allreduce.log" 2>/dev/null)
  verdict "fftrain all-reduce at $G emulated nodes, 1 KiB..$max, sums checked" 0 \
    "${network:-network not reported}; channels: ${transports:-none reported}" \
    "$d/emulated_allreduce.log"
  show "python3 $bench/compare_allreduce.py $d/emulated_allreduce.json $work/d/fftrain_allreduce.json"
  (( dry_run )) && return
  if [[ -s $d/emulated_allreduce.json && -s $work/d/fftrain_allreduce.json ]]; then
    python3 "$bench/compare_allreduce.py" "$d/emulated_allreduce.json" \
      "$work/d/fftrain_allreduce.json" --names "emulated" "NVLink" \
      --markdown "$d/emulated_vs_nvlink.md" >"$d/emulated_vs_nvlink.txt" 2>&1
    sed 's/^/  /' "$d/emulated_vs_nvlink.txt"
    local line
    line=$(grep -m1 '^at >=' "$d/emulated_vs_nvlink.txt")
    [[ -n $line ]] && summary+=("     f: $line")
  elif [[ -s $d/emulated_allreduce.json ]]; then
    grep -E '^(# fftrain|  )' "$d/emulated_allreduce.log" | sed 's/^/  /'
  fi
}

# ---------------------------------------------------------------------------------------
step_g() {
  header "g. faults: kill -9 one of $G ranks training fmnist, then resume from the checkpoint"
  local d=$work/g
  mkdir -p "$d"
  local ckpt=$d/fault.ckpt
  rm -f "$ckpt"
  local args=(--network=fmnist --epochs=15 --batch_size="$fmnist_batch" --progress=false
              --checkpoint="$ckpt" --collective_timeout_s=30)
  local limit=180
  local left
  left=$(remaining)
  (( left - 10 < limit )) && limit=$((left - 10))
  show "$(quote "${launch[@]}" -np "$G" "$train" "${args[@]}") > $d/killed.log &"
  show "(once $ckpt exists) kill -9 <the newest process of: pgrep -f '$train .*--checkpoint=$ckpt', less timeout and mpirun>"
  if (( dry_run )); then
    check "a killed rank ends the job non-zero within 60 s, no rank left" 0
  elif (( limit < 60 )); then
    check "a killed rank ends the job" 2 "budget"
    check "the checkpoint resumes on $G ranks" 2 "budget"
    return
  else
    timeout --kill-after=15 "$limit" "${launch[@]}" -np "$G" "$train" "${args[@]}" \
      </dev/null >"$d/killed.log" 2>&1 &
    background=$!
    local i
    for (( i = 0; i < 1200; i++ )); do
      [[ -s $ckpt ]] && break
      kill -0 "$background" 2>/dev/null || break
      sleep 0.1
    done
    sleep 0.3  # into the next epoch
    local pattern victim=""
    pattern="$(regex_escape "$train") .*--checkpoint=$(regex_escape "$ckpt")"
    [[ -s $ckpt ]] && victim=$(ranks_of "$pattern" "$background" | tail -n 1)
    if [[ -z $victim ]]; then
      kill -TERM "$background" 2>/dev/null
      wait "$background"; rc=$?
      background=""
      check "a killed rank ends the job" 1 \
        "no checkpoint or no rank to kill (job exit $rc); log: $d/killed.log"
      tail -n 15 "$d/killed.log" | sed 's/^/    | /'
      check "the checkpoint resumes on $G ranks" 1 "nothing to resume"
      return
    fi
    local start
    start=$(now)
    kill -9 "$victim"
    wait "$background"; rc=$?
    background=""
    local took left_ranks notice
    took=$(since "$start")
    sleep 1
    left_ranks=$(ranks_of "$pattern" | wc -l)
    notice=$(grep -m1 -E 'exited on signal 9' "$d/killed.log" ||
             grep -m1 -E 'signal 9|Killed' "$d/killed.log")
    note "killed pid $victim (the newest of $G ranks) once $(basename "$ckpt") existed;" \
         "mpirun exited $rc after ${took} s; ranks left: $left_ranks"
    [[ -n $notice ]] && echo "  message: $notice"
    local bad
    bad=$(awk -v rc="$rc" -v t="$took" -v l="$left_ranks" -v n="${#notice}" \
          'BEGIN {print (rc != 0 && rc != 124 && t <= 60 && l == 0 && n > 0) ? 0 : 1}')
    check "a killed rank ends the job non-zero within 60 s, no rank left" "$bad" \
      "exit $rc after ${took} s"
    (( bad )) && tail -n 15 "$d/killed.log" | sed 's/^/    | /'
  fi

  # One more epoch than the checkpoint holds. Its epoch from the file; failing that, from
  # the log, which may lag the file by one (the line follows the checkpoint): then two.
  local epoch=0 stop=1
  if (( !dry_run )); then
    epoch=$("$checkpoint_diff" "$ckpt" 2>/dev/null | grep -oE 'epoch [0-9]+' | head -n 1 |
            cut -d' ' -f2)
    if [[ -n $epoch ]]; then
      stop=$((epoch + 1))
    else
      epoch=$(grep -oE '^epoch [0-9]+/' "$d/killed.log" | tail -n 1 | grep -oE '[0-9]+')
      stop=$((${epoch:-0} + 2))
      echo "  (tools.checkpoint_diff could not read $ckpt: stopping after epoch $stop)"
    fi
  fi
  run "$d/resume.log" 180 "${launch[@]}" -np "$G" "$train" "${args[@]}" --resume \
    --stop_after_epoch="$stop"
  local from="" resumed=1
  from=$(grep -m1 -oE 'resumed from .* after epoch [0-9]+' "$d/resume.log" 2>/dev/null |
         grep -oE '[0-9]+$')
  [[ -n $from ]] && grep -qE "^epoch $((from + 1))/15" "$d/resume.log" && resumed=0
  (( dry_run )) && resumed=0
  grep -m1 -E "^epoch $((${from:-0} + 1))/15" "$d/resume.log" 2>/dev/null | sed 's/^/  /'
  verdict "the checkpoint resumes on $G ranks for one more epoch" "$resumed" \
    "from epoch ${from:-?}; ${secs} s" "$d/resume.log"
}

for step in a b c d e f g; do
  want "$step" || continue
  if [[ $step == c ]] && (( quick )) && [[ $only != *c* ]]; then
    current_step=c
    echo
    echo "=== c. fmnist, 15 epochs: skipped (--quick)"
    summary+=("     c: skipped (--quick)")
    continue
  fi
  "step_$step"
done

# OUT gets a handful of files (the device tool brings back at most 8): this console log,
# the summary, the three tables, and every run file (logs, JSON, tables, commands; no
# checkpoints) in results.tar.gz.
totals="${passed} passed, ${failed} failed, ${skipped} skipped"
if (( !dry_run )); then
  {
    printf '%s\n' "${summary[@]}"
    echo "GPUs: $gpu_names; G = $G; bundle commit $(cat "$here/COMMIT" 2>/dev/null || echo unknown)"
    echo "$totals"
  } >"$out/summary.txt"
  for table in d/allreduce.md e/weak_scaling.md f/emulated_vs_nvlink.md; do
    [[ -s $work/$table ]] && cp "$work/$table" "$out/"
  done
  tar -czf "$out/results.tar.gz" -C "$work" --exclude='*.ckpt' --exclude='*.ckpt.tmp*' . ||
    echo "run_multigpu: could not pack $work into $out/results.tar.gz"
fi

echo
echo "=== summary ($((SECONDS - start_time)) s; in $out: run_multigpu.log, summary.txt," \
     "results.tar.gz (every run file of $work), the tables)"
printf '%s\n' "${summary[@]}"
echo "GPUs: $gpu_names; G = $G; bundle commit $(cat "$here/COMMIT" 2>/dev/null || echo unknown)"
if (( dry_run )); then
  echo "dry run: $planned checks planned, nothing run"
  exit 0
fi
echo "$totals"
(( failed == 0 ))
