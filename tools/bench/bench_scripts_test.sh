#!/usr/bin/env bash
# Tests the benchmark scripts without a GPU or PyTorch:
#  - make_benchmarks_md.py on fixture JSON (testdata/): the summary numbers against the
#    issue's targets, the tables, and clear errors on mismatched or broken input;
#  - cudnn_baseline.py: valid Python, the same layer list as fft_conv_benchmark, a clear
#    error where PyTorch is missing;
#  - run_benchmarks.sh: its wiring, with a stand-in benchmark binary and PyTorch;
#  - torch_allreduce.py, torch_ddp_paper128.py: --help, bad flags, the launch from
#    torchrun's or mpirun's variables (--dry_run), a clear error where PyTorch is missing.
# Usage (Bazel passes it): bench_scripts_test.sh PATH_TO_fft_conv_benchmark
set -uo pipefail

arg=${1:?usage: bench_scripts_test.sh PATH_TO_fft_conv_benchmark}
benchmark="$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")"
here="$(cd "$(dirname "$0")" && pwd)"
data="$here/testdata"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
py=/usr/bin/python3  # Debian's, as the GPU node's python3 needs nothing more
md="$here/make_benchmarks_md.py"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_in() {  # FILE TEXT...
  local file=$1; shift
  for want in "$@"; do
    grep -qF -- "$want" "$file" || fail "$file lacks '$want'"
  done
}

# --- make_benchmarks_md.py: the fixture pair (repetitions, one layer's cases failed) ---
out="$tmp/benchmarks.md"
if "$py" "$md" --fftrain "$data/fftconv.json" --cudnn "$data/cudnn.json" --out "$out" \
    --command "gpu_bundle/bin/tools.bench.fft_conv_benchmark --benchmark_repetitions=3" \
    --commit 0123abc >"$tmp/stdout" 2>"$tmp/stderr"; then
  # Speedups (cuDNN / fftrain) of the k >= 5 cases are 2, 1, 0.5 (L3) and 4, 4, 8 (K31):
  # geometric mean 2^(7/6) = 2.24.
  expect_in "$out" \
    "GPU: NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)" \
    "Measured 2026-11-22T12:00:00+00:00 (fftrain)" \
    "fftrain commit 0123abc" \
    "cuDNN 9.19.0 through PyTorch 2.11.0" \
    "gpu_bundle/bin/tools.bench.fft_conv_benchmark --benchmark_repetitions=3" \
    "geometric-mean speedup over cuDNN **2.24x** (target >= 2x: met)" \
    "worst case: **0.50x** (L3 backward_filter) (target >= 1x on every pass: missed by 2.00x)" \
    "**4.50x** the bound (L5 backward_data) (target <= 3x: missed by 1.50x)" \
    "worst: **2.00x** (L5 backward_data) (target <= 1.5x: missed by 1.33x)" \
    "L5 1.50 / 2.00 / 1.00" \
    "for want of a time on one side: R56k3 forward, R56k3 backward_data" \
    "## convnet-benchmarks L1-L5, batch 128" \
    "## Large kernel: 128 -> 128 planes, 64x64, batch 32" \
    "## 3x3, ResNet-like: 64 -> 64 planes, 56x56, batch 128" \
    "| L3 | forward | 0.485 | 0.970 (fp32) | 2.00x | 403.5 | 0.404 | 1.20 | 512.2 |" \
    "| L3 | backward_data | 1.080 | 1.080 (TF32) | 1.00x |" \
    "| K31 | backward_filter | 0.500 | 4.000 (fp32) | 8.00x |" \
    "| R56k3 | forward | error: RESOURCE_EXHAUSTED: cudaMalloc of 123 bytes failed | 0.400 (TF32) |" \
    "## Beyond the issue's layers (not in the targets)" \
    "| T256k5 | forward | 5.000 | 0.500 (TF32) | 0.10x |" \
    "batched 32x32 cgemm tiles 28x28 (9x9)"
  # T256k5 (0.10x cuDNN, 9x the bound) is beyond the issue's layers: the figures above
  # are those of the issue's layers alone.
  grep -qF "T256k5 forward" "$out" && fail "$out counts T256k5 in the targets"
  # The median aggregate, not the mean (1.1x the median in the fixture).
  grep -qF "| L3 | forward | 0.534 |" "$out" && fail "$out used the mean aggregate"
  expect_in "$tmp/stdout" "geometric-mean speedup over cuDNN **2.24x**" "wrote $out"
