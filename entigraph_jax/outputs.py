"""The folders a run writes: prepared with one-line errors, held by one run at a time, and published
with the permissions any other output of the user gets.

`prepare(path)` creates a folder and checks it can be written (a file in its place, a file as a
parent, a read-only folder: each one line). `hold(path)` is an exclusive lock for the run that
writes there: `path/.lock` names the holder's pid and host; a second run is refused, and a lock
left by a process that no longer runs on this host is taken over with a message. `staged(final)`
is the one way a folder is written whole: under a temporary name, then moved into place.
`json_text(value)` is the JSON every report, summary and metrics line is written as: strict, a figure
that is not a number (NaN, an infinity) written as null.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import math
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError

LOCK = ".lock"


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_text(value, **kwargs) -> str:
    """`json.dumps(value, **kwargs)` that strict parsers accept: NaN and infinities become null."""
    return json.dumps(_finite(value), allow_nan=False, **kwargs)


class OutputError(UserError):
    """An output folder that cannot be used."""


def prepare(path: str | os.PathLike, what: str = "output folder") -> Path:
    """`path` as an existing, writable folder, or an `OutputError` naming what is in the way."""
    path = Path(os.path.abspath(path))
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"{what} {path}: {parent} is a file, not a folder")
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"{what} {path}: cannot write there ({e.strerror or e})") from e
    return path


@contextlib.contextmanager
def hold(path: str | os.PathLike, what: str = "output folder"):
    """Hold `path` for this run (see the module docstring); released when the block ends."""
    path = prepare(path, what)
    lock = path / LOCK
    handle = open(lock, "a+")  # noqa: SIM115 (held open for the whole block)
    try:
        handle.seek(0)
        holder = _read_holder(handle.read())
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(_busy(path, what, holder)) from None
        here = socket.gethostname()
        if holder and holder.get("host") != here:  # a lock on a shared filesystem, from another machine
            raise OutputError(_busy(path, what, holder) + f"; if that job is gone, delete {lock}")
        if holder and holder.get("pid") != os.getpid():
            print(f"{what} {path}: taking over the lock of pid {holder.get('pid')}, which no longer runs",
                  file=sys.stderr)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": here,
                                 "since": datetime.datetime.now().isoformat(timespec="seconds")}))
        handle.flush()
        try:
            yield path
        finally:
            handle.seek(0)
            handle.truncate()  # an empty lock file is a free one
    finally:
        handle.close()  # also releases the flock


def _read_holder(text: str) -> dict | None:
    try:
        holder = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        return None
    return holder if isinstance(holder, dict) else None


def _busy(path: Path, what: str, holder: dict | None) -> str:
    who = f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}" if holder else "another run"
    return f"{what} {path}: in use by {who}; a second run there would repeat and mix its work"


def readable(path: Path) -> None:
    """Give every folder and file under `path` the modes the umask allows (as `mkdir` and `open` do)."""
    mask = os.umask(0)
    os.umask(mask)
    for root, _, files in os.walk(path):
        os.chmod(root, 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)


@contextlib.contextmanager
def staged(final: Path, replace: bool = False) -> Iterator[Path]:
    """A temporary folder beside `final` to write into, moved into place when the block ends (with
    the modes the umask allows: temporary folders are created private) and removed if the block
    raises, so readers never see a partial folder. `final` must be missing or an empty folder, else
    the move fails with an `OSError` (a race another writer won); with `replace`, a folder already
    there is swapped out and removed once the new one is in place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    old = None
    try:
        yield tmp
        readable(tmp)
        if replace and final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
        elif final.is_dir() and not any(final.iterdir()):
            final.rmdir()
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
