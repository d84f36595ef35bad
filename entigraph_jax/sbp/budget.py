"""SBP's compute budget: every arm trains `joint.max_steps` steps of `global_batch` x `seq_len` tokens, and
the SBP arm takes `real_fraction` of its rows from the real documents (repeated as needed) and the rest
from the synthetic corpus, which is never repeated (the paper's rule: real data repeats, synthetic text
does not). So the synthetic corpus must hold at least the arm's synthetic rows; the number of documents to
synthesize follows from that and their mean length.
"""

from __future__ import annotations

import dataclasses
import math

from entigraph_jax.errors import UserError


class BudgetError(UserError):
    """A synthetic corpus too small for the step budget, or an arm that ended before it."""


@dataclasses.dataclass(frozen=True)
class Budget:
    steps: int
    global_batch: int
    seq_len: int
    real_fraction: float

    @property
    def tokens(self) -> int:
        """Training tokens of every arm."""
        return self.steps * self.global_batch * self.seq_len

    @property
    def synthetic_rows(self) -> int:
        """Rows of synthetic text in the SBP arm (one more than the mix's exact share, for its rounding)."""
        return math.ceil(self.steps * self.global_batch * (1 - self.real_fraction)) + 1

    @property
    def synthetic_tokens(self) -> int:
        """Synthetic training tokens (BOS + text + EOS per document) that fill those rows once."""
        return self.synthetic_rows * self.seq_len + 1

    def describe(self) -> str:
        return (f"joint.max_steps={self.steps} x {self.global_batch} rows x {self.seq_len} tokens = {self.tokens:,} "
                f"tokens per arm, {1 - self.real_fraction:.1%} synthetic (real_fraction={self.real_fraction}): "
                f"{self.synthetic_tokens:,} synthetic tokens, each seen once")

    def check_plan(self, num_docs: int, max_tokens_per_doc: int) -> None:
        """Before synthesis: `num_docs` documents of at most `max_tokens_per_doc` tokens must be able to fill it."""
        most = num_docs * max_tokens_per_doc
        if most < self.synthetic_tokens:
            raise BudgetError(f"config: synthesize.num_docs={num_docs} documents of at most {max_tokens_per_doc} "
                              f"tokens give at most {most:,} tokens, but {self.describe()}; set synthesize.num_docs=0 "
                              "(as many as the budget needs), raise it, or lower joint.max_steps")

    def check_corpus(self, documents: int, tokens: int) -> None:
        """Before the SBP arm: the synthetic corpus must fill its synthetic rows without repeating."""
        if tokens >= self.synthetic_tokens:
            return
        mean = tokens / max(documents, 1)
        more = math.ceil((self.synthetic_tokens - tokens) / max(mean, 1))
        raise BudgetError(f"the SBP arm would repeat synthetic text ({self.synthetic_tokens / max(tokens, 1):.2f} "
                          f"passes): {self.describe()}, but the synthetic corpus holds {tokens:,} tokens ({documents} "
                          f"documents, {mean:.0f} tokens each); synthesize about {more} more (delete the synthetic "
                          "folder and rerun with synthesize.num_docs=0, or a larger one) or lower joint.max_steps")

    def check_arm(self, name: str, steps: int, read_once: str = "") -> None:
        """After an arm: it trained the whole budget (its data did not run out). `read_once`: the source the
        arm reads each document of at most once."""
        if steps != self.steps:
            why = (f"{read_once} holds fewer than {self.tokens:,} tokens and is read once (no document twice): "
                   "give a larger one") if read_once else "its data ran out"
            raise BudgetError(f"the {name} arm trained {steps} steps of joint.max_steps={self.steps}: {why}, so the "
                              "arms are not compute-matched")
