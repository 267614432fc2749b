#!/usr/bin/env bash
# Multi-rank training on the CPU under Open MPI, as a user runs it (docs/distributed.md):
#   1. mpi_training_test (every rank runs it) at 2 and 3 ranks: G ranks against one rank
#      with G times the batch, bitwise identical ranks, exact resume, refused differences;
#   2. the train binary: a rank killed with SIGKILL mid-epoch ends the job quickly,
#      non-zero, with mpirun's notice, and the last checkpoint resumes; ranks started
#      with different settings, or one failing at start-up, stop with the message; a bad
#      flag on one rank ends the job; SIGTERM to mpirun ends every rank; SIGTERM to one
#      rank stops every rank after the same step with a checkpoint that resumes.
# Usage: multirank_train_test.sh <mpi_training_test> <train>
set -uo pipefail
test_binary=$1
train=$2

# Open MPI under Bazel (root, containers, concurrent tests): see the sourced file.
source comm/testing/ompi_test_env.sh
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/multirank.XXXXXX") || exit 1
trap 'rm -rf "$ompi_dir" "$work"' EXIT
export OPENBLAS_NUM_THREADS=1

mpirun_=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
small=(--device=cpu --dataset=synthetic --network=conv3x6p1,relu,pool2,fc4
       --synthetic_shape=2x8x8 --synthetic_train=480 --synthetic_test=100 --batch_size=8
       --progress=false)

passed=0 failed=0
check() {  # check NAME CONDITION-RESULT(0 = pass) DETAILS
  if (( $2 == 0 )); then
    passed=$((passed + 1)); echo "ok: $1 ($3)"
  else
    failed=$((failed + 1)); echo "FAIL: $1 ($3)"
  fi
}

# 1. The in-process checks, every rank running them.
for ranks in 2 3; do
  out=$(timeout --kill-after=10 180 "${mpirun_[@]}" -np "$ranks" "$test_binary" 2>&1); rc=$?
  echo "$out" | grep -E "MPI ranks vs|ranks passed|FAILED|failure" | sed 's/^/    /'
  check "mpi_training_test at $ranks ranks" "$rc" "exit $rc"
done

# 2a. A rank killed mid-epoch. Long epochs (a bigger image) so that the kill lands
# inside one; a checkpoint after each.
ckpt=$work/killed.ckpt
long=(--device=cpu --dataset=synthetic --network=conv3x6p1,relu,pool2,fc4
      --synthetic_shape=2x16x16 --synthetic_train=4000 --synthetic_test=50 --batch_size=8
      --progress=false --epochs=100 --checkpoint="$ckpt" --collective_timeout_s=10)
"${mpirun_[@]}" -np 2 "$train" "${long[@]}" >"$work/killed.log" 2>&1 &
job=$!
for _ in $(seq 1 600); do [[ -s $ckpt ]] && break; sleep 0.1; done
sleep 0.3  # into the next epoch
# The newest process with the checkpoint in its command line that is not mpirun: a rank.
victim=$(pgrep -f -- "--checkpoint=$ckpt" | grep -vx "$job" | tail -n 1)
start=$(date +%s.%N)
kill -9 "$victim" 2>/dev/null
timeout 30 tail --pid="$job" -f /dev/null
wait "$job"; rc=$?
took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
left=$(pgrep -f -- "--checkpoint=$ckpt" | wc -l)
grep -q "exited on signal 9" "$work/killed.log"; notice=$?
ok=$(( rc == 0 || notice != 0 || left != 0 ))
ok=$(( ok || $(awk -v t="$took" 'BEGIN {print (t > 15)}') ))
check "a killed rank ends the job" "$ok" "exit $rc after ${took} s (deadline 10 s), ranks left $left"
# The same run, resumed for one more epoch than the checkpoint holds.
done_epochs=$(grep -oE '^epoch [0-9]+/100' "$work/killed.log" | tail -n 1 | cut -d' ' -f2 | cut -d/ -f1)
out=$(timeout 120 "${mpirun_[@]}" -np 2 "$train" "${long[@]}" --resume \
      --stop_after_epoch=$(( ${done_epochs:-0} + 1 )) 2>&1)
rc=$?
(( rc != 0 )) && echo "$out" | tail -n 5 | sed 's/^/    | /' 
echo "$out" | grep -E "resumed from|final" | sed 's/^/    /'
[[ $out == *"resumed from"* ]]; check "the last checkpoint resumes after the kill" $(( rc != 0 || $? != 0 )) "exit $rc"

