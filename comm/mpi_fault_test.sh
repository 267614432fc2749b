#!/usr/bin/env bash
# A rank lost mid-job must end the job, non-zero and quickly, and leave no rank behind.
# Runs mpi_fault_probe (all-reduces in a loop, 3 s timeout) four ways:
# - rank 1 killed by SIGKILL, at 2 and 3 ranks: mpirun notices the death and kills the
#   others itself (Open MPI's default), usually before any deadline;
# - rank 1 killed while mpirun is told to keep the job going (--enable-recovery), and
#   rank 1 stalled (alive, no longer calling): nothing but the survivors' deadline ends
#   the job (Open MPI's shared-memory transport does not report a dead peer as an error).
# For each it prints how long the job took to end, after the fault and in all, and the
# message that ended it: our DeadlineExceeded, an MPI error turned into a Status, or
# mpirun's own notice of the dead rank. Usage: mpi_fault_test.sh <mpi_fault_probe>
set -uo pipefail
probe="$1"
# Open MPI under Bazel (root, containers, concurrent tests): see the sourced file.
source comm/testing/ompi_test_env.sh
trap 'rm -rf "${ompi_dir}"' EXIT
limit_s=30
hang_s=90
failures=0
log="${TEST_TMPDIR:-/tmp}/mpi_fault_probe.log"

# This case's probe processes, by command line: the probe's path first (this script's
# and mpirun's command lines start otherwise) and a tag unique to the case, so that
# another run of this test at the same time is not mistaken for survivors.
tag_prefix="fault-test-$$-${RANDOM}"
leftover_probes() {
  pgrep -f -- "^${probe} .*--run_tag=${tag_prefix}-${case_number}( |\$)" || true
}
case_number=0

# case_run NAME RANKS EXPECTED_REGEX "MPIRUN OPTIONS" EXIT(nonzero|any) PROBE_FLAGS...
case_run() {
  local name="$1" ranks="$2" expect="$3" options="$4" exit_rule="$5"
  shift 5
  case_number=$((case_number + 1))
  echo "=== ${name}: ${ranks} ranks, mpirun ${options} ... $*"
  local start end rc
  start=$(date +%s.%N)
  # The outer timeout only catches a hang of the whole job (it would fail this test).
  # Its exit code cannot tell (mpirun exits 137 itself when a rank died of SIGKILL), the
  # time taken does.
  timeout --kill-after=5 "${hang_s}" \
    mpirun --allow-run-as-root --oversubscribe ${options} -np "${ranks}" \
    "${probe}" --run_tag="${tag_prefix}-${case_number}" "$@" >"${log}" 2>&1
  rc=$?
  end=$(date +%s.%N)
  local elapsed
  elapsed=$(awk -v a="${start}" -v b="${end}" 'BEGIN { printf "%.2f", b - a }')
  sed 's/^/    | /' "${log}" | grep -v '^    | *$' | head -40
  local fault_t after_fault="?"
  fault_t=$(grep -Eo 't=[0-9.]+' "${log}" | head -1 | cut -d= -f2)
  [[ -n "${fault_t}" ]] &&
    after_fault=$(awk -v a="${fault_t}" -v b="${end}" 'BEGIN { printf "%.2f", b - a }')
  echo "=== ${name}: exit ${rc}; the job ended ${after_fault} s after the fault," \
    "${elapsed} s after mpirun started"
  local ok=1
  if (( rc == 0 )) && [[ "${exit_rule}" == nonzero ]]; then
    echo "FAIL ${name}: the job exited 0 although a rank was lost"; ok=0
  elif awk -v e="${elapsed}" -v l="${hang_s}" 'BEGIN { exit !(e >= l) }'; then
    echo "FAIL ${name}: the job hung (killed by the test's timeout)"; ok=0
  fi
  if awk -v e="${elapsed}" -v l="${limit_s}" 'BEGIN { exit !(e >= l) }'; then
    echo "FAIL ${name}: took ${elapsed} s, more than ${limit_s} s"; ok=0
  fi
  if ! grep -Eq "${expect}" "${log}"; then
    echo "FAIL ${name}: none of /${expect}/ in the output"; ok=0
  else
    echo "=== ${name}: ended by: $(grep -Eo "${expect}" "${log}" | head -1)"
  fi
  # No rank may outlive the job (a surviving rank would be a hang in a real run).
  local survivors=""
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    survivors=$(leftover_probes)
    [[ -z "${survivors}" ]] && break
    sleep 0.5
  done
  if [[ -n "${survivors}" ]]; then
    echo "FAIL ${name}: ranks still running after the job ended: ${survivors}"; ok=0
    kill -9 ${survivors} 2>/dev/null
  fi
  (( ok )) || failures=$((failures + 1))
}

# Either the survivors' deadline (or an MPI error) ended it, or mpirun saw the death.
killed='did not complete within 3s|mpi_fault_probe: rank [0-9]+ failed'
killed+='|exited on signal 9|noticed that process rank [0-9]+'
deadline='did not complete within 3s'
case_run "rank 1 killed" 2 "${killed}" "" nonzero --kill_after=20
case_run "rank 1 killed" 3 "${killed}" "" nonzero --kill_after=20
# Open MPI 4.1's mpirun exits 0 under --enable-recovery even after a rank's MPI_Abort, so
# here only the message, the time and the absence of survivors are checked.
case_run "rank 1 killed, mpirun keeps going" 3 "${deadline}" "--enable-recovery" any \
  --kill_after=20
case_run "rank 1 stalled" 2 "${deadline}" "" nonzero --stall_after=20

if (( failures )); then
  echo "mpi_fault_test.sh: ${failures} of 4 cases failed"
  exit 1
fi
echo "mpi_fault_test.sh: 4 of 4 cases passed"
