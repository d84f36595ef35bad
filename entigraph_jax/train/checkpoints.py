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
import functools
import logging
import os
import re
import shutil
import sys
import threading
import traceback
import types

import grain
import jax
import orbax.checkpoint as ocp
import tensorstore
from etils import epath

from entigraph_jax.errors import UserError

from .storage import is_remote


class CheckpointSaveError(UserError):
    """A checkpoint could not be written."""


ORBAX_CODE = f"{os.sep}orbax{os.sep}"


def _from_orbax(trace: types.TracebackType | None) -> bool:
    """Raised in Orbax's code, or by tensorstore (Orbax's storage) handing a finished read or write back
    to an event loop Orbax has closed (after a failed save, at exit)."""
    for frame, _ in traceback.walk_tb(trace):
        if ORBAX_CODE in frame.f_code.co_filename:
            return True
        if frame.f_code.co_name == "call_soon_threadsafe" and any(
                isinstance(arg, tensorstore.Future) for arg in frame.f_locals.get("args", ())):
            return True
    return False


TENSORSTORE_STATUS = re.compile(r"\[(os_error_code|source locations|tensorstore_spec)=")


def _orbax_error(error: BaseException | None, trace: types.TracebackType | None) -> bool:
    """`_from_orbax`, or tensorstore's own error never raised through Python (set on a future from its
    threads: no traceback, its status payload in the text), which only Orbax's storage meets here;
    asyncio reports such a future, left behind by a failed save, as it is collected."""
    return _from_orbax(trace) or (error is not None and trace is None and bool(TENSORSTORE_STATUS.search(str(error))))


class _OrbaxRecords(logging.Filter):
    """Log records Orbax writes itself, or that carry an error raised in Orbax's code."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (ORBAX_CODE in record.pathname or (record.exc_info and _orbax_error(*record.exc_info[1:])))


@functools.cache
def silence_orbax() -> None:
    """A failed checkpoint write reaches the run (`check`, `save`, `restore`), which reports it in one
    line; Orbax also reports it itself, as tracebacks from its writer threads, log lines, and echoes
    from its abandoned concurrent writes and reads as they are collected (up to the process's exit).
    Drop exactly those, for the rest of the process: Orbax's loggers, records logged from Orbax's code,
    and thread, finalizer and asyncio errors raised in Orbax's code. Every other thread's error, log
    line and warning is reported as before."""
    logging.getLogger("orbax").setLevel(logging.CRITICAL)
    for name in ("absl", "asyncio"):
        logging.getLogger(name).addFilter(_OrbaxRecords())
    thread_hook, unraisable_hook = threading.excepthook, sys.unraisablehook
    threading.excepthook = lambda args: None if _from_orbax(args.exc_traceback) else thread_hook(args)
    sys.unraisablehook = lambda unraisable: None if _orbax_error(unraisable.exc_value, unraisable.exc_traceback) \
        else unraisable_hook(unraisable)


class RunCheckpoints:
    def __init__(self, directory: epath.Path, keep: int, async_save: bool):
        """Checkpoints in `directory`: a local folder or a remote one (gs://)."""
        silence_orbax()
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
        with contextlib.suppress(Exception):  # its writers may still be adding files to the folder removed below
            self.manager.wait_until_finished()
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
