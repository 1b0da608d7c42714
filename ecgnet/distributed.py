"""Training on several processes with ``torch.distributed``, one process per GPU.

Launch with torchrun; the arguments are those of ``train_model.py``::

    torchrun --standalone --nproc_per_node N train_model.py DATA MODEL [options]

Each process trains on ``cuda:LOCAL_RANK`` with the NCCL backend, or on the CPU with gloo when there
is no GPU or ``--device cpu`` is given. Without torchrun, or with a single process, none of this does
anything: the run is the plain single-process one, rank 0 of 1.

How the work is shared (see :mod:`ecgnet.training`):

* The network of each fold is wrapped in ``DistributedDataParallel`` and each process draws its own
  share of the fold's training records (:func:`training_sampler`), so one optimiser step averages the
  gradients of ``batch_size x N`` windows: the global batch grows with N, the learning rate does not.
* Validation and out-of-fold prediction: each process predicts a contiguous share of the records
  (:func:`shard`) and the shares are all-gathered back in record order (:func:`gather_shards`).
* Decisions every process must take alike (early stopping, what to resume) are rank 0's, broadcast
  (:func:`broadcast_object`), so that the processes cannot drift apart and wait on each other forever.
* Rank 0 preprocesses the records into the disk cache (ecgnet.cache) while the others wait, then every
  process opens it (with ``cache = false`` each process preprocesses all records in memory itself);
  only rank 0 shows progress.
* Only rank 0 writes the model folder and logs. Resuming reads the checkpoints on every process, so
  the model folder must be on a file system that every process sees (always so on one machine).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler

from .config import TrainingConfig
from .device import resolve_device

T = TypeVar("T")

# Processes wait on each other at collectives while one of them does slow work alone: preprocessing
# at uneven speeds, or rank 0 tuning thresholds at the end. The default timeout (10 minutes for NCCL)
# would kill a healthy run; a crashed process is noticed by torchrun, which stops the others anyway.
TIMEOUT = timedelta(hours=2)


def launched_by_torchrun() -> bool:
    """Whether this process is one of several started by torchrun (from the variables it sets)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "LOCAL_RANK" in os.environ


def is_distributed() -> bool:
    """Whether a process group is running, i.e. whether the collectives below communicate."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank: from the process group while one runs, else from torchrun's variables."""
    if is_distributed():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0")) if launched_by_torchrun() else 0


def world_size() -> int:
    """How many processes: from the process group while one runs, else from torchrun's variables."""
    if is_distributed():
        return dist.get_world_size()
    return int(os.environ["WORLD_SIZE"]) if launched_by_torchrun() else 1


def is_main() -> bool:
    """Whether this process is rank 0, the one that writes files and prints."""
    return rank() == 0


def process_device(name: str = "auto") -> torch.device:
    """The device of this process: ``cuda:LOCAL_RANK`` for each of several processes on a GPU machine."""
    device = resolve_device(name)
    if device.type != "cuda" or not launched_by_torchrun():
        return device
    local_rank = int(os.environ["LOCAL_RANK"])
    if local_rank >= torch.cuda.device_count():
        raise RuntimeError(f"process {local_rank} on this machine has no GPU of its own "
                           f"({torch.cuda.device_count()} visible): start at most that many processes per node")
    return torch.device("cuda", local_rank)


@contextmanager
def process_group(device_name: str = "auto") -> Iterator[torch.device]:
    """This process's device; under torchrun, the process group is joined for the ``with`` block.

    A group that is already running (started by the caller) is used and left running.
    """
    device = process_device(device_name)
    owned = launched_by_torchrun() and not is_distributed()
    if owned:
        if device.type == "cuda":
            torch.cuda.set_device(device)  # object collectives stage their bytes on the current GPU
            dist.init_process_group("nccl", timeout=TIMEOUT, device_id=device)
        else:
            dist.init_process_group("gloo", timeout=TIMEOUT)
    try:
        yield device
    finally:
        if owned:
            cleanup()


def cleanup() -> None:
    """Leave the process group, if one is running."""
    if is_distributed():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every process gets here."""
    if is_distributed():
        dist.barrier()


def broadcast_object(value: T) -> T:
    """Rank 0's ``value`` (any picklable object) on every process."""
    if not is_distributed():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(value: Any) -> list[Any]:
    """Every process's ``value`` (any picklable object), in rank order."""
    if not is_distributed():
        return [value]
    values: list[Any] = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


def shard(rows: np.ndarray) -> np.ndarray:
    """This process's contiguous share of ``rows``: all of them when alone."""
    if not is_distributed():
        return rows
    return np.array_split(rows, world_size())[rank()]


def gather_shards(part: np.ndarray) -> np.ndarray:
    """What every process computed for its :func:`shard`, concatenated back into the order of the rows."""
    if not is_distributed():
        return part
    return np.concatenate(all_gather_object(part))


def sum_over_processes(*values: float) -> tuple[float, ...]:
    """Each of ``values`` summed over the processes."""
    return tuple(float(sum(column)) for column in zip(*all_gather_object(values)))


def wrap(network: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``network`` in DistributedDataParallel when there are several processes, else itself."""
    if not is_distributed():
        return network
    return DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)


def training_sampler(dataset: Dataset, seed: int) -> DistributedSampler | None:
    """A sampler giving each process a shuffled share of ``dataset`` (None when alone).

    Shares are equal in size (a few examples repeat when the size does not divide), so every process
    takes the same number of steps and none waits for a gradient that never comes. Call its
    ``set_epoch`` every epoch for a new order; the order depends only on ``seed`` and the epoch.
    """
    if not is_distributed():
        return None
    return DistributedSampler(dataset, num_replicas=world_size(), rank=rank(), shuffle=True, seed=seed)


def broadcast_buffers(network: torch.nn.Module) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every process.

    DDP copies rank 0's buffers before each training forward pass, but each process then updates them
    with its own batch, so after an epoch they differ slightly. Validation, which every process does
    on its own share, and the weights rank 0 saves must all use the same network.
    """
    if not is_distributed():
        return
    for buffer in network.buffers():
        dist.broadcast(buffer, src=0)


def loader_workers(settings: TrainingConfig, device: torch.device) -> int:
    """DataLoader processes per training process: ``loader_workers`` when set; otherwise ``workers`` on a GPU
    (at most 2 per process when several processes share the machine, or 8 ranks x 8 workers would be 72
    processes), and none on a CPU, where the network and not the loading is the bottleneck."""
    if settings.loader_workers is not None:
        return settings.loader_workers
    if device.type != "cuda":
        return 0
    return min(settings.workers, 2) if world_size() > 1 else settings.workers


def process_batch_size(settings: TrainingConfig) -> int:
    """This process's share of the recipe's batch: with several processes the global batch, and so the
    number of steps and the learning-rate schedule, stay those of the recipe."""
    world = world_size()
    return max(1, settings.batch_size // world)