# 2b. Ranks started with different settings (MPMD: rank 1 with another seed).
out=$(timeout 60 "${mpirun_[@]}" -np 1 "$train" "${small[@]}" --seed=1 : \
      -np 1 "$train" "${small[@]}" --seed=2 2>&1); rc=$?
[[ $out == *"rank 1 has seed=2 where rank 0 has seed=1"* ]]; m=$?
check "ranks that disagree are refused" $(( rc == 0 || m != 0 )) "exit $rc: $(echo "$out" | grep -m1 disagree)"

# 2c. One rank fails at start-up (its data is missing): every rank stops, with its reason.
out=$(timeout 60 "${mpirun_[@]}" -np 1 "$train" "${small[@]}" : \
      -np 1 "$train" "${small[@]/--dataset=synthetic/--dataset=fashion-mnist}" \
      --data_dir=/nonexistent/fmnist 2>&1); rc=$?
[[ $out == *"rank 1 failed"*"/nonexistent/fmnist"* ]]; m=$?
check "a start-up failure on one rank stops the job" $(( rc == 0 || m != 0 )) \
  "exit $rc: $(echo "$out" | grep -m1 'rank 1 failed' | cut -c1-120)"

# 2d. A bad flag on one rank ends that process before MPI starts; mpirun ends the job.
out=$(timeout 60 "${mpirun_[@]}" -np 1 "$train" "${small[@]}" : \
      -np 1 "$train" "${small[@]}" --epochs=0 2>&1); rc=$?
[[ $out == *"--epochs must be positive"* ]]; m=$?
check "a bad flag on one rank ends the job" $(( rc == 0 || m != 0 )) "exit $rc"

# 2e. SIGTERM to mpirun: every rank ends.
"${mpirun_[@]}" -np 2 "$train" "${long[@]/--checkpoint=*/--checkpoint=$work/term.ckpt}" \
  >"$work/term.log" 2>&1 &
job=$!
for _ in $(seq 1 600); do [[ -s $work/term.ckpt ]] && break; sleep 0.1; done
kill -TERM "$job"
timeout 30 tail --pid="$job" -f /dev/null
wait "$job"; rc=$?
sleep 0.5
left=$(pgrep -f -- "--checkpoint=$work/term.ckpt" | wc -l)
check "SIGTERM to mpirun ends every rank" $(( rc == 0 || left != 0 )) "exit $rc, ranks left $left"

# 2f. SIGTERM to one rank only (issue 17, defect 6): the ranks agree on stopping, so every
# rank stops after the same step, rank 0 writes the checkpoint and says where, every rank
# exits 143 (mpirun reports it); the checkpoint resumes on the same ranks.
ckpt=$work/one.ckpt
"${mpirun_[@]}" -np 2 "$train" "${long[@]/--checkpoint=*/--checkpoint=$ckpt}" \
  --log="$work/one.jsonl" --log_every_steps=25 >"$work/one.log" 2>&1 &
job=$!
for _ in $(seq 1 600); do grep -q '"event":"step"' "$work/one.jsonl" 2>/dev/null && break; sleep 0.1; done
victim=$(pgrep -f -- "--checkpoint=$ckpt" | grep -vx "$job" | tail -n 1)
kill -TERM "$victim" 2>/dev/null
timeout 30 tail --pid="$job" -f /dev/null
wait "$job"; rc=$?
left=$(pgrep -f -- "--checkpoint=$ckpt" | wc -l)
grep -q "stopped by SIGTERM at epoch 1/100" "$work/one.log"; said=$?
check "SIGTERM to one rank stops every rank after the same step" \
  $(( rc == 0 || said != 0 || left != 0 )) \
  "exit $rc, ranks left $left: $(grep -m1 'stopped by' "$work/one.log")"
out=$(timeout 120 "${mpirun_[@]}" -np 2 "$train" "${long[@]/--checkpoint=*/--checkpoint=$ckpt}" \
      --resume --stop_after_epoch=1 2>&1); rc=$?
[[ $out == *"resumed from $ckpt at epoch 1, step "* ]]
check "the stopped job's checkpoint resumes mid-epoch" $(( rc != 0 || $? != 0 )) \
  "exit $rc: $(echo "$out" | grep -m1 resumed)"

echo "${passed} passed, ${failed} failed"
(( failed == 0 ))
