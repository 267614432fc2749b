#!/usr/bin/env python3
"""torch.distributed.all_reduce over NCCL: time, algbw and busbw by size, as nccl-tests prints.

The baseline for fftrain's own all-reduce benchmark, which prints the same columns, and
a measurement of the bus bandwidth that tools/scaling/scaling_model assumes. Sums float32
buffers in place, one process per GPU, from --min_bytes to --max_bytes in steps of
--step_factor. For each size: one all-reduce checked against the exact sum, --warmup
untimed calls, then --iters calls between two CUDA events; time = their span / iters,
averaged over the ranks (nccl-tests' default). algbw = bytes / time (1e9 bytes a GB);
busbw = algbw * 2(n-1)/n, the rate each GPU's link must carry for a ring to take that time.

Launched one process per GPU by torchrun, or by mpirun (Open MPI's variables are mapped
to torch's; MASTER_ADDR defaults to 127.0.0.1, so give it for several nodes):

  torchrun --nproc_per_node=G tools/bench/torch_allreduce.py [--json out.json]
  mpirun -np G python3 tools/bench/torch_allreduce.py --min_bytes 1K --max_bytes 1G

NCCL_NVLS_ENABLE=0 is set unless given (NVLink SHARP is off on our machines). Rank 0
prints; --dry_run prints the launch and the sizes and exits without PyTorch or a GPU.
"""
import argparse
import datetime
import json
import os
import re
import sys

DEFAULT_MASTER_PORT = "29500"
FLOAT32_BYTES = 4
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)i?B?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text):
    """'1K' -> 1024, '1G' -> 2**30, '4096' -> 4096 (binary units, as nccl-tests' -b/-e)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a size in bytes (a number, optionally with K, M or G)")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def _tool():
    """The running script's name, for messages from code the two scripts share."""
    return os.path.splitext(os.path.basename(sys.argv[0]))[0]


