# Sourced by the tests that run mpirun under Bazel: the environment Open MPI needs there.
# Sets and exports what mpirun reads, and leaves in $ompi_dir a private folder that the
# caller removes on exit (its own trap).
# - Root in containers: mpirun refuses root without these (and --allow-run-as-root).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# - Shared-memory transport without the kernel's cross-memory attach, which containers
#   often forbid (ptrace); slower, the same semantics.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# - A private folder for Open MPI's session files and shared-memory segments. Their
#   default names (/tmp/ompi.HOST.UID/pid.PID, /dev/shm/vader_segment.HOST.JOBID.RANK)
#   derive from mpirun's process id, and Bazel's sandbox gives each test its own
#   process-id namespace, so two tests running at once get the same names and break each
#   other's start-up (seen: "A system call failed during shared memory initialization",
#   then a hang). Short, under /tmp: PMIx puts Unix sockets there, whose paths are limited.
ompi_dir=$(mktemp -d /tmp/ompi-test.XXXXXX) || exit 1
export OMPI_MCA_orte_tmpdir_base="${ompi_dir}"
export OMPI_MCA_btl_vader_backing_directory="${ompi_dir}"
