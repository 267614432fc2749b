#!/usr/bin/env bash
# Runs mpi_communicator_test_bin as a job of 1 rank (alone, without mpirun: MPI's
# singleton start), then under mpirun at 2 and 3 ranks (more than the 2 cores CI has, so
# oversubscribed). Each run is bounded, so that a hang fails the test instead of
# blocking it. Usage: mpi_communicator_test.sh <mpi_communicator_test_bin>
set -uo pipefail
binary="$1"
# Root in containers: mpirun refuses root without these (and the flag below).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Shared-memory transport without the kernel's cross-memory attach, which containers
# often forbid (ptrace); slower, the same semantics.
export OMPI_MCA_btl_vader_single_copy_mechanism=none

# A private folder for Open MPI's session files and shared-memory segments. Their
# default names (/tmp/ompi.HOST.UID/pid.PID, /dev/shm/vader_segment.HOST.JOBID.RANK)
# derive from mpirun's process id, and Bazel's sandbox gives each test its own process-id
# namespace, so two tests running at once get the same names and break each other's
# start-up (seen: "A system call failed during shared memory initialization", then a
# hang). Short, under /tmp: PMIx puts Unix sockets there, whose paths are limited.
ompi_dir=$(mktemp -d /tmp/ompi-test.XXXXXX) || exit 1
trap 'rm -rf "${ompi_dir}"' EXIT
export OMPI_MCA_orte_tmpdir_base="${ompi_dir}"
export OMPI_MCA_btl_vader_backing_directory="${ompi_dir}"

failures=0
run() {
  local what="$1"
  shift
  echo "=== ${what}: $*"
  local start=${SECONDS}
  timeout --kill-after=10 120 "$@"
  local rc=$?
  echo "=== ${what}: exit ${rc} after $((SECONDS - start)) s"
  if (( rc != 0 )); then
    (( rc == 124 || rc == 137 )) && echo "=== ${what}: TIMED OUT (a hang)"
    failures=$((failures + 1))
  fi
}

run "1 rank, no mpirun" "${binary}" --expected_ranks=1 --expect_mpirun=no
for ranks in 2 3; do
  run "${ranks} ranks" mpirun --allow-run-as-root --oversubscribe -np "${ranks}" \
    "${binary}" --expected_ranks="${ranks}" --expect_mpirun=yes
done

if (( failures )); then
  echo "mpi_communicator_test.sh: ${failures} of 3 runs failed"
  exit 1
fi
echo "mpi_communicator_test.sh: 3 of 3 runs passed"
