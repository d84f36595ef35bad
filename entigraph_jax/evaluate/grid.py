"""`python -m entigraph_jax.evaluate grid`: one evaluation at every combination of a few settings, the
combination picked on one split and reported on another — the paper's Appendix F.3, which tunes RAG's chunk
size, chunks in the prompt, their order and the temperature on the tune split and reports the test split
(`configs/eval_quality_rag_grid.py`). Every point's result is kept in `workdir` (`<key>=<value>_....json`);
a rerun scores only the points that have none. `grid.json` holds every point and the pick.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path

from entigraph_jax.config import ConfigError
from entigraph_jax.outputs import json_text
from entigraph_jax.settings import SettingError, Settings, section, setting

from .run import evaluate
from .scores import SPLITS
from .settings import EvaluateSettings
from .task import read_result


@dataclasses.dataclass(frozen=True)
class GridSettings(Settings):
    workdir: str = setting("", "every point's result, and grid.json (also --workdir)")
    evaluate: EvaluateSettings = section(EvaluateSettings, "the evaluation every point runs (output is set per "
                                         "point)")
    grid: tuple = setting((), "(key, (value, ...)) pairs: evaluate keys and the values tried; every combination "
                          "runs")
    pick_split: str = setting("tune", "the split the best point is picked on", choices=SPLITS)
    report_split: str = setting("test", "the split the picked point is reported on", choices=SPLITS)
    figure: str = setting("accuracy_answered", "the figure picked on, higher is better (the paper's: correct / "
                          "attempted)")

    def validate(self):
        for pair in self.grid:
            if len(pair) != 2 or not isinstance(pair[1], tuple | list) or not pair[1]:
                raise SettingError("grid", f"{pair!r} is not a (key, (value, ...)) pair")
        base = EvaluateSettings()
        for key, values in self.grid:
            for value in values:
                base.override({key: value})  # an unknown key or a bad value is one line now, not at its point


def point_name(changes: dict) -> str:
    """A point's file name: each key's last part and its value."""
    return "_".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in changes.items()).replace("/", "-")


def pick(points: list[dict], split: str) -> dict | None:
    """The point with the highest figure on `split` (the first of equals; points without one never win)."""
    scored = [p for p in points if p[split] is not None and not math.isnan(p[split])]
    return max(scored, key=lambda p: p[split]) if scored else None


def run_grid(config: GridSettings) -> dict:
    if not config.workdir or not config.grid:
        raise ConfigError("config: workdir and grid are required (grid: (key, (value, ...)) pairs)")
    root = Path(config.workdir)
    root.mkdir(parents=True, exist_ok=True)
    keys, points = [key for key, _ in config.grid], []
    for values in itertools.product(*(values for _, values in config.grid)):
        changes = dict(zip(keys, values, strict=True))
        output = root / f"{point_name(changes)}.json"
        result = read_result(output) if output.is_file() else evaluate(
            config.evaluate.override({**changes, "output": str(output)}))
        figures = {split: result.figures(split) for split in (config.pick_split, config.report_split)}
        points.append({"settings": changes, "output": str(output),
                       **{split: figures[split].get(config.figure) for split in figures},
                       **{f"{split}_questions": figures[split].get("total") for split in figures}})
    best = pick(points, config.pick_split)
    summary = {"figure": config.figure, "picked_on": config.pick_split, "reported_on": config.report_split,
               "picked": best, "points": points}
    (root / "grid.json").write_text(json_text(summary, indent=2))
    return summary


def show(summary: dict) -> str:
    """The picked point and its figures, as the command prints them."""
    best = summary["picked"]
    if best is None:
        return f"no point has a {summary['figure']} on the {summary['picked_on']} split"
    return json.dumps({"picked": best["settings"], summary["picked_on"]: best[summary["picked_on"]],
                       summary["reported_on"]: best[summary["reported_on"]], "points": len(summary["points"])},
                      indent=2)
