"""Short training runs from the quickstart recipe, and the run folder's layout moved (every reader must go
through `TrainRun`)."""

from entigraph_jax.config import load_config_file
from entigraph_jax.runs import TrainRun
from entigraph_jax.train import TrainSettings, train

from . import ROOT

QUICKSTART = ROOT / "configs" / "quickstart.py"


def quickstart(tmp_path=None, **overrides) -> TrainSettings:
    """The quickstart config, shortened: fewer epochs, logs every step."""
    defaults = {"data.epochs": 4, "log.every_steps": 1, "log.tensorboard": False, "export.hf": False}
    return TrainSettings.from_config(load_config_file(QUICKSTART)).override({**defaults, **overrides})


def train_in(config: TrainSettings, workdir) -> TrainRun:
    return train(config.override({"workdir": str(workdir)}))


def losses(workdir):
    return [row["loss"] for row in TrainRun(workdir).rows()]


def moved_train_layout(monkeypatch):
    """Training runs lay out their folders differently than they do: every reader must go through `TrainRun`."""
    for name, folder in (("export", "exported_model"), ("tokenizer_dir", "vocabulary"), ("metrics", "log.jsonl")):
        monkeypatch.setattr(TrainRun, name, property(lambda self, folder=folder: self.root / folder))
