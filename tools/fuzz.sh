#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (outside Bazel, whose toolchain is gcc)
# and runs each for a bounded time.
#
#   tools/fuzz.sh [--seconds N] [--build-only] [name...]
#
# Names: idx_reader, checkpoint, network_spec, tuner_cache (fuzz/<name>_fuzzer.cc); none
# given -> all. Each runs for N seconds (default 60) under AddressSanitizer and UBSan,
# starting from its seed corpus fuzz/corpus/<name>/ (read, never written) plus what earlier
# runs found (.fuzz-build/corpus/<name>/, where new inputs go), with the dictionary
# fuzz/<name>.dict where there is one. Needs clang++ with libFuzzer (tools/setup.sh
# installs it) and bazel (to list the sources of the library under test). Binaries, logs
# and reproducers live in .fuzz-build/ (git-ignored); an object is recompiled when a file
# it was compiled from changed. docs/reliability.md says what each fuzzer covers.
#
# Prints one line per fuzzer, "fuzz:<name> PASSED" or "fuzz:<name> FAILED" (tools/test.sh
# counts them), and for a failure the reproducer's path and the command that replays it.
# Exits non-zero if any fuzzer failed to build, crashed, leaked, timed out on an input or
# ran out of memory.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=60
build_only=0
names=()
while (( $# )); do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a value}"; shift 2 ;;
    --seconds=*) seconds="${1#--seconds=}"; shift ;;
    --build-only) build_only=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: --seconds must be a positive integer, got '$seconds'" >&2
  exit 2
fi

