"""The SBP steps over one workdir, as the SBP paper runs them; each step is skipped when its output
exists, so a rerun picks up where a run stopped (an interrupted training step resumes from its
checkpoints). Every training arm has the same model and step budget (`joint.max_steps`) and is
scored on the held-out documents (`eval_source`) and, with `downstream_source`, on their questions.

    workdir/tokenizer/   the shared vocabulary (trained on the corpus when tokenizer.path is empty)
    workdir/baseline/    step 0: the repetition baseline, the real documents repeated
    workdir/pairs/       step 1: pair records (kind sbp_pair)
    workdir/synthesizer/ step 2: "d1 <separator> d2" with the loss on d2 only, fine-tuned from the
                         baseline's checkpoint (the paper's synthesizer is the baseline LM, fine-tuned)
    workdir/synthetic/   step 3: synthesized records (kind sbp, with the seed's doc_id)
    workdir/joint/       step 4: SBP, synthetic documents with real ones mixed in at real_fraction
    workdir/oracle/      step 4, with `oracle_corpus`: more unique real documents at the same budget
    workdir/summary.json
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path

from entigraph_jax.clients.embedders import make_embedder
from entigraph_jax.config import ConfigError
from entigraph_jax.data import RecordWriter, load_source, load_tokenizer, train_sentencepiece
from entigraph_jax.models import load, make_mesh
from entigraph_jax.models.sampling import Sampler
from entigraph_jax.train import train

from .mine import mine_pairs
from .synthesize import synthesize

STEPS = ("baseline", "mine", "synthesizer", "synthesize", "train")
SYNTHESIZER_INITS = ("baseline", "config")


@dataclasses.dataclass(frozen=True)
class SBPSummary:
    """What the steps run so far produced (also `workdir/summary.json`); None where a step has not run."""

    pairs: int | None = None  # step 1: related pairs mined
    synthesizer_init: str | None = None  # step 2: the checkpoint the synthesizer started from ("": new)
    synthesizer_loss: float | None = None  # step 2: the synthesizer's final training loss
    synthetic: int | None = None  # step 3: documents synthesized and kept
    dropped_copies: int | None = None  # step 3: synthesized documents dropped as copies of their seed
    train: dict | None = None  # {"baseline", "sbp", "oracle"}: steps, final, held-out loss, downstream accuracy


def write_folder(folder: Path, records: list[dict]) -> None:
    """Write records into a fresh folder, renamed into place once complete."""
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with RecordWriter(tmp) as writer:
        for record in records:
            writer.write(record)
    os.replace(tmp, folder)


class SBP:
    def __init__(self, config):
        if not config.workdir:
            raise ConfigError("config: workdir is empty")
        if not config.corpus:
            raise ConfigError("config: corpus is empty; set a load_source spec of the real documents")
        if config.joint.max_steps <= 0:
            raise ConfigError("config: joint.max_steps must be positive: it is the compute budget of step 4")
        if not 0 < config.real_fraction < 1:
            raise ConfigError(f"config: real_fraction={config.real_fraction} must be in (0, 1)")
        if config.synthesizer_init not in SYNTHESIZER_INITS:
            raise ConfigError(f"config: synthesizer_init={config.synthesizer_init!r}; expected one of "
                              f"{SYNTHESIZER_INITS}")
        self.config = config
        self.root = Path(config.workdir).absolute()
        self.docs = load_source(config.corpus)
        self.summary_path = self.root / "summary.json"
        self.summary = json.loads(self.summary_path.read_text()) if self.summary_path.is_file() else {}

    def tokenizer_path(self) -> str:
        if self.config.tokenizer.path:
            return self.config.tokenizer.path
        model = self.root / "tokenizer" / "sp.model"
        if not model.is_file():
            train_sentencepiece((d.text for d in self.docs), model.with_suffix(""),
                                self.config.tokenizer.train_vocab_size)
        return str(model)

    def save_summary(self) -> None:
        self.summary_path.write_text(json.dumps(self.summary, indent=2))

    def mine(self) -> None:
        folder = self.root / "pairs"
        if not folder.is_dir():
            c, e = self.config.mine, self.config.embedder
            embedder = make_embedder(e.kind, e.model, e.base_url, e.key_file, e.cache_dir)
            name = f"{e.kind}:{e.model}" if e.model else e.kind
            pairs = mine_pairs(self.docs, embedder, name, k=c.k, min_similarity=c.min_similarity,
                               max_similarity=c.max_similarity, separator=self.config.separator,
                               index=c.index, block=c.block)
            if not pairs:
                raise ConfigError(f"config: no pair has a similarity in [{c.min_similarity}, "
                                  f"{c.max_similarity}); lower mine.min_similarity or raise mine.k")
            write_folder(folder, pairs)
            self.summary["pairs"] = len(pairs)

    def _train_config(self, base, source: str, workdir: Path):
        cfg = copy.deepcopy(base)
        cfg.data.source, cfg.workdir = source, str(workdir)
        cfg.tokenizer.path = self.tokenizer_path()
        return cfg

    def train_synthesizer(self) -> None:
        workdir = self.root / "synthesizer"
        if (workdir / "hf").is_dir():  # exported at the end of a finished run
            return
        cfg = self._train_config(self.config.synthesizer, f"records:{self.root / 'pairs'}", workdir)
        cfg.export.hf = True
        if self.config.synthesizer_init == "baseline":
            baseline = self.root / "baseline" / "hf"
            if not baseline.is_dir():
                raise ConfigError(f"{baseline}: no baseline yet; run the baseline step first "
                                  "(or set synthesizer_init=config)")
            cfg.model.path = str(baseline)
        self.summary["synthesizer_init"] = cfg.model.path
        self.summary["synthesizer_loss"] = train(cfg).final_loss

    def synthesize(self) -> None:
        folder = self.root / "synthetic"
        if not folder.is_dir():
            c = self.config.synthesize
            checkpoint = self.root / "synthesizer" / "hf"
            if not checkpoint.is_dir():
                raise ConfigError(f"{checkpoint}: no synthesizer yet; run the synthesizer step first")
            mesh = make_mesh(1, -1, 1)  # rows over every local device
            sampler = Sampler(load(checkpoint, c.dtype, mesh=mesh),
                              load_tokenizer(self.tokenizer_path()), mesh=mesh)
            out = synthesize(self.docs, sampler, num_docs=c.num_docs, separator=self.config.separator,
                             seed=c.seed, temperature=c.temperature, max_new_tokens=c.max_new_tokens,
                             max_seed_chars=c.max_seed_chars, batch_size=c.batch_size,
                             near_copy_threshold=c.near_copy_threshold, synthesizer=str(checkpoint))
            if not out["records"]:
                raise ConfigError(f"config: all {c.num_docs} synthesized documents were copies of their seeds")
            write_folder(folder, out["records"])
            self.summary.update(synthetic=len(out["records"]), dropped_copies=out["dropped"])

    def train_arm(self, name: str, source: str, replay: str = "") -> None:
        """One arm at the shared budget, scored by the held-out and downstream hooks; kept in the summary."""
        results = self.summary.setdefault("train", {})
        if name in results:
            return
        budget, workdir = self.config.joint.max_steps, self.root / ("joint" if name == "sbp" else name)
        cfg = self._train_config(self.config.joint, source, workdir)
        cfg.data.update(epochs=budget, replay_source=replay, replay_rate=self.config.real_fraction if replay else 0.0)
        cfg.export.hf = cfg.export.hf or name == "baseline"  # the synthesizer starts from it
        for hook, hook_source in (("heldout_loss", self.config.eval_source),
                                  ("quality_loglik", self.config.downstream_source)):
            if hook_source:
                settings = cfg.hooks[hook]
                settings.update(source=hook_source, every_steps=settings.every_steps or budget)
        out = train(cfg)
        lines = Path(out.metrics).read_text().splitlines()
        rows = [r for r in map(json.loads, filter(str.strip, lines))]
        last = {key: next((r[key] for r in reversed(rows) if key in r), None)
                for key in ("eval_loss", "quality_loglik_acc")}
        results[name] = {"final_loss": out.final_loss, "steps": out.steps, **last, "workdir": str(workdir)}
        self.save_summary()

    def train_baseline(self) -> None:
        self.train_arm("baseline", self.config.corpus)

    def train_joint(self) -> None:
        self.train_arm("sbp", f"records:{self.root / 'synthetic'}", self.config.corpus)
        if self.config.oracle_corpus:
            self.train_arm("oracle", self.config.oracle_corpus)

    def run(self, steps=STEPS) -> SBPSummary:
        self.root.mkdir(parents=True, exist_ok=True)
        actions = {"baseline": self.train_baseline, "mine": self.mine, "synthesizer": self.train_synthesizer,
                   "synthesize": self.synthesize, "train": self.train_joint}
        for number, step in enumerate(steps, 1):
            print(f"sbp: step {step} ({number} of {len(steps)})", file=sys.stderr)
            actions[step]()
            self.save_summary()
        return SBPSummary(**self.summary)