def distributed_env(environ=os.environ):
    """(rank, world size, local rank) from torchrun's variables or Open MPI's.

    Also fills what torch.distributed's env:// reads and mpirun does not set: RANK,
    WORLD_SIZE, LOCAL_RANK, MASTER_ADDR (127.0.0.1), MASTER_PORT (29500); and
    NCCL_NVLS_ENABLE=0 unless given. One process alone is rank 0 of 1.
    """
    pairs = (("RANK", "OMPI_COMM_WORLD_RANK"), ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE"),
             ("LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"))
    defaults = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}
    for torch_name, mpi_name in pairs:
        if torch_name not in environ:
            environ[torch_name] = environ.get(mpi_name, defaults[torch_name])
    environ.setdefault("MASTER_ADDR", "127.0.0.1")
    environ.setdefault("MASTER_PORT", DEFAULT_MASTER_PORT)
    # The GPU machines need NVLink SHARP (multicast) off; set before NCCL starts.
    environ.setdefault("NCCL_NVLS_ENABLE", "0")
    try:
        rank, world, local = (int(environ[name]) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        raise SystemExit(f"{_tool()}: RANK, WORLD_SIZE and LOCAL_RANK must be integers, got "
                         f"{environ['RANK']!r}, {environ['WORLD_SIZE']!r}, "
                         f"{environ['LOCAL_RANK']!r}") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise SystemExit(f"{_tool()}: rank {rank} of {world} (local rank {local}) is not "
                         "a valid launch")
    return rank, world, local


def describe_launch(rank, world, local, environ=os.environ):
    return (f"rank {rank} of {world}, local rank {local}, master "
            f"{environ['MASTER_ADDR']}:{environ['MASTER_PORT']}, "
            f"NCCL_NVLS_ENABLE={environ['NCCL_NVLS_ENABLE']}")


def sizes(min_bytes, max_bytes, factor):
    """min_bytes, min_bytes * factor, ... up to max_bytes, each a whole number of floats."""
    out = []
    size = min_bytes
    while size <= max_bytes:
        out.append(size)
        size *= factor
    return out


def bus_bandwidth(algbw, world):
    """nccl-tests' all-reduce factor: a ring moves 2(n-1)/n of the data over each link."""
    return algbw * 2 * (world - 1) / world


def import_torch(tool):
    try:
        import torch  # pylint: disable=import-outside-toplevel
        import torch.distributed  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        raise SystemExit(f"{tool}: PyTorch is not installed (python3 -c 'import torch' "
                         "fails); run on the GPU machine") from None
    return torch


def init_distributed(torch, rank, world, local, tool):
    """Binds this process to its GPU and joins the NCCL process group."""
    if not torch.cuda.is_available():
        raise SystemExit(f"{tool}: no CUDA device")
    if local >= torch.cuda.device_count():
        raise SystemExit(f"{tool}: local rank {local} but {torch.cuda.device_count()} GPUs here")
    torch.cuda.set_device(local)
    # device_id binds the communicator to this GPU now, rather than NCCL guessing it from
    # the rank at the first collective.
    torch.distributed.init_process_group("nccl", init_method="env://", rank=rank,
                                         world_size=world,
                                         device_id=torch.device("cuda", local))


def versions(torch):
    nccl = torch.cuda.nccl.version()
    nccl = ".".join(str(part) for part in nccl) if isinstance(nccl, tuple) else str(nccl)
    return {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "nccl": nccl,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def time_all_reduce(torch, size, iters, warmup, world):
    """(time in us averaged over ranks, whether the checked sum was right on every rank)."""
    dist = torch.distributed
    count = size // FLOAT32_BYTES
    buffer = torch.full((count,), float(dist.get_rank() + 1), dtype=torch.float32,
                        device="cuda")
    dist.all_reduce(buffer)
    # 1 + 2 + ... + world, exact in float32 for any world we can launch.
    wrong = torch.count_nonzero(buffer != world * (world + 1) / 2).item()
    buffer.zero_()  # sums of zeros stay finite however many calls follow
    for _ in range(warmup):
        dist.all_reduce(buffer)
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    dist.barrier()
    start.record()
    for _ in range(iters):
        dist.all_reduce(buffer)
    stop.record()
    torch.cuda.synchronize()
    result = torch.tensor([start.elapsed_time(stop) * 1e3 / iters, float(wrong)],
                          dtype=torch.float64, device="cuda")
    dist.all_reduce(result)
    return result[0].item() / world, result[1].item() == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--min_bytes", type=parse_size, default=1 << 10,
                        help="smallest buffer, bytes (K, M, G allowed; default 1K)")
    parser.add_argument("--max_bytes", type=parse_size, default=1 << 30,
                        help="largest buffer, bytes (default 1G)")
    parser.add_argument("--step_factor", type=int, choices=(2, 4), default=2,
                        help="each size is this times the one before (default 2)")
    parser.add_argument("--iters", type=positive_int, default=20,
                        help="timed all-reduces per size (default 20)")
    parser.add_argument("--warmup", type=int, default=5,
                        help="untimed all-reduces per size before timing (default 5)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--dry_run", action="store_true",
                        help="print the launch and the sizes, then exit (needs no PyTorch)")
    args = parser.parse_args()
    if args.min_bytes < FLOAT32_BYTES or args.min_bytes % FLOAT32_BYTES:
        parser.error(f"--min_bytes {args.min_bytes} must be a positive multiple of 4 "
                     "(float32 elements)")
    if args.max_bytes < args.min_bytes:
        parser.error(f"--max_bytes {args.max_bytes} is smaller than --min_bytes "
                     f"{args.min_bytes}")
    if args.warmup < 0:
        parser.error(f"--warmup {args.warmup} is negative")

    rank, world, local = distributed_env()
    plan = sizes(args.min_bytes, args.max_bytes, args.step_factor)
    if args.dry_run:
        print(describe_launch(rank, world, local))
        print("sizes:", " ".join(str(size) for size in plan))
        return

    torch = import_torch("torch_allreduce")
    init_distributed(torch, rank, world, local, "torch_allreduce")
    context = versions(torch)
    if rank == 0:
        print(f"# torch.distributed.all_reduce, NCCL {context['nccl']}, torch {context['torch']}, "
              f"{world} ranks, {context['gpu']}, NCCL_NVLS_ENABLE="
              f"{os.environ['NCCL_NVLS_ENABLE']}")
        print(f"# iters {args.iters} warmup {args.warmup}; time averaged over ranks")
        print(f"# {'size':>12} {'count':>12} {'type':>6} {'redop':>6} {'time':>10} "
              f"{'algbw':>8} {'busbw':>8}")
        print(f"# {'(B)':>12} {'(elements)':>12} {'':>6} {'':>6} {'(us)':>10} "
              f"{'(GB/s)':>8} {'(GB/s)':>8}")
    results = []
    all_right = True
    for size in plan:
        time_us, right = time_all_reduce(torch, size, args.iters, args.warmup, world)
        all_right &= right
        algbw = size / (time_us * 1e-6) / 1e9
        busbw = bus_bandwidth(algbw, world)
        row = {"size_bytes": size, "count": size // FLOAT32_BYTES, "type": "float",
               "redop": "sum", "time_us": time_us, "algbw_gbs": algbw, "busbw_gbs": busbw,
               "correct": right}
        results.append(row)
        if rank == 0:
            print(f"  {size:>12} {row['count']:>12} {'float':>6} {'sum':>6} {time_us:>10.2f} "
                  f"{algbw:>8.2f} {busbw:>8.2f}{'' if right else '  WRONG SUM'}", flush=True)
    if rank == 0 and args.json:
        document = dict(context, tool="torch_allreduce", ranks=world, iters=args.iters,
                        warmup=args.warmup, nvls_enable=os.environ["NCCL_NVLS_ENABLE"],
                        command=" ".join(sys.argv), results=results)
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
        print(f"# wrote {args.json}")
    torch.distributed.destroy_process_group()
    if not all_right:
        raise SystemExit("torch_allreduce: an all-reduce gave a wrong sum (see WRONG SUM)")


if __name__ == "__main__":
    main()
