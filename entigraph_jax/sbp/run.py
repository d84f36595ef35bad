"""The SBP steps over one workdir, as the SBP paper runs them; each step is skipped when its output
exists, so a rerun picks up where a run stopped (an interrupted training step resumes from its
checkpoints). Every training arm has the same model and step budget (`joint.max_steps`) and is
scored on the held-out documents (`eval_source`) and, with `downstream_source`, on their questions.

    workdir/tokenizer/   the shared vocabulary (trained on the corpus when tokenizer.path is empty)
    workdir/baseline/    step 0: the repetition baseline, the real documents repeated
    workdir/pairs/       step 1: pair records (kind sbp_pair)
    workdir/synthesizer/ step 2: "d1 <separator> d2" with the loss on d2 only, fine-tuned from the
                         baseline's checkpoint (the paper's synthesizer is the baseline LM, fine-tuned)
    workdir/synthetic/   step 3: synthesized records (kind sbp, with the seed's doc_id), as many as the
                         budget needs (`budget.Budget`)
                         step 3b (measure): repetition, duplicates, copying of the seed and relevance
                         to it, for every arm's training text (`measure.py`), in the summary
    workdir/joint/       step 4: SBP, every synthetic row once, real rows mixed in at exactly real_fraction
    workdir/oracle/      step 4, with `oracle_corpus`: more unique real documents at the same budget
    workdir/summary.json
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from pathlib import Path

import jax
import numpy as np

from entigraph_jax.config import ConfigError
from entigraph_jax.data import RecordWriter, Tokenizer
from entigraph_jax.errors import UserError
from entigraph_jax.evaluate.task import metric
from entigraph_jax.models import load, make_mesh
from entigraph_jax.models.embedding import make_embedder
from entigraph_jax.models.sampling import Sampler
from entigraph_jax.outputs import json_text
from entigraph_jax.runs import TrainRun
from entigraph_jax.train import TrainSettings, train
from entigraph_jax.train.plan import plan as plan_memory
from entigraph_jax.train.plan import report as plan_report
from entigraph_jax.train.setup import initialize_distributed

from . import hosts
from .budget import Budget, BudgetError
from .corpus import Corpus, Records
from .measure import first_texts, measure, sample
from .mine import embed_corpus, neighbours, pair_records
from .neighbours import MiningError
from .ring_search import Layout, ring_mesh, ring_search
from .ring_search import plan as plan_mining
from .settings import SBPSettings
from .synthesize import synthesize

STEPS = ("baseline", "mine", "synthesizer", "synthesize", "measure", "train")


@dataclasses.dataclass(frozen=True)
class SBPSummary:
    """What the steps run so far produced (also `workdir/summary.json`); None where a step has not run."""

    pairs: int | None = None  # step 1: related pairs mined
    synthesizer_init: str | None = None  # step 2: the checkpoint the synthesizer started from ("": new)
    synthesizer_loss: float | None = None  # step 2: the synthesizer's final training loss
    synthetic: int | None = None  # step 3: documents synthesized and kept
    synthetic_tokens: int | None = None  # step 3: their training tokens (BOS + text + EOS)
    dropped_copies: int | None = None  # step 3: synthesized documents dropped as copies of their seed
    measures: dict | None = None  # step 3b: {"baseline", "sbp", "oracle"}: what each arm trains on, measured
    budget: dict | None = None  # every arm's training tokens and the SBP arm's synthetic share
    train: dict | None = None  # {"baseline", "sbp", "oracle"}: steps, tokens, loss, held-out and downstream scores


def plan(config: SBPSettings, hardware: str | None, compile_step: bool = True) -> str:
    """The budget of the arms, and the train planner's memory and hours for an arm and for the synthesizer.
    The vocabulary is the configured tokenizer's where it loads here, else `tokenizer.train_vocab_size`."""
    joint = config.joint
    budget = Budget(joint.max_steps, joint.data.global_batch, joint.data.seq_len, config.real_fraction)
    arms = 3 if config.oracle_corpus else 2
    lines = [f"budget: {budget.describe()}; {arms} arms ({arms * budget.tokens / 1e9:.3g}B tokens in all)"]
    vocabulary = {"tokenizer.train_vocab_size": config.tokenizer.train_vocab_size}
    try:
        vocabulary["tokenizer.path"] = str(config.tokenizer.load().path) if config.tokenizer.path else ""
    except UserError as e:
        if not config.tokenizer.train_vocab_size:
            raise ConfigError(f"config: tokenizer.path does not load here ({e}); set tokenizer.train_vocab_size to "
                              "the vocabulary's size (Llama 3: 128256) to plan with it") from e
        lines.append(f"vocabulary: tokenizer.train_vocab_size={config.tokenizer.train_vocab_size} ({e})")
    for name, section in (("each arm (joint)", joint), ("synthesizer", config.synthesizer)):
        result = plan_memory(section.override(vocabulary), hardware, compile_step=compile_step)
        lines += [f"\n{name}:", plan_report(result)]
    if config.mine.plan_documents and hardware:
        lines += ["", plan_mining(config.mine, hardware, compile_step)]
    return "\n".join(lines)


