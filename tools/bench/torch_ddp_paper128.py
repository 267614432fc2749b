#!/usr/bin/env python3
"""paper128 (or fmnist) under PyTorch DistributedDataParallel: weak scaling, ms per iteration.

The data-parallel baseline for fftrain's trainer on G GPUs, and a measurement against
which to check tools/scaling/scaling_model. Each GPU trains on its own batch (--batch, 128
by default) of random inputs; one iteration = forward, cross-entropy, backward (DDP
all-reduces the gradients in its buckets, 1 MiB then 25 MiB, while backward runs), SGD
step with momentum 0.9 and weight decay 5e-4. cudnn.benchmark is on; strict fp32 unless
--tf32. Each rank times --iterations iterations after --warmup, synchronising the device
after each; rank 0 prints its median and the slowest rank's.

  --no_ddp      every rank trains alone (no all-reduce): the baseline for efficiency
  --baseline    time the ranks alone first, then DDP, and print the efficiency, so both
                come from the same job on the same GPUs

Networks (--network): paper128 (tools/bench/torch_paper128.py's model: 3x128x128 input,
conv11 3->96, conv9 96->256, conv7 256->384, conv3 384->384, fc 18816->1000), and fmnist
(trainer/network_spec.cc's preset "conv5x64p2,relu,pool2,conv5x128p2,relu,pool2,fc10" on
1x28x28: conv5 1->64 pad 2, relu, maxpool 2, conv5 64->128 pad 2, relu, maxpool 2, fc
6272->10).

Launched like torch_allreduce.py (torchrun, or mpirun with Open MPI's variables mapped):

  torchrun --nproc_per_node=G tools/bench/torch_ddp_paper128.py --baseline --json ddp.json
  mpirun -np G python3 tools/bench/torch_ddp_paper128.py --network fmnist
"""
import argparse
import json
import os
import statistics
import sys
import time

# The sibling scripts (torch_paper128's model, torch_allreduce's launch) import by name.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch_allreduce  # pylint: disable=wrong-import-position  (needs no PyTorch)

NETWORKS = {
    # name: (input channels, height, width, classes)
    "paper128": (3, 128, 128, 1000),
    "fmnist": (1, 28, 28, 10),
}


def build_network(torch, name):
    nn = torch.nn
    if name == "paper128":
        from torch_paper128 import paper128  # pylint: disable=import-outside-toplevel
        return paper128()
    # trainer/network_spec.cc: "conv5x64p2,relu,pool2,conv5x128p2,relu,pool2,fc10".
    return nn.Sequential(
        nn.Conv2d(1, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 10))


def time_iterations(torch, args, local, ddp):
    """This rank's iteration times in ms, with or without DDP."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.manual_seed(1)  # one initial model on every rank (DDP broadcasts rank 0's anyway)
    model = build_network(torch, args.network).cuda()
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local])
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    channels, height, width, classes = NETWORKS[args.network]
    # Each rank its own batch, as data parallelism gives it.
    generator = torch.Generator(device="cuda").manual_seed(1000 + torch.distributed.get_rank())
    x = torch.randn(args.batch, channels, height, width, device="cuda", generator=generator)
    y = torch.randint(0, classes, (args.batch,), device="cuda", generator=generator)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    torch.distributed.barrier()  # every rank starts timing together
    times = []
    for _ in range(args.iterations):
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(1e3 * (time.perf_counter() - start))
    return times


def summarise(torch, times):
    """(rank 0's median, the slowest rank's median, every rank's median) in ms."""
    world = torch.distributed.get_world_size()
    mine = torch.tensor([statistics.median(times)], dtype=torch.float64, device="cuda")
    medians = [torch.zeros_like(mine) for _ in range(world)]
    torch.distributed.all_gather(medians, mine)
    medians = [m.item() for m in medians]
    return medians[0], max(medians), medians


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--network", choices=sorted(NETWORKS), default="paper128")
    parser.add_argument("--batch", type=torch_allreduce.positive_int, default=128,
                        help="batch per GPU (default 128)")
    parser.add_argument("--iterations", type=torch_allreduce.positive_int, default=20,
                        help="timed iterations; the median is reported (default 20)")
    parser.add_argument("--warmup", type=torch_allreduce.positive_int, default=5,
                        help="untimed iterations first, which also run cuDNN's autotuning "
                        "(default 5)")
    parser.add_argument("--tf32", action="store_true",
                        help="allow TF32 tensor cores (default: strict fp32)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no_ddp", action="store_true",
                      help="each rank trains alone, no all-reduce (the efficiency baseline)")
    mode.add_argument("--baseline", action="store_true",
                      help="time the ranks alone first, then DDP, and print the efficiency")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--dry_run", action="store_true",
                        help="print the launch and what would run, then exit (needs no PyTorch)")
    args = parser.parse_args()

    rank, world, local = torch_allreduce.distributed_env()
    modes = ["alone"] if args.no_ddp else (["alone", "ddp"] if args.baseline else ["ddp"])
    if args.dry_run:
        print(torch_allreduce.describe_launch(rank, world, local))
        print(f"network {args.network}, batch {args.batch} per gpu, "
              f"{'TF32' if args.tf32 else 'strict fp32'}, modes {' then '.join(modes)}, "
              f"{args.iterations} iterations after {args.warmup}")
        return

    torch = torch_allreduce.import_torch("torch_ddp_paper128")
    torch_allreduce.init_distributed(torch, rank, world, local, "torch_ddp_paper128")
    context = torch_allreduce.versions(torch)
    precision = "TF32" if args.tf32 else "strict fp32"
    if rank == 0:
        print(f"GPU: {context['gpu']}, torch {context['torch']}, cuDNN "
              f"{torch.backends.cudnn.version()}, NCCL {context['nccl']}, {world} ranks, "
              f"NCCL_NVLS_ENABLE={os.environ['NCCL_NVLS_ENABLE']}", flush=True)
    document = dict(context, tool="torch_ddp_paper128", network=args.network, gpus=world,
                    batch_per_gpu=args.batch, precision=precision,
                    iterations=args.iterations, warmup=args.warmup,
                    cudnn=torch.backends.cudnn.version(), command=" ".join(sys.argv))
    for mode_name in modes:
        times = time_iterations(torch, args, local, ddp=mode_name == "ddp")
        rank0_ms, slowest_ms, medians = summarise(torch, times)
        document[mode_name] = {"ms_per_iteration": rank0_ms, "slowest_rank_ms": slowest_ms,
                               "rank_medians_ms": medians,
                               "images_per_second": world * args.batch / (slowest_ms * 1e-3)}
        if rank == 0:
            label = "ddp" if mode_name == "ddp" else "no-ddp"
            print(f"{label} {args.network}: {world} gpus, batch {args.batch} per gpu: "
                  f"{rank0_ms:.3f} ms per iteration (median of {args.iterations}), slowest "
                  f"rank {slowest_ms:.3f} ms, {precision}", flush=True)
    if args.baseline:
        # Weak scaling: the same work per GPU, so the ideal is the time alone.
        document["efficiency"] = document["alone"]["ms_per_iteration"] / \
            document["ddp"]["ms_per_iteration"]
        if rank == 0:
            print(f"efficiency: {100 * document['efficiency']:.1f}% (alone / ddp, rank 0's "
                  "medians)")
    if rank == 0 and args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
        print(f"wrote {args.json}")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
