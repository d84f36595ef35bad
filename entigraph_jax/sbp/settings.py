"""The SBP settings: one config for the four steps; recipes in `configs/sbp_*.py` start here."""

import dataclasses

import ml_collections

from entigraph_jax.clients import EmbedderSettings
from entigraph_jax.data import TrainedTokenizerSettings, spec_problem
from entigraph_jax.settings import Settings, at_least, section, setting
from entigraph_jax.train.settings import TrainSettings

from .mine import MineSettings
from .synthesize import SynthesizeSettings

SYNTHESIZER_INITS = ("baseline", "config")


@dataclasses.dataclass(frozen=True)
class SBPSettings(Settings):
    workdir: str = setting("", "every step's output goes under this folder (also --workdir)")
    corpus: str = setting("", "any load_source spec: the real documents (seeds, pairs, and the real share of step 4)",
                          check=spec_problem)
    separator: str = setting("\n\n### Related document:\n\n", "between d1 and d2, in training and in synthesis")
    tokenizer: TrainedTokenizerSettings = section(TrainedTokenizerSettings, "the vocabulary every step shares")
    embedder: EmbedderSettings = section(EmbedderSettings, "what embeds the documents for pair mining")
    mine: MineSettings = section(MineSettings)
    synthesizer: TrainSettings = section(TrainSettings, "step 2: training of p(d2 | d1); data.source, tokenizer "
                                         "and data.rows (whole: a pair per row, never split) are filled in")
    synthesizer_init: str = setting("baseline", "baseline: fine-tune the baseline's checkpoint (the paper) | "
                                    "config: as synthesizer.model says", choices=SYNTHESIZER_INITS)
    synthesize: SynthesizeSettings = section(SynthesizeSettings)
    joint: TrainSettings = section(TrainSettings, "every arm's training: the same model and compute (joint.max_steps); "
                                   "data.source, data.epochs, data.sources and tokenizer are filled in")
    real_fraction: float = setting(0.625, "share of real rows in SBP's joint training, exact; the rest is synthetic "
                                   "text, each document seen once (the paper: 0.625 at 200B tokens, 0.875 for the "
                                   "3B model and 0.75 for the 6B at 1T)",
                                   check=lambda v: None if 0 < v < 1 else "must be in (0, 1)")
    oracle_corpus: str = setting("", "more unique real documents: an oracle arm at the same budget (\"\": none)",
                                 check=spec_problem)
    measure_documents: int = setting(10_000, "documents (and pairs) per arm the measures of step 3b read, drawn "
                                     "at random (0: all)", check=at_least(0))
    eval_source: str = setting("", "held-out documents every arm is scored on (loss and perplexity)",
                               check=spec_problem)
    downstream_source: str = setting("", "documents with QuALITY-style questions: every arm's log-likelihood "
                                     "accuracy (general benchmarks: joint.hooks.harness.tasks, scored zero-shot "
                                     "with joint.hooks.harness.num_fewshot=0, after each arm's last step)",
                                     check=spec_problem)


def base_config() -> ml_collections.ConfigDict:
    return SBPSettings().to_config()