else
  fail "make_benchmarks_md.py on the fixtures exited $?: $(cat "$tmp/stderr")"
fi

# --- without repetitions: iteration entries only, one layer ---
out="$tmp/single.md"
if "$py" "$md" --fftrain "$data/fftconv_single.json" --cudnn "$data/cudnn.json" \
    --out "$out" >"$tmp/stdout" 2>"$tmp/stderr"; then
  # L3 alone: speedups 2, 1, 0.5, geometric mean 1.
  expect_in "$out" \
    "geometric-mean speedup over cuDNN **1.00x** (target >= 2x: missed by 2.00x)" \
    "**2.50x** the bound (L3 backward_data) (target <= 3x: met)" \
    "3x3 kernels: no case with both times" \
    "| L3 | backward_filter | 0.860 | 0.430 (fp32) | 0.50x |"
else
  fail "make_benchmarks_md.py on the single-run fixture exited $?: $(cat "$tmp/stderr")"
fi

# --- bad input: exit 1, a clear message, no report written ---
expect_error() {  # FFTRAIN_JSON CUDNN_JSON MESSAGE
  local report="$tmp/should_not_exist.md"
  rm -f "$report"
  if "$py" "$md" --fftrain "$1" --cudnn "$2" --out "$report" 2>"$tmp/stderr" >/dev/null; then
    fail "make_benchmarks_md.py $1 $2: exit 0, expected '$3'"
  elif ! grep -qF -- "$3" "$tmp/stderr"; then
    fail "make_benchmarks_md.py $1 $2: stderr lacks '$3': $(cat "$tmp/stderr")"
  fi
  [[ -e $report ]] && fail "make_benchmarks_md.py $1 $2: wrote a report despite the error"
  return 0
}
sed 's/"gpu": "NVIDIA H100 80GB HBM3"/"gpu": "NVIDIA H200"/' "$data/cudnn.json" >"$tmp/h200.json"
expect_error "$data/fftconv.json" "$tmp/h200.json" "come from different GPUs"
sed 's/N=128 C=384 H=13 W=13/N=64 C=384 H=13 W=13/' "$data/cudnn.json" >"$tmp/shape.json"
expect_error "$data/fftconv.json" "$tmp/shape.json" "the layer lists differ"
expect_error "$tmp/absent.json" "$data/cudnn.json" "cannot read the fft_conv_benchmark JSON"
echo '{"context": {' >"$tmp/broken.json"
expect_error "$tmp/broken.json" "$data/cudnn.json" "is not JSON"
expect_error "$data/cudnn.json" "$data/cudnn.json" "not Google Benchmark JSON"
expect_error "$data/fftconv.json" "$data/fftconv.json" "not cudnn_baseline.py's JSON"

# --- cudnn_baseline.py ---
"$py" -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' \
  "$here/cudnn_baseline.py" || fail "cudnn_baseline.py is not valid Python"
# The two benchmarks must time the same layers under the same names.
if "$benchmark" --list_layers >"$tmp/cc_layers" 2>"$tmp/stderr" &&
   "$py" "$here/cudnn_baseline.py" --list_layers >"$tmp/py_layers" 2>>"$tmp/stderr"; then
  diff "$tmp/cc_layers" "$tmp/py_layers" >"$tmp/diff" ||
    fail "fft_conv_benchmark and cudnn_baseline.py list different layers: $(cat "$tmp/diff")"
  [[ $(wc -l <"$tmp/cc_layers") -eq 15 ]] || fail "expected 15 layers: $(cat "$tmp/cc_layers")"
else
  fail "--list_layers failed: $(cat "$tmp/stderr")"
fi
"$benchmark" --list_layers --layers='^S32k1' >"$tmp/cc_layers" &&
  "$py" "$here/cudnn_baseline.py" --list_layers --layers='^S32k1' >"$tmp/py_layers" &&
  diff -q "$tmp/cc_layers" "$tmp/py_layers" >/dev/null &&
  [[ $(cut -d' ' -f1 "$tmp/cc_layers" | tr '\n' ' ') == "S32k11 S32k13 " ]] ||
  fail "--layers='^S32k1' differs or is not S32k11 S32k13"
