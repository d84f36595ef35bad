"""Where a run keeps its files: the workdir (a local folder or a `gs://` URI) and a local scratch folder.

Orbax writes checkpoints straight into the workdir (`etils.epath` and tensorstore speak gs://). The
files that need a local filesystem — metrics.jsonl (appended every log step; object stores cannot
append), TensorBoard events, the trained tokenizer, the loss plot, the Hugging Face export and the
token cache — are written in the scratch folder and copied into the workdir after every checkpoint
and at the end, so a run recreated on another VM (a preempted TPU) finds them beside its checkpoints
and resumes. A local workdir is its own scratch folder unless `log.local_dir` names another (then
the same copying runs, which is how the tests exercise it). One path class throughout: epath.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from pathlib import Path

from etils import epath

from entigraph_jax.config import ConfigError
from entigraph_jax.runs import TrainRun


def is_remote(path: str) -> bool:
    return "://" in str(path)


def workdir_path(workdir: str) -> epath.Path:
    if not workdir:
        raise ConfigError("config: workdir is empty; set it or pass --workdir")
    return epath.Path(workdir if is_remote(workdir) else os.path.abspath(workdir))


def scratch_path(workdir: epath.Path, local_dir: str) -> Path:
    """The local folder for the run's local files: `log.local_dir`, the workdir itself when local, or a
    folder under the system's temp dir named after the remote workdir."""
    if local_dir:
        return Path(os.path.abspath(local_dir))
    if not is_remote(str(workdir)):
        return Path(str(workdir))
    digest = hashlib.sha1(str(workdir).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / "entigraph_jax" / f"{Path(str(workdir)).name}-{digest}"


class Mirror:
    """Copies the local folder's run files into the workdir (a no-op when they are the same folder)."""

    def __init__(self, run: TrainRun, local: TrainRun):
        self.run, self.local = run, local
        self.active = Path(str(run.root)) != Path(str(local.root)) or is_remote(str(run.root))

    def pull(self) -> None:
        """Bring the run files a resumed run needs (metrics, tokenizer) into the local folder."""
        self._copy(self.run, self.local, TrainRun.RESUMED)

    def push(self, names: tuple[str, ...] = TrainRun.MIRRORED) -> None:
        self._copy(self.local, self.run, names)

    def _copy(self, source: TrainRun, target: TrainRun, names: tuple[str, ...]) -> None:
        if not self.active:
            return
        for name in names:
            if (source.root / name).exists():
                _copy(epath.Path(source.root / name), epath.Path(target.root / name))

    def describe(self) -> str:
        return f"local files in {self.local.root}, copied to {self.run.root} at every checkpoint" if self.active else ""


def _copy(source: epath.Path, target: epath.Path) -> None:
    """A file, or a folder tree, copied over whatever `target` held."""
    if source.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        for child in source.iterdir():
            _copy(child, target / child.name)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.{socket.gethostname()}.{os.getpid()}.partial"
    source.copy(partial, overwrite=True)
    partial.replace(target)
