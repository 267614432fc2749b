#!/usr/bin/env bash
# Kills the trainer with SIGKILL at random moments, many times, each run resuming from the
# checkpoint the killed one left: every checkpoint must load and resume (atomic writes), a
# kill that lands mid-save leaves a temporary that the next start removes, and the log
# still reads as one run (issue 17: "a test that kills the trainer at random moments").
# Usage: kill_resume_test.sh <train> [kills]
set -uo pipefail
train=$1
kills=${2:-20}
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/kill_resume.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
ckpt=$work/run.ckpt
# Short epochs (50 steps) so that checkpoints come often, and a 1.7 MB checkpoint (a wide
# fully connected layer) so that a save takes long enough to be hit.
args=(--device=cpu --dataset=synthetic --network=conv3x6p1,relu,pool2,fc1000,relu,fc4
      --synthetic_shape=2x12x12 --synthetic_train=400 --synthetic_test=40 --batch_size=8
      --progress=false --epochs=100000 --log_every_steps=10 --checkpoint="$ckpt"
      --log="$work/run.jsonl")
RANDOM=${FFTRAIN_KILL_SEED:-17}
echo "seed ${FFTRAIN_KILL_SEED:-17}, $kills kills"
failures=0 resumed=0 mid_save=0 removed=0
for ((i = 1; i <= kills; i++)); do
  resume=(); [[ -e $ckpt ]] && resume=(--resume)
  "$train" "${args[@]}" "${resume[@]}" >"$work/out.$i" 2>&1 &
  pid=$!
  if (( i % 2 )); then
    sleep "0.$(( 300 + RANDOM % 700 ))"  # 0.3 to 1.0 s: start-up, then a few epochs
  else
    # Aim at a save: wait until this run's temporary appears (the first, second or third).
    skip=$(( RANDOM % 3 )) deadline=$(( SECONDS + 10 ))
    while (( SECONDS < deadline )); do
      if [[ -e $ckpt.tmp.$pid ]]; then
        (( skip-- == 0 )) && break
        while [[ -e $ckpt.tmp.$pid ]] && (( SECONDS < deadline )); do :; done
      fi
    done
  fi
  kill -KILL "$pid" 2>/dev/null
  wait "$pid"; rc=$?
  grep -q "^removed $ckpt.tmp" "$work/out.$i" && removed=$((removed + 1))
  [[ -e $ckpt.tmp.$pid ]] && mid_save=$((mid_save + 1))
  if (( rc != 137 )); then
    echo "FAIL: run $i ended by itself (exit $rc) before the kill:"; tail -n 3 "$work/out.$i"
    failures=$((failures + 1))
  elif (( ${#resume[@]} )); then
    resumed=$((resumed + 1))
  fi
done
# The last checkpoint resumes for one more epoch, and nothing stale is left.
epochs=$(grep -oE '"event":"epoch","epoch":[0-9]+' "$work/run.jsonl" | tail -n 1 | grep -oE '[0-9]+$')
out=$(timeout 120 "$train" "${args[@]}" --resume --stop_after_epoch=$(( ${epochs:-0} + 1 )) 2>&1); rc=$?
if (( rc != 0 )) || [[ $out != *"resumed from $ckpt"* ]]; then
  echo "FAIL: the last checkpoint did not resume (exit $rc):"; echo "$out" | tail -n 3
  failures=$((failures + 1))
fi
if ls "$ckpt".tmp.* >/dev/null 2>&1; then
  echo "FAIL: temporaries left: $(ls "$ckpt".tmp.*)"; failures=$((failures + 1))
fi
steps=$(grep '"event":"step"' "$work/run.jsonl" | grep -oE '"step":[0-9]+' | cut -d: -f2)
if [[ $steps != "$(echo "$steps" | sort -n -u)" ]]; then
  echo "FAIL: the log repeats or reorders steps"; failures=$((failures + 1))
fi
echo "$kills kills, $resumed runs resumed from the previous one's checkpoint, $mid_save kills left a temporary (mid-save), $removed starts removed one; $(echo "$steps" | wc -l) step events; last epoch $epochs"
echo "$(( failures == 0 ? 1 : 0 )) passed, $(( failures == 0 ? 0 : 1 )) failed"
(( failures == 0 ))
