#!/usr/bin/env bash
# Runs mpi_communicator_test_bin as a job of 1 rank (alone, without mpirun: MPI's
# singleton start), then under mpirun at 2 and 3 ranks (more than the 2 cores CI has, so
# oversubscribed). Each run is bounded, so that a hang fails the test instead of
# blocking it. Usage: mpi_communicator_test.sh <mpi_communicator_test_bin>
set -uo pipefail
binary="$1"
# Open MPI under Bazel (root, containers, concurrent tests): see the sourced file.
source comm/testing/ompi_test_env.sh
trap 'rm -rf "${ompi_dir}"' EXIT

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
