"""The before/after report on your own corpus: the base model and the trained one on your questions
(`configs/questions_own_corpus.py` wrote them), the forgetting check and perplexities.

    python -m entigraph_jax.evaluate report --config configs/report_own_corpus.py \
        --config.models=workdir/base/hf,workdir/cpt/hf --config.corpus=text:my_docs

Closed-book sampling as the paper's protocol (temperature 0.1, 300 new tokens; 8 samples per question as
the released code, the paper's text 64); open-book needs an embedder (evaluate.rag.embedder, OpenAI's by
default: OPENAI_API_KEY); the harness tasks' datasets come from the Hugging Face Hub.
"""

from entigraph_jax.evaluate.report import ReportSettings


def get_config():
    c = ReportSettings().to_config()
    c.models = ("workdir/base/hf", "workdir/cpt/hf")
    c.questions = "workdir/questions/questions.jsonl"
    c.corpus = "workdir/questions/questions.jsonl"  # the documents themselves (the articles of the questions file)
    c.heldout = ""
    c.output_dir = "workdir/report"
    c.evaluate.harness.tasks = ("arc_easy", "hellaswag", "piqa", "winogrande")
    c.evaluate.harness.limit = 500
    return c