def scoring_hooks(config: SBPSettings, steps: int) -> dict:
    """The hook settings every arm trains with: held-out perplexity on `eval_source`, log-likelihood accuracy
    on `downstream_source`, and the harness where `joint.hooks.harness.tasks` names benchmarks; each after
    the arm's last step unless its every_steps says otherwise."""
    hooks, changes = config.joint.hooks, {}
    for task, source in (("perplexity", config.eval_source), ("loglik", config.downstream_source)):
        if source:
            changes.update({f"hooks.{task}.source": source,
                            f"hooks.{task}.every_steps": getattr(hooks, task).every_steps or steps})
    if hooks.harness.tasks:
        changes["hooks.harness.every_steps"] = hooks.harness.every_steps or steps
    return changes


class SBP:
    def __init__(self, config: SBPSettings):
        if not config.workdir:
            raise ConfigError("config: workdir is empty")
        if not config.corpus:
            raise ConfigError("config: corpus is empty; set a load_source spec of the real documents")
        if config.joint.max_steps <= 0:
            raise ConfigError("config: joint.max_steps must be positive: it is the compute budget of step 4")
        self.config = config
        self.root = Path(config.workdir).absolute()
        self.pairs, self.synthetic = self.root / "pairs", self.root / "synthetic"  # record folders
        self.baseline, self.synthesizer = TrainRun(self.root / "baseline"), TrainRun(self.root / "synthesizer")
        self.summary_path = self.root / "summary.json"
        self.summary = json.loads(self.summary_path.read_text()) if self.summary_path.is_file() else {}

    @functools.cached_property
    def corpus(self) -> Corpus:
        """The real documents, read from record shards a record at a time (`corpus.py`); process 0 writes
        the copy where one is needed."""
        if hosts.leader():
            Corpus(self.config.corpus, self.root / "corpus")
        hosts.barrier("sbp: the corpus")
        return Corpus(self.config.corpus, self.root / "corpus")

    @property
    def corpus_source(self) -> str:
        """The real documents as the training arms read them: the record shards `corpus` reads, so the token
        cache is built a shard at a time whatever the configured source."""
        return f"records:{self.corpus.records.location}"

    def tokenizer(self) -> Tokenizer:
        """The shared vocabulary: the configured one, or one trained on the corpus into workdir/tokenizer."""
        return self.config.tokenizer.prepare(self.root / "tokenizer", (d.text for d in self.corpus))

    def seed_texts(self, records: list[dict]) -> list[str]:
        """The seed document of each synthetic record: by its position (`seed_index`), or by its id where an
        earlier version wrote none (the corpus read once for those ids)."""
        wanted = {r["doc_id"] for r in records if "seed_index" not in r}
        by_id = {d.doc_id: d.text for d in self.corpus if d.doc_id in wanted} if wanted else {}
        return [self.corpus[r["seed_index"]].text if "seed_index" in r else by_id[r["doc_id"]] for r in records]

    @property
    def budget(self) -> Budget:
        j = self.config.joint
        return Budget(j.max_steps, j.data.global_batch, j.data.seq_len, self.config.real_fraction)

    def save_summary(self) -> None:
        if hosts.leader():
            self.summary_path.write_text(json_text(self.summary, indent=2))

    def mine(self) -> None:
        if not self.pairs.is_dir():
            c, e = self.config.mine, self.config.embedder
            name = f"{e.backend}:{e.model}" if e.model else e.backend
            if len(self.corpus) < 2:
                raise MiningError(f"pair mining needs at least 2 documents, got {len(self.corpus)}")
            if hosts.count() > 1 and c.index != "sharded":
                raise ConfigError(f"config: mine.index={c.index} searches in one process; over {hosts.count()} "
                                  "processes set mine.index=sharded")
            mesh = ring_mesh()  # each process embeds and searches for the rows its devices hold
            layout = Layout.of(len(self.corpus), c.block, mesh) if c.index == "sharded" else None
            start, stop = (layout.start, layout.stop) if layout else (0, len(self.corpus))
            embeddings = embed_corpus(self.corpus, make_embedder(e), self.root / "embeddings", c.embed_chunk,
                                      start, stop)
            scores, ids = (ring_search(embeddings, layout, c.k, mesh, c.dtype) if layout
                           else neighbours(embeddings, c))
            if not hosts.summed(int(np.sum((scores >= c.min_similarity) & (scores < c.max_similarity))))[0]:
                raise ConfigError(f"config: no pair has a similarity in [{c.min_similarity}, "
                                  f"{c.max_similarity}); lower mine.min_similarity or raise mine.k")
            partial = self.pairs.with_name(f"{self.pairs.name}.partial")
            hosts.fresh(partial)
            written = 0
            with RecordWriter(partial, prefix=f"pairs-p{hosts.index():05d}") as writer:
                for record in pair_records(self.corpus, scores, ids, name, c, self.config.separator, start):
                    writer.write(record)
                    written += 1
            self.summary["pairs"] = hosts.summed(written)[0]
            hosts.publish(partial, self.pairs)

    def _train_settings(self, base: TrainSettings, source: str, run: TrainRun, **changes) -> TrainSettings:
        tokenizer = self.tokenizer()
        return base.override({"data.source": source, "workdir": str(run.root), "tokenizer.path": str(tokenizer.path),
                              "tokenizer.add_bos": self.config.tokenizer.add_bos, **changes})

    def train_synthesizer(self) -> None:
        if self.synthesizer.export.is_dir():  # exported at the end of a finished run
            return
        changes = {"export.hf": True, "data.rows": "whole"}  # every d2 token trained with its d1
        if self.config.synthesizer_init == "baseline":
            if not self.baseline.export.is_dir():
                raise ConfigError(f"{self.baseline.export}: no baseline yet; run the baseline step first "
                                  "(or set synthesizer_init=config)")
            changes["model.path"] = str(self.baseline.export)
        cfg = self._train_settings(self.config.synthesizer, f"records:{self.pairs}", self.synthesizer, **changes)
        self.summary["synthesizer_init"] = cfg.model.path
        self.summary["synthesizer_loss"] = train(cfg).final_loss

    def synthesize(self) -> None:
        if not self.synthetic.is_dir():
            c, budget = self.config.synthesize, self.budget
            if c.num_docs:
                budget.check_plan(c.num_docs, c.max_new_tokens + 2)
            checkpoint = self.synthesizer.export
            if not checkpoint.is_dir():
                raise ConfigError(f"{checkpoint}: no synthesizer yet; run the synthesizer step first")
            mesh = make_mesh(1, -1, 1, devices=jax.local_devices())  # rows over this process's devices
            sampler = Sampler(load(checkpoint, c.param_dtype, mesh=mesh), self.tokenizer(), mesh=mesh)
            # a rerun with as many processes continues it
            partial = self.synthetic.with_name(f"{self.synthetic.name}.partial"
                                               + (f"-{hosts.count()}" if hosts.count() > 1 else ""))
            out = synthesize(self.corpus, sampler, c, self.config.separator, partial, str(checkpoint),
                             budget.synthetic_tokens)
            documents, dropped, tokens = hosts.summed(out.documents, out.dropped, out.tokens)
            if not documents:
                raise ConfigError(f"config: all {c.num_docs} synthesized documents were copies of their seeds")
            hosts.publish(partial, self.synthetic)
            self.summary.update(synthetic=documents, synthetic_tokens=tokens, dropped_copies=dropped)

    def measure(self) -> None:
        if self.summary.get("measures"):
            return
        count, embedder, low = self.config.measure_documents, make_embedder(self.config.embedder), \
            self.config.mine.min_similarity
        separator = self.config.separator
        mined = [(r["text"], r["prompt"].removesuffix(separator)) for r in sample(Records(self.pairs), count)]
        drawn = sample(Records(self.synthetic), count)
        synthetic = list(zip([r["text"] for r in drawn], self.seed_texts(drawn), strict=True))
        measures = {"baseline": measure([d.text for d in sample(self.corpus, count)], mined, embedder, low),
                    "sbp": measure([t for t, _ in synthetic], synthetic, embedder, low)}
        # the paper reports pair copying rather than filtering it: our filter's share of every sample drawn
        kept, dropped = self.summary["synthetic"], self.summary.get("dropped_copies", 0)
        measures["sbp"]["copying"]["dropped_as_copies"] = dropped / (kept + dropped)
        if self.config.oracle_corpus:
            measures["oracle"] = measure(first_texts(self.config.oracle_corpus, count), [], embedder, low)
        self.summary["measures"] = measures

    def train_arm(self, name: str, source: str, real: str = "", once: bool = False) -> None:
        """One arm at the shared budget, scored by the held-out and downstream hooks; kept in the summary with
        the target tokens it trained, counted by training. With `real`, `source` (synthetic) is seen once and
        `real` fills real_fraction of the rows; with `once`, `source` is read once (an oracle: no document
        twice), and an arm whose source runs out first stops the run."""
        results = self.summary.setdefault("train", {})
        if name in results:
            return
        budget, folder = self.budget, TrainRun(self.root / ("joint" if name == "sbp" else name))
        self.summary["budget"] = {"tokens_per_arm": budget.tokens, "real_fraction": budget.real_fraction,
                                  "synthetic_tokens_needed": budget.synthetic_tokens}
        changes = {"data.epochs": 1 if real or once else budget.steps,
                   "data.sources": ((real, budget.real_fraction),) if real else (),
                   "export.hf": self.config.joint.export.hf or name == "baseline",  # the synthesizer starts from it
                   **scoring_hooks(self.config, budget.steps)}
        run = train(self._train_settings(self.config.joint, source, folder, **changes))
        budget.check_arm(name, run.steps, source if once else "")
        scored = {key.split(".")[1] for key in changes if key.startswith("hooks.")} | {
            name for name, value in self.config.joint.hooks.to_dict().items() if value["every_steps"]}
        scores = {k: v for hook in sorted(scored) for k, v in run.last_matching(metric(hook, "")).items()}
        results[name] = {"final_loss": run.final_loss, "steps": run.steps, "tokens": run.tokens_trained, **scores,
                         "workdir": str(run.root)}
        self.save_summary()

    def train_baseline(self) -> None:
        self.train_arm("baseline", self.corpus_source)

    def train_joint(self) -> None:
        if "sbp" not in self.summary.get("train", {}):
            if self.summary.get("synthetic_tokens") is None:
                raise BudgetError(f"{self.summary_path}: no synthetic token count (synthesized by an earlier version); "
                                  "delete the synthetic folder and rerun the synthesize step")
            self.budget.check_corpus(self.summary["synthetic"], self.summary["synthetic_tokens"])
        self.train_arm("sbp", f"records:{self.synthetic}", self.corpus_source)
        if self.config.oracle_corpus:
            self.train_arm("oracle", self.config.oracle_corpus, once=True)

    def run(self, steps=STEPS) -> SBPSummary:
        initialize_distributed(self.config.joint.distributed)  # every step runs in every process
        self.root.mkdir(parents=True, exist_ok=True)
        actions = {"baseline": self.train_baseline, "mine": self.mine, "synthesizer": self.train_synthesizer,
                   "synthesize": self.synthesize, "measure": self.measure, "train": self.train_joint}
        for number, step in enumerate(steps, 1):
            print(f"sbp: step {step} ({number} of {len(steps)})", file=sys.stderr)
            actions[step]()
            self.save_summary()
        return SBPSummary(**self.summary)
