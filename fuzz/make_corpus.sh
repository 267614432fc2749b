#!/usr/bin/env bash
# Rewrites the committed seed corpora in fuzz/corpus/ (run from anywhere; needs clang++
# or g++, python3, Abseil and zlib). The seeds are small valid inputs: the fuzzers mutate
# them, so each should reach deep into its parser. Rerun after a format changes.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=fuzz/corpus
rm -rf "$corpus"
mkdir -p "$corpus"/{idx_reader,checkpoint,network_spec,tuner_cache} .fuzz-build

# Checkpoints, by the real writer.
CXX="${CXX:-$(command -v clang++-14 || command -v clang++ || command -v g++)}"
mapfile -t absl_libs < <(grep -o -- '-labsl_[a-z0-9_]*' third_party/absl.BUILD)
"$CXX" -std=c++17 -O1 -I. fuzz/checkpoint_seeds.cc trainer/checkpoint/checkpoint.cc \
  -o .fuzz-build/checkpoint_seeds -Wl,--as-needed "${absl_libs[@]}" -lz
.fuzz-build/checkpoint_seeds "$corpus/checkpoint"

python3 - "$corpus" <<'PY'
import gzip, struct, sys
corpus = sys.argv[1]

def idx(rank, dims, data):
    return bytes([0, 0, 8, rank]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)

def put(name, data):
    with open(f"{corpus}/{name}", "wb") as f:
        f.write(data)

# IDX: images (rank 3) and labels (rank 1), raw and gzipped; mtime 0 keeps gzip stable.
images = idx(3, [2, 3, 3], [0, 255, 17, 128, 64, 1, 2, 3, 250] + list(range(9)))
labels = idx(1, [2], [0, 1])
put("idx_reader/images_2x3x3.idx", images)
put("idx_reader/labels_2.idx", labels)
put("idx_reader/images_2x3x3.idx.gz", gzip.compress(images, mtime=0))
put("idx_reader/labels_2.idx.gz", gzip.compress(labels, mtime=0))
put("idx_reader/images_1x1x1.idx", idx(3, [1, 1, 1], [9]))
# Two gzip members, as gzip(1) writes for concatenated files.
put("idx_reader/labels_3_two_members.idx.gz",
    gzip.compress(idx(1, [3], [2])[:9], mtime=0) + gzip.compress(bytes([1, 0]), mtime=0))

# Network specs: the presets by name and written out, and the other layer forms.
specs = {
    "fmnist": "fmnist",
    "paper128": "paper128",
    "fmnist_written": "conv5x64p2,relu,pool2,conv5x128p2,relu,pool2,fc10",
    "paper128_written": "conv11x96,relu,pool2,conv9x256,relu,pool2,conv7x384,relu,pool2,"
                        "conv3x384,relu,fc1000",
    "pool_stride": " Conv3x8p0, relu ,pool3s2,fc4,fc2 ",
    "fc_only": "fc10",
    # Padding grows maps by 2 * 999999 a layer: near the 2^40-value limit of ChainShapes.
    "big_padding": "conv1x999999p999999,conv1x999999p999999,fc10",
}
for name, text in specs.items():
    put(f"network_spec/{name}", text.encode())

# Tuner cache: a file with its header, v2 and v1 lines, every engine name.
lines = {
    "file_v2": "# fftrain tuner cache v2: device|shape|keep|cap|fft_h fft_w transform product "
               "tile_h tile_w ms\n"
               "NVIDIA H200 (sm_90)|128,3,128,128,96,11,11,0,0|1|0|128 128 batched thin 0 0 2.0800\n"
               "NVIDIA H200 (sm_90)|128,64,64,64,128,9,9,0,0|0|4096|32 32 cufft cgemm3m 24 24 1.5700\n"
               "cost model|16,8,21,21,12,5,5,0,0|0|0|32 32 batched tf32x3 0 0 0.5000\n",
    "line_v1": "cost model|16,8,21,21,12,5,5,0,0|0|0|32 32 batched cgemm3m 0.5\n",
    "line_wgmma": "d|1,1,8,8,1,3,3,1,1|1|0|16 16 cufft tf32x3_wgmma 8 0 1e-3\n",
}
for name, text in lines.items():
    put(f"tuner_cache/{name}", text.encode())
PY
ls -l "$corpus"/*