# The library each fuzzer drives; its .cc files, and those of the libraries it depends on
# in this repository, come from `bazel query`, so the list follows the BUILD files.
declare -A targets=(
  [idx_reader]=//trainer/data:idx_reader
  [checkpoint]=//trainer/checkpoint:checkpoint
  [network_spec]=//trainer:network_spec
  [tuner_cache]=//fftconv:conv_method
)
all_names=(idx_reader checkpoint network_spec tuner_cache)
(( ${#names[@]} )) || names=("${all_names[@]}")
for name in "${names[@]}"; do
  if [[ -z "${targets[$name]+set}" ]]; then
    echo "fuzz.sh: unknown fuzzer '$name' (known: ${all_names[*]})" >&2
    exit 2
  fi
done

CXX="${FUZZ_CXX:-}"
if [[ -z "$CXX" ]]; then
  for candidate in clang++-14 clang++; do
    if command -v "$candidate" >/dev/null; then CXX="$candidate"; break; fi
  done
fi
if [[ -z "$CXX" ]]; then
  echo "fuzz.sh: no clang++ found; tools/setup.sh installs clang-14 and libclang-rt-14-dev" >&2
  exit 1
fi
# Symbolized stack traces in reports.
if [[ -z "${ASAN_SYMBOLIZER_PATH:-}" ]] && ! command -v llvm-symbolizer >/dev/null; then
  for candidate in llvm-symbolizer-14 /usr/lib/llvm-14/bin/llvm-symbolizer; do
    if command -v "$candidate" >/dev/null; then
      export ASAN_SYMBOLIZER_PATH="$(command -v "$candidate")"
      break
    fi
  done
fi
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

build=.fuzz-build
mkdir -p "$build/logs"
# Abseil's libraries as the Bazel build links them (third_party/absl.BUILD), and zlib.
mapfile -t absl_libs < <(grep -o -- '-labsl_[a-z0-9_]*' third_party/absl.BUILD)
cxxflags=(-std=c++17 -g -O1 -fno-omit-frame-pointer -I.
          -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all)
ldflags=(-fsanitize=fuzzer,address,undefined -Wl,--as-needed "${absl_libs[@]}" -lz)

# True when `out` is missing or older than this script or any file its depfile names.
stale() {
  local out="$1" dep="$2" f
  [[ -f "$out" && -f "$dep" && "$out" -nt "$0" ]] || return 0
  for f in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$dep"); do
    [[ "$f" -nt "$out" ]] && return 0
  done
  return 1
}

# The repository's .cc files that `target` is built from, as paths.
library_sources() {
  bazel query --noshow_progress "kind('source file', deps($1))" 2>/dev/null |
    grep -E '^//.*\.cc$' | sed -E 's#^//##; s#^:##; s#:#/#'
}

# Compiles each source to its own object (shared between fuzzers), then links.
build_fuzzer() {
  local name="$1" bin="$build/${1}_fuzzer" src obj objs=() relink=0 srcs=()
  local blog="$build/logs/$name.build.log"
  : >"$blog"
  mapfile -t srcs < <(library_sources "${targets[$name]}")
  if (( ${#srcs[@]} == 0 )); then
    echo "fuzz.sh: bazel query found no sources for ${targets[$name]}" | tee -a "$blog" >&2
    return 1
  fi
  srcs=("fuzz/${name}_fuzzer.cc" "${srcs[@]}")
  for src in "${srcs[@]}"; do
    obj="$build/obj/${src%.cc}.o"
    objs+=("$obj")
    if stale "$obj" "$obj.d"; then
      echo "fuzz.sh: compiling $src"
      mkdir -p "$(dirname "$obj")"
      "$CXX" "${cxxflags[@]}" -MMD -MF "$obj.d" -c "$src" -o "$obj" >>"$blog" 2>&1 ||
        { rm -f "$obj"; cat "$blog" >&2; return 1; }
    fi
    [[ -f "$bin" && ! "$obj" -nt "$bin" ]] || relink=1
  done
  (( relink )) || return 0
  echo "fuzz.sh: linking $bin"
  "$CXX" "${objs[@]}" -o "$bin" "${ldflags[@]}" >>"$blog" 2>&1 ||
    { rm -f "$bin"; cat "$blog" >&2; return 1; }
}

failed=0
results=()
for name in "${names[@]}"; do
  bin="$build/${name}_fuzzer"
  start=$SECONDS
  if ! build_fuzzer "$name"; then
    results+=("fuzz:$name FAILED (did not build; $build/logs/$name.build.log)")
    failed=1
    continue
  fi
  echo "fuzz.sh: $name built in $((SECONDS - start)) s"
  (( build_only )) && continue

  work="$build/corpus/$name"
  artifacts="$build/artifacts/$name"
  log="$build/logs/$name.log"
  mkdir -p "$work" "$artifacts"
  echo "fuzz.sh: running $name for $seconds s (log: $log)"
  start=$SECONDS
  # New inputs go to the first directory only; the committed seeds are read, not written.
  # A dictionary of the format's words, where there is one (fuzz/<name>.dict).
  dict=()
  [[ -f "fuzz/$name.dict" ]] && dict=(-dict="fuzz/$name.dict")
  "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      "${dict[@]}" -artifact_prefix="$artifacts/" "$work" "fuzz/corpus/$name" >"$log" 2>&1
  rc=$?
  elapsed=$((SECONDS - start))
  runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$')
  cov=$(grep -oE '^#[0-9]+[[:space:]]+DONE[[:space:]]+cov: [0-9]+' "$log" | grep -oE '[0-9]+$')
  if (( rc == 0 )); then
    results+=("fuzz:$name PASSED (${runs:-?} runs in ${elapsed} s, coverage ${cov:-?} edges)")
  else
    failed=1
    reproducer=$(grep -oE 'Test unit written to .*' "$log" | tail -1 | sed 's/^Test unit written to //')
    # The report: from the sanitizer's or libFuzzer's first line of it.
    grep -m1 -A40 -E '^==[0-9]+==ERROR|runtime error:|^==[0-9]+== ERROR: libFuzzer|invariant broken' \
      "$log" >&2 || tail -40 "$log" >&2
    if [[ -n "$reproducer" ]]; then
      results+=("fuzz:$name FAILED (exit $rc; reproducer: $reproducer; replay: $bin $reproducer)")
    else
      results+=("fuzz:$name FAILED (exit $rc; no reproducer written; log: $log)")
    fi
  fi
done

for line in "${results[@]}"; do echo "$line"; done
exit "$failed"
