"""Data-parallel SFT: `sft.num_processes` training processes, each running the same TRL trainer under PyTorch DDP.

The launching process builds the data and evaluates; training runs in `num_processes` spawned processes (gloo on
CPU, NCCL with one GPU each), which load the same initial checkpoint and dataset from the run folder, split every
step's batches between them and average gradients. The first process saves the trained policy to
`checkpoint/` and writes what the training produced to `trainer/outcome.json` for the launcher. The time budget's
clock is agreed on after every step (`sft.callbacks.TimeBudgetCallback`), so all processes stop together.

On the 2-core CPU measured, two processes train 1.17x the sequences per second of one process with two threads
(benchmarks/sft_data_parallel.py): the tiny presets gain little, larger policies and GPUs more.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rl.config.run import RunConfig
from sft.trainer import TrainOutcome

OUTCOME_FILE = "outcome.json"


def free_port() -> int:
    """A TCP port on the loopback interface that is free now (for the processes' rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train_data_parallel(
    cfg: RunConfig, model: Any, tokenizer: Any, dataset: Any, folder: Path, init_dir: Path | None = None
) -> TrainOutcome:
    """Train `model` on `dataset` in `cfg.sft.num_processes` DDP processes; the checkpoint lands in
    `folder/checkpoint`. `init_dir` is a checkpoint of `model` already on disk (saved here when None)."""
    import torch
    import torch.multiprocessing as mp

    from rl.policy.build import save_policy

    world = cfg.sft.num_processes
    if torch.cuda.is_available() and torch.cuda.device_count() < world:
        raise ValueError(
            f"sft.num_processes is {world} but this machine has {torch.cuda.device_count()} GPU(s); "
            "use one process per GPU"
        )
    work = folder / "trainer"
    work.mkdir(parents=True, exist_ok=True)
    if init_dir is None:
        init_dir = save_policy(model, tokenizer, work / "init")
    dataset.save_to_disk(str(work / "dataset"))
    (work / OUTCOME_FILE).unlink(missing_ok=True)
    port = free_port()
    try:
        mp.start_processes(
            _worker,
            args=(world, port, cfg, str(init_dir), str(work / "dataset"), str(folder)),
            nprocs=world,
            join=True,
            start_method="spawn",
        )
    except mp.ProcessRaisedException as exc:
        raise RuntimeError(f"data-parallel SFT: a training process failed:\n{exc}") from None
    except mp.ProcessExitedException as exc:
        raise RuntimeError(f"data-parallel SFT: training process {exc.error_index} exited ({exc})") from None
    return TrainOutcome(**json.loads((work / OUTCOME_FILE).read_text()))


def _worker(rank: int, world: int, port: int, cfg: RunConfig, init_dir: str, data_dir: str, folder: str) -> None:
    """One training process: join the process group, train, and (rank 0) report the outcome."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    if cfg.sft.torch_threads:  # accelerate sets cores / processes threads unless OMP_NUM_THREADS says otherwise
        os.environ["OMP_NUM_THREADS"] = str(cfg.sft.torch_threads)
    import torch
    import torch.distributed as dist
    from datasets import load_from_disk
    from transformers import set_seed

    from rl.policy.build import load_policy
    from rl.policy.config import PolicyConfig
    from sft.trainer import train_and_save

    if cfg.sft.torch_threads:
        torch.set_num_threads(cfg.sft.torch_threads)
    set_seed(cfg.run.seed)
    model, tok = load_policy(PolicyConfig(name_or_path=init_dir, dtype=cfg.policy.dtype))
    outcome = train_and_save(cfg, model, tok, load_from_disk(data_dir), Path(folder))
    if rank == 0:
        (Path(folder) / "trainer" / OUTCOME_FILE).write_text(json.dumps(asdict(outcome)))
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
