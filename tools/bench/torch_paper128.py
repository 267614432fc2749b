#!/usr/bin/env python3
"""The paper128 network in PyTorch with cuDNN: milliseconds per training iteration.

The baseline for fftrain's `train --network=paper128 --benchmark_iterations=N`, run on the
same GPU in the same job. One iteration = forward, cross-entropy, backward, SGD step with
momentum 0.9 and weight decay 5e-4, batch 128, 3x128x128 inputs, valid convolutions:
conv11 3->96, relu, pool2, conv9 96->256, relu, pool2, conv7 256->384, relu, pool2,
conv3 384->384, relu, fc 384*7*7 -> 1000. cudnn.benchmark is on; strict fp32 and TF32 are
both timed, since cuDNN may use TF32 tensor cores when allowed. The peak memory of each
(torch.cuda.max_memory_allocated, and what the caching allocator reserved) is printed
next to it.

  python3 tools/bench/torch_paper128.py [--batch 128] [--iterations 20]
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn


def paper128():
    return nn.Sequential(
        nn.Conv2d(3, 96, 11), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(96, 256, 9), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(256, 384, 7), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(384, 384, 3), nn.ReLU(),
        nn.Flatten(), nn.Linear(384 * 7 * 7, 1000))


def time_iterations(tf32, batch, iterations, warmup=5):
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.manual_seed(1)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = paper128().cuda()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 128, 128, device="cuda")
    y = torch.randint(0, 1000, (batch,), device="cuda")
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(1e3 * (time.perf_counter() - start))
    return (statistics.median(times), torch.cuda.max_memory_allocated(),
            torch.cuda.max_memory_reserved())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("torch_paper128: no CUDA device")
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"cuDNN {torch.backends.cudnn.version()}")
    for tf32 in (False, True):
        ms, allocated, reserved = time_iterations(tf32, args.batch, args.iterations)
        mode = "TF32" if tf32 else "strict fp32"
        print(f"pytorch+cudnn paper128 batch {args.batch} ({mode}): {ms:.3f} ms per training "
              f"iteration (median of {args.iterations}); peak memory "
              f"{allocated / 2**20:.1f} MiB allocated (torch.cuda.max_memory_allocated), "
              f"{reserved / 2**20:.1f} MiB reserved")


if __name__ == "__main__":
    main()