"$py" "$here/cudnn_baseline.py" --list_layers --layers='zzz' 2>"$tmp/stderr" &&
  fail "cudnn_baseline.py --layers=zzz: exit 0"
expect_in "$tmp/stderr" "matches no layer"
if ! "$py" -c 'import torch' 2>/dev/null; then
  "$py" "$here/cudnn_baseline.py" --out "$tmp/cudnn.json" 2>"$tmp/stderr" &&
    fail "cudnn_baseline.py without PyTorch: exit 0"
  expect_in "$tmp/stderr" "cudnn_baseline: PyTorch is not installed"
fi

# --- torch_allreduce.py and torch_ddp_paper128.py: help, bad flags and the launch, all
# without PyTorch or a GPU (--dry_run) ---
for script in torch_allreduce.py torch_ddp_paper128.py; do
  "$py" "$here/$script" --help >"$tmp/stdout" 2>"$tmp/stderr" ||
    fail "$script --help exited $?: $(cat "$tmp/stderr")"
  expect_in "$tmp/stdout" "--json" "--dry_run"
  "$py" "$here/$script" --no_such_flag >/dev/null 2>"$tmp/stderr" &&
    fail "$script --no_such_flag: exit 0"
  expect_in "$tmp/stderr" "unrecognized arguments: --no_such_flag"
  # mpirun's variables become torch's; the master and NVLink SHARP off are filled in.
  env -u RANK -u WORLD_SIZE -u LOCAL_RANK -u MASTER_ADDR -u MASTER_PORT -u NCCL_NVLS_ENABLE \
    OMPI_COMM_WORLD_RANK=3 OMPI_COMM_WORLD_SIZE=4 OMPI_COMM_WORLD_LOCAL_RANK=1 \
    "$py" "$here/$script" --dry_run >"$tmp/stdout" 2>"$tmp/stderr" ||
    fail "$script --dry_run under mpirun's variables exited $?: $(cat "$tmp/stderr")"
  expect_in "$tmp/stdout" \
    "rank 3 of 4, local rank 1, master 127.0.0.1:29500, NCCL_NVLS_ENABLE=0"
  # torchrun's variables win, and a NCCL_NVLS_ENABLE given is kept.
  RANK=1 WORLD_SIZE=2 LOCAL_RANK=1 MASTER_ADDR=10.0.0.1 MASTER_PORT=1234 \
    NCCL_NVLS_ENABLE=1 OMPI_COMM_WORLD_RANK=3 OMPI_COMM_WORLD_SIZE=4 \
    "$py" "$here/$script" --dry_run >"$tmp/stdout" 2>"$tmp/stderr" ||
    fail "$script --dry_run under torchrun's variables exited $?: $(cat "$tmp/stderr")"
  expect_in "$tmp/stdout" "rank 1 of 2, local rank 1, master 10.0.0.1:1234, NCCL_NVLS_ENABLE=1"
  RANK=5 WORLD_SIZE=2 "$py" "$here/$script" --dry_run >/dev/null 2>"$tmp/stderr" &&
    fail "$script --dry_run as rank 5 of 2: exit 0"
  expect_in "$tmp/stderr" "rank 5 of 2"
  if ! "$py" -c 'import torch' 2>/dev/null; then
    "$py" "$here/$script" >/dev/null 2>"$tmp/stderr" && fail "$script without PyTorch: exit 0"
    expect_in "$tmp/stderr" "${script%.py}: PyTorch is not installed"
  fi
done
# 1 KiB to 1 GiB doubling: 21 sizes; by 4 from 4 KiB to 1 MiB: 4, 16, 64, 256, 1024 KiB.
"$py" "$here/torch_allreduce.py" --dry_run >"$tmp/stdout" 2>&1 &&
  [[ $(grep '^sizes:' "$tmp/stdout" | wc -w) -eq 22 ]] &&
  expect_in "$tmp/stdout" "sizes: 1024 2048 " " 536870912 1073741824" ||
  fail "torch_allreduce.py default sizes: $(cat "$tmp/stdout")"
"$py" "$here/torch_allreduce.py" --dry_run --min_bytes 4K --max_bytes 1M --step_factor 4 \
    >"$tmp/stdout" 2>&1 &&
  expect_in "$tmp/stdout" "sizes: 4096 16384 65536 262144 1048576" ||
  fail "torch_allreduce.py --step_factor 4: $(cat "$tmp/stdout")"
