#!/usr/bin/env bash
# Issue 17, defect 6: SIGINT and SIGTERM stop the train binary after the current step: it
# writes its checkpoint (mid-epoch), says where it stopped, exits 130 or 143, and --resume
# continues from there; the log reads as one run; stale temporaries of the checkpoint left
# by a killed writer are removed at start, and only those.
# Usage: train_signal_test.sh <train>
set -uo pipefail
# Job control: without it, background jobs of a script start with SIGINT ignored, and the
# trainer keeps an ignored signal ignored.
set -m
train=$1
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/train_signal.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
check() {  # check NAME STATUS(0 = pass) DETAILS
  if (( $2 == 0 )); then passed=$((passed + 1)); echo "ok: $1 ($3)"
  else failed=$((failed + 1)); echo "FAIL: $1 ($3)"; fi
}

# Long epochs (500 steps) so that the signal lands inside one.
long=(--device=cpu --dataset=synthetic --network=conv3x6p1,relu,pool2,fc4
      --synthetic_shape=2x16x16 --synthetic_train=4000 --synthetic_test=50 --batch_size=8
      --progress=false --epochs=100 --log_every_steps=25)

# Starts a run, waits until it has logged a step, sends SIGNAL; sets rc, took, out.
signal_run() {  # signal_run SIGNAL NAME flags...
  local signal=$1 name=$2; shift 2
  "$train" "${long[@]}" "$@" >"$work/$name.out" 2>&1 &
  local pid=$!
  for _ in $(seq 1 300); do grep -q '"event":"step"' "$work/$name.jsonl" 2>/dev/null && break; sleep 0.1; done
  local start; start=$(date +%s.%N)
  kill "-$signal" "$pid"
  timeout 30 tail --pid="$pid" -f /dev/null
  wait "$pid"; rc=$?
  took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
  out=$(cat "$work/$name.out")
}

ckpt=$work/int.ckpt
signal_run INT int --checkpoint="$ckpt" --log="$work/int.jsonl"
[[ $rc == 130 && $out == *"stopped by SIGINT at epoch 1/100, step "*"checkpoint written to $ckpt; --resume continues from there"* ]]
check "SIGINT stops after the step, writes the checkpoint and exits 130" $? \
  "exit $rc after $took s: $(echo "$out" | grep -m1 'stopped by')"
(( $(awk -v t="$took" 'BEGIN {print (t < 10)}') )); check "the stop takes under 10 s" $? "$took s"
stopped_step=$(grep -o '"event":"stop".*' "$work/int.jsonl" | grep -oE '"step":[0-9]+' | cut -d: -f2)

# A killed writer's temporary (its process is gone) goes; a live process's, and another
# checkpoint's, stay.
true & dead=$!; wait "$dead"
echo partial >"$ckpt.tmp.$dead"; echo live >"$ckpt.tmp.$$"; echo other >"$work/other.ckpt.tmp.$dead"
out=$(timeout 120 "$train" "${long[@]}" --checkpoint="$ckpt" --log="$work/int.jsonl" --resume \
      --stop_after_epoch=1 2>&1); rc=$?
[[ $rc == 0 && $out == *"resumed from $ckpt at epoch 1, step $stopped_step of 500"* ]]
check "--resume continues mid-epoch where the signal stopped it" $? \
  "exit $rc: $(echo "$out" | grep -m1 resumed)"
[[ ! -e $ckpt.tmp.$dead && -e $ckpt.tmp.$$ && -e $work/other.ckpt.tmp.$dead && $out == *"removed $ckpt.tmp.$dead"* ]]
check "a dead writer's temporary is removed at start, and only that one" $? \
  "$(ls "$work" | tr '\n' ' ')"
# One run in the log: the step events' steps strictly increase through the stop and resume.
steps=$(grep '"event":"step"' "$work/int.jsonl" | grep -oE '"step":[0-9]+' | cut -d: -f2)
sorted=$(echo "$steps" | sort -n -u)
[[ $steps == "$sorted" && $(grep -c '"event":"resume"' "$work/int.jsonl") == 1 ]]
check "the log reads as one run" $? "$(echo "$steps" | wc -l) step events, in order, once each"

signal_run TERM term --checkpoint="$work/term.ckpt" --log="$work/term.jsonl"
[[ $rc == 143 && $out == *"stopped by SIGTERM at epoch 1/100"* && -s $work/term.ckpt ]]
check "SIGTERM stops the same way and exits 143" $? "exit $rc after $took s"

signal_run INT none --log="$work/none.jsonl"
[[ $rc == 130 && $out == *"no checkpoint was written (no --checkpoint)"* ]]
check "without --checkpoint it says so" $? "exit $rc: $(echo "$out" | grep -m1 'stopped by')"

echo "${passed} passed, ${failed} failed"
(( failed == 0 ))
