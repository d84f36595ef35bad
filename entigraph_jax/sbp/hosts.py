"""SBP's steps over several processes (a TPU slice's hosts, SLURM nodes), all running the same command.

Each process does its share and writes files of its own under one partial folder (names carrying its
index); process 0 clears the folder before and publishes it once every process has finished. With one
process every call here is a no-op or the identity.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils


def index() -> int:
    return jax.process_index()


def count() -> int:
    return jax.process_count()


def leader() -> bool:
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reaches the barrier of this name."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def summed(*values: int) -> list[int]:
    """Each value summed over every process."""
    if jax.process_count() == 1:
        return list(values)
    gathered = np.asarray(multihost_utils.process_allgather(np.asarray(values, np.int64)))
    return [int(v) for v in gathered.reshape(jax.process_count(), len(values)).sum(axis=0)]


def share(total: int) -> int:
    """This process's share of `total` items, the remainder going to the first processes."""
    return total // jax.process_count() + (jax.process_index() < total % jax.process_count())


def fresh(folder: Path) -> None:
    """An empty `folder` for every process to write into (what a crash left there removed)."""
    if leader():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    barrier(f"fresh {folder}")


def publish(partial: Path, final: Path) -> None:
    """Once every process has written its part, process 0 moves the partial folder into place."""
    barrier(f"written {partial}")
    if leader():
        os.replace(partial, final)
    barrier(f"published {final}")