for bad in "--min_bytes 6" "--min_bytes 0" "--max_bytes 1X" "--min_bytes 1M --max_bytes 1K" \
    "--iters 0" "--warmup -1" "--step_factor 3"; do
  # shellcheck disable=SC2086  # the flags split into words on purpose
  "$py" "$here/torch_allreduce.py" --dry_run $bad >/dev/null 2>"$tmp/stderr" &&
    fail "torch_allreduce.py $bad: exit 0"
  grep -q "error" "$tmp/stderr" || fail "torch_allreduce.py $bad: no error message"
done
"$py" "$here/torch_ddp_paper128.py" --dry_run --network fmnist --baseline --tf32 \
    >"$tmp/stdout" 2>&1 &&
  expect_in "$tmp/stdout" "network fmnist, batch 128 per gpu, TF32, modes alone then ddp" ||
  fail "torch_ddp_paper128.py --baseline: $(cat "$tmp/stdout")"
for bad in "--network resnet" "--batch 0" "--no_ddp --baseline" "--iterations x"; do
  # shellcheck disable=SC2086
  "$py" "$here/torch_ddp_paper128.py" --dry_run $bad >/dev/null 2>"$tmp/stderr" &&
    fail "torch_ddp_paper128.py $bad: exit 0"
  grep -q "error" "$tmp/stderr" || fail "torch_ddp_paper128.py $bad: no error message"
done
# The DDP script's fmnist mirrors the trainer's preset; its paper128 is torch_paper128's.
grep -qF '"conv5x64p2,relu,pool2,conv5x128p2,relu,pool2,fc10"' \
    "$here/../../trainer/network_spec.cc" ||
  fail "trainer/network_spec.cc's fmnist preset changed: update torch_ddp_paper128.py"
grep -qF "from torch_paper128 import paper128" "$here/torch_ddp_paper128.py" ||
  fail "torch_ddp_paper128.py no longer imports torch_paper128's model"

# --- run_benchmarks.sh with stand-ins: a benchmark binary that writes the fixture, and a
# python3 that answers cudnn_baseline.py with the other fixture ---
bundle="$tmp/bundle"
mkdir -p "$bundle/bin" "$bundle/lib" "$tmp/fakebin"
echo 0123abc >"$bundle/COMMIT"
cat >"$bundle/bin/tools.bench.fft_conv_benchmark" <<EOF
#!/usr/bin/env bash
echo "\$@" >"$tmp/benchmark_args"
for a in "\$@"; do [[ \$a == --benchmark_out=* ]] && cp "$data/fftconv.json" "\${a#*=}"; done
exit 0
EOF
cat >"$tmp/fakebin/python3" <<EOF
#!/usr/bin/env bash
if [[ \$1 == tools/bench/cudnn_baseline.py ]]; then
  echo "\$@" >"$tmp/cudnn_args"
  while (( \$# )); do [[ \$1 == --out ]] && cp "$data/cudnn.json" "\$2"; shift; done
  exit 0
fi
exec $py "\$@"
EOF
chmod +x "$bundle/bin/tools.bench.fft_conv_benchmark" "$tmp/fakebin/python3"
# From the repository root: the runfiles tree has tools/bench/ in the same place.
cd "$here/../.." || exit 1
if PATH="$tmp/fakebin:$PATH" OUT="$tmp/run" "$here/run_benchmarks.sh" "$bundle" \
    --layers 'L[35]' >"$tmp/run_log" 2>&1; then
  expect_in "$tmp/benchmark_args" "--benchmark_out=$tmp/run/fftconv.json" \
    "--benchmark_out_format=json" "--benchmark_repetitions=3" "--layers=L[35]"
  expect_in "$tmp/cudnn_args" "--out $tmp/run/cudnn.json" "--layers L[35]"
  expect_in "$tmp/run/benchmarks.md" "fftrain commit 0123abc" "**2.24x**" \
    "--benchmark_out_format=json" "tools/bench/cudnn_baseline.py --out"
else
  fail "run_benchmarks.sh exited $?: $(cat "$tmp/run_log")"
fi

if (( failures )); then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "PASS"
