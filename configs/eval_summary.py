"""Closed-book summaries as the paper's Appendix I.2 scores them: the instruction-tuned model writes
each article's summary from memory with the short prompt ("Summarize the article {title} by
{author} for me.") and the long one ("Write an extremely long and detailed article regarding the
book {title} by {author}."); gpt-4-turbo splits every summary into atomic claims and judges each
against the article (false, or true and salient / cosmetic); sQuALITY's human summaries of the same
stories are judged the same way, and the model's false and salient counts are reported against
theirs. Articles: those of QuALITY train + dev that sQuALITY has (matched by Gutenberg id). The
judge's prompts are ours: the paper does not print them (docs/protocol.md).

The paper compares three instruction-tuned arms; each is its CPT recipe, then the paper's
instruction tuning (`instruct_llama3_8b_ultrachat_paper.py`) in its own workdir, then this:

    git clone https://github.com/nyu-mll/SQuALITY   # its data/v1-3/txt/*.jsonl hold the human summaries
    for arm in quality raw rephrase; do  # EntiGraph, Raw and Rephrase CPT
      python -m entigraph_jax.train --config configs/instruct_llama3_8b_ultrachat_paper.py \
          --config.model.path=workdir/cpt_llama3_8b_$arm/hf --config.workdir=workdir/instruct_$arm
      python -m entigraph_jax.evaluate --config configs/eval_summary.py \
          --config.model.path=workdir/instruct_$arm/hf --config.output=workdir/eval_summary/$arm.json
    done

OPENAI_API_KEY must be set for the judge (or tasks.summary.judge.* pointed at another server).
"""

from entigraph_jax.evaluate.settings import base_config


def get_config():
    c = base_config()
    c.model.update(path="workdir/instruct_llama3_8b_ultrachat_paper/hf", param_dtype="bfloat16")
    c.source = "quality:QuALITY.v1.0.1.htmlstripped.train,QuALITY.v1.0.1.htmlstripped.dev"
    c.task = "summary"
    c.split = "all"
    c.tasks.summary.update(human="SQuALITY/data/v1-3/txt", prompts=("short", "long"), max_new_tokens=2048)
    c.tasks.summary.judge.update(backend="openai", model="gpt-4-turbo", base_url="https://api.openai.com/v1",
                           temperature=0.0)
    return c
