#!/usr/bin/env python3
"""The fmnist network trained in PyTorch with cuDNN: seconds per epoch and accuracy.

The baseline for fftrain's `train --network=fmnist` (docs/training.md), run on the same
GPU in the same job, with the same recipe: conv5x64 pad 2, relu, pool2, conv5x128 pad 2,
relu, pool2, fc10 on 1x28x28 Fashion-MNIST normalised by the training set's mean and
standard deviation; He-normal weights, zero biases; SGD momentum 0.9, weight decay 5e-4
on all parameters; batch 128, the last partial batch of an epoch dropped; learning rate
0.02 with a linear warm-up from 0.002 over 100 steps, then cosine to 0 over all epochs.
An epoch = training plus evaluation of the 10000 test images (batch 128), the device
synchronised at its end. The data sits on the GPU from the start (no DataLoader), which
favours PyTorch: fftrain copies each batch from the host.

cudnn.benchmark is on; PyTorch's defaults otherwise (cuDNN convolutions may use TF32).

  python3 tools/bench/torch_fmnist.py --data_dir DIR [--epochs 15]
Prints one line per epoch and a summary line:
  pytorch fmnist: E epochs, median epoch S s (training T s, evaluation V s), final test accuracy A%
"""
import argparse
import gzip
import math
import os
import statistics
import struct
import time

import torch
import torch.nn as nn


def read_idx(path):
    """An IDX file (gzipped or not) as a uint8 tensor of its dimensions."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return torch.frombuffer(bytearray(data[4 + 4 * rank:]), dtype=torch.uint8).reshape(dims)


def load(data_dir, prefix):
    for suffix in (".gz", ""):
        images = os.path.join(data_dir, f"{prefix}-images-idx3-ubyte{suffix}")
        labels = os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte{suffix}")
        if os.path.exists(images) and os.path.exists(labels):
            return read_idx(images), read_idx(labels)
    raise SystemExit(f"torch_fmnist: no {prefix} IDX files in {data_dir}")


def fmnist():
    model = nn.Sequential(
        nn.Conv2d(1, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 10))
    for m in model:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


def rate(step, total, base, warmup):
    """fftrain's cosine schedule with linear warm-up from base/10 (trainer/optimizer.h)."""
    cosine = 0.5 * base * (1 + math.cos(math.pi * step / total))
    if step < warmup:
        return min(cosine, base / 10 + (base - base / 10) * step / warmup)
    return cosine


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=0.02)
    parser.add_argument("--warmup_steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("torch_fmnist: no CUDA device")
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"cuDNN {torch.backends.cudnn.version()}")
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(args.seed)

    train_x, train_y = load(args.data_dir, "train")
    test_x, test_y = load(args.data_dir, "t10k")
    train_x = train_x.float().unsqueeze(1)
    mean, std = train_x.mean(), train_x.std(unbiased=False)
    device = torch.device("cuda")
    train_x = ((train_x - mean) / std).to(device)
    test_x = ((test_x.float().unsqueeze(1) - mean) / std).to(device)
    train_y, test_y = train_y.long().to(device), test_y.long().to(device)

    model = fmnist().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=args.learning_rate, momentum=0.9,
                          weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    steps_per_epoch = train_x.shape[0] // args.batch
    total = steps_per_epoch * args.epochs
    step = 0
    epoch_seconds, train_seconds, eval_seconds = [], [], []
    accuracy = float("nan")
    for epoch in range(args.epochs):
        torch.cuda.synchronize()
        start = time.perf_counter()
        model.train()
        order = torch.randperm(train_x.shape[0], device=device)
        for s in range(steps_per_epoch):
            idx = order[s * args.batch:(s + 1) * args.batch]
            for group in opt.param_groups:
                group["lr"] = rate(step, total, args.learning_rate, args.warmup_steps)
            opt.zero_grad(set_to_none=True)
            loss_fn(model(train_x[idx]), train_y[idx]).backward()
            opt.step()
            step += 1
        torch.cuda.synchronize()
        trained = time.perf_counter()
        model.eval()
        correct = torch.zeros((), dtype=torch.long, device=device)
        with torch.no_grad():
            for begin in range(0, test_x.shape[0], args.batch):
                logits = model(test_x[begin:begin + args.batch])
                correct += (logits.argmax(1) == test_y[begin:begin + args.batch]).sum()
        accuracy = 100.0 * correct.item() / test_x.shape[0]
        end = time.perf_counter()
        epoch_seconds.append(end - start)
        train_seconds.append(trained - start)
        eval_seconds.append(end - trained)
        print(f"epoch {epoch + 1}/{args.epochs}: test accuracy {accuracy:.2f}% | "
              f"{end - start:.3f} s (training {trained - start:.3f}, evaluation "
              f"{end - trained:.3f})", flush=True)
    print(f"pytorch fmnist: {args.epochs} epochs, median epoch "
          f"{statistics.median(epoch_seconds):.3f} s (training "
          f"{statistics.median(train_seconds):.3f} s, evaluation "
          f"{statistics.median(eval_seconds):.3f} s), final test accuracy {accuracy:.2f}%")


if __name__ == "__main__":
    main()
