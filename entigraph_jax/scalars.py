"""Figures by step to TensorBoard and W&B: training's metrics as it goes, and evaluate's and sweep's
figures when their `log.*` settings ask (W&B through the `wandb` extra, TensorBoard through tensorboardX)."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path

from .config import ConfigError
from .settings import Settings, setting


@dataclasses.dataclass(frozen=True)
class FigureLogSettings(Settings):
    tensorboard: str = setting("", "a TensorBoard folder to add the figures to (a train run's workdir/tb puts them "
                               "beside its curves; \"\": none)")
    wandb_project: str = setting("", "a W&B project to log the figures to (\"\": none; pip install "
                                 "'entigraph-jax[wandb]')")


class ScalarLog:
    """Scalars by step into a TensorBoard folder and a W&B run, each where one is set."""

    def __init__(self, tensorboard: str | os.PathLike | None, wandb_project: str, config: dict,
                 local_dir: str | os.PathLike, **wandb_kwargs):
        self._tb = self._wandb = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(tensorboard))
        if wandb_project:
            try:
                import wandb
            except ImportError as e:
                raise ConfigError("config: a W&B project is set (wandb_project) but wandb is not installed (pip "
                                  "install 'entigraph-jax[wandb]')") from e
            Path(local_dir).mkdir(parents=True, exist_ok=True)
            self._wandb = wandb.init(project=wandb_project, config=config, dir=str(local_dir), **wandb_kwargs)

    def write(self, step: int, scalars: Mapping[str, float]) -> None:
        if self._tb:
            for name, value in scalars.items():
                self._tb.add_scalar(name, value, step)
            self._tb.flush()
        if self._wandb:
            self._wandb.log(dict(scalars), step=step)

    def close(self) -> None:
        if self._tb:
            self._tb.close()
        if self._wandb:
            self._wandb.finish()


def numbers(tree: Mapping, prefix: str = "") -> dict[str, float]:
    """The finite numbers of a nested figure dict, keyed by their path joined with "/"."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(numbers(value, f"{name}/"))
        elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


def log_figures(settings: FigureLogSettings, rows: list[tuple[int, dict[str, float]]], config: dict,
                local_dir: str | os.PathLike, job: str) -> None:
    """(step, figures) rows, in increasing step order, to where `settings` say; nothing when neither is set."""
    if not (settings.tensorboard or settings.wandb_project):
        return
    log = ScalarLog(settings.tensorboard, settings.wandb_project, config, local_dir, job_type=job)
    try:
        for step, figures in rows:
            log.write(step, figures)
    finally:
        log.close()
