"""Orbax checkpoints of a run: train state, data iterator position and config, every N steps.

`workdir/checkpoints/<step>/` holds `state` (params, optimizer state, step), `data` (the Grain
iterator state) and `config` (JSON). Orbax writes each step under a temporary name and commits it
atomically, and keeps the last K; the latest complete one is where a rerun resumes.

Faults: a step that cannot be restored (a truncated tensor file, missing metadata) is set aside as
`<step>.damaged` (never deleted) with a one-line warning, and the run resumes from the newest step
that restores. A save that fails (a full disk) stops the run at the next step with one line; its
temporary folder is removed and the last good checkpoint stays.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import shutil
import sys
import threading

import grain
import jax
import orbax.checkpoint as ocp
from etils import epath

from entigraph_jax.errors import UserError

from .storage import is_remote


class CheckpointSaveError(UserError):
    """A checkpoint could not be written."""


@contextlib.contextmanager
def quiet_background_errors():
    """While a run checkpoints: Orbax's writer threads print their failures as tracebacks and log
    lines, and the failure also reaches the run (`check`, `save`), which reports it in one line.
    Keep only that line."""
    previous = threading.excepthook, sys.unraisablehook, logging.getLogger("absl").level
    threading.excepthook, sys.unraisablehook = (lambda args: None), (lambda unraisable: None)
    logging.getLogger("absl").setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        gc.collect()
        threading.excepthook, sys.unraisablehook = previous[:2]
        logging.getLogger("absl").setLevel(previous[2])


@contextlib.contextmanager
def _quiet_abandoned_reads():
    """A damaged checkpoint fails one of Orbax's concurrent array reads; the others are abandoned and
    report their own errors when collected. The first error is the one reported; drop those echoes."""
    previous = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        yield
    finally:
        gc.collect()
        sys.unraisablehook = previous


class _AbandonedWrites(logging.Filter):
    """A failed save fails one of Orbax's concurrent array writes; the others are abandoned and asyncio
    logs each one's error when its task is collected. The first error is the one reported."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Task exception was never retrieved")


class RunCheckpoints:
    def __init__(self, directory: epath.Path, keep: int, async_save: bool):
        """Checkpoints in `directory`: a local folder or a remote one (gs://)."""
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=async_save,
                                               create=True)
        self.directory = epath.Path(directory)
        self.manager = ocp.CheckpointManager(self.directory, options=options)
        self.pending: int | None = None  # the step of an asynchronous save not yet seen committed

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def stored_config(self) -> dict | None:
        """The config saved with the newest step that has one readable, or None."""
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                return self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore())).config
            except Exception:  # noqa: BLE001 - a damaged step: the restore below sets it aside
                continue
        return None

    def save(self, step: int, state: dict, iterator: grain.DatasetIterator, config_json: dict) -> None:
        self.check()
        needed = sum(x.nbytes for x in jax.tree.leaves(state)) // jax.process_count()
        free = shutil.disk_usage(str(self.directory)).free if not is_remote(str(self.directory)) else needed
        if free < needed:
            self._failed(step, OSError(f"{free / 2**20:.0f} MiB free on the disk"), state)
        try:
            self.manager.save(step, force=True, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state),
                data=grain.checkpoint.CheckpointSave(iterator),
                config=ocp.args.JsonSave(config_json),
            ))
        except Exception as e:  # noqa: BLE001 - a failed earlier async save surfaces here, as any type
            self._failed(self.pending or step, e, state)
        self.pending = step

    def check(self) -> None:
        """Raise `CheckpointSaveError` if an asynchronous save has failed since the last call."""
        if self.pending is None or self.manager.is_saving_in_progress():
            return
        step, self.pending = self.pending, None
        if not (self.directory / str(step)).is_dir():  # finished without committing: its error is kept
            try:
                self.manager.wait_until_finished()
            except Exception as e:  # noqa: BLE001 - whatever the background writer hit
                self._failed(step, e, None)
            self._failed(step, RuntimeError("the save ended without committing"), None)

    def _failed(self, step: int | None, error: Exception, state: dict | None) -> None:
        logging.getLogger("asyncio").addFilter(_AbandonedWrites())
        for tmp in self.directory.glob("*.orbax-checkpoint-tmp*"):
            if is_remote(str(tmp)):
                with contextlib.suppress(OSError):
                    tmp.rmtree()
            else:
                shutil.rmtree(str(tmp), ignore_errors=True)
        size = f", about {sum(x.nbytes for x in jax.tree.leaves(state)) / 2**20:.0f} MiB needed" if state else ""
        os_error = re.search(r"os_error_code='?(\d+)", str(error))  # tensorstore's way of naming it
        cause = (os.strerror(int(os_error.group(1))) if os_error
                 else f"{type(error).__name__}: {error}".splitlines()[0][:200])
        steps = [int(p.name) for p in self.directory.iterdir() if p.name.isdigit()]
        kept = f"step {max(steps)} is the last good checkpoint" if steps else "no checkpoint was written yet"
        raise CheckpointSaveError(f"{self.directory}: saving the checkpoint{f' of step {step}' if step else ''} "
                                  f"failed ({cause}{size}); {kept}") from error

    def restore(self, abstract_state: dict, iterator: grain.DatasetIterator) -> tuple[int, dict] | None:
        """(step, state) of the newest step that restores, `iterator` moved to its position; None if
        there is no checkpoint. Damaged newer steps are set aside with a warning."""
        with _quiet_abandoned_reads():
            return self._restore(abstract_state, iterator)

    def _restore(self, abstract_state: dict, iterator: grain.DatasetIterator) -> tuple[int, dict] | None:
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                restored = self.manager.restore(step, args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract_state),
                    data=grain.checkpoint.CheckpointRestore(iterator),
                ))
            except Exception as e:  # noqa: BLE001 - Orbax and tensorstore raise many types for damaged files
                aside = self.directory / f"{step}.damaged"
                (self.directory / str(step)).rename(aside)
                print(f"train: checkpoint step {step} cannot be restored ({type(e).__name__}: "
                      f"{str(e).splitlines()[0][:200]}); set aside as {aside}", file=sys.stderr)
                continue
            self.manager.reload()
            return step, restored.state
        self.manager.reload()
        return None

    def wait(self) -> None:
        self.manager.wait_until_finished()
        self.check()

    def close(self) -> None:
        self.manager.close()
