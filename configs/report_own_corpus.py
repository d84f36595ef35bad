"""The before/after report on your own corpus: the base model and the trained one on your questions
(written by `configs/questions_own_corpus.py`), the forgetting check and perplexities.

As it stands it is the README's CPU try-out (the quickstart's tiny model as the base, the bundled
`examples/own_corpus/`, a hashing embedder for open-book, two short samples per closed-book question after
one worked example, no harness tasks: their datasets come from the Hub). At real scale:

    python -m entigraph_jax.evaluate report --config configs/report_own_corpus.py \
        --config.models=/ckpt/Llama-3.2-1B,workdir/own/cpt/hf --config.labels=base,cpt \
        --config.corpus=folder:YOUR_FOLDER \
        --config.heldout=hf:Salesforce/wikitext:config=wikitext-103-raw-v1,split=test,max_documents=200 \
        --config.evaluate.tasks.closed_book.sampling.samples=8 \
        --config.evaluate.tasks.closed_book.sampling.max_new_tokens=300 \
        --config.evaluate.tasks.closed_book.sampling.shots=5 --config.evaluate.tasks.open_book.top_k=8 \
        --config.evaluate.tasks.open_book.chunk_size=1024 --config.evaluate.tasks.open_book.embedder.backend=openai \
        --config.tasks=closed_book,open_book,loglik,perplexity,harness \
        --config.evaluate.tasks.harness.tasks=arc_easy,hellaswag,piqa,winogrande \
        --config.evaluate.tasks.harness.limit=500

(closed-book as the paper's protocol: temperature 0.1, up to 300 new tokens, 8 samples as the released code,
64 in the paper's text; the OpenAI embedder reads OPENAI_API_KEY).
"""

from entigraph_jax.evaluate.report import ReportSettings


def get_config():
    c = ReportSettings().to_config()
    c.models = ("workdir/quickstart/hf", "workdir/own/cpt/hf")
    c.labels = ("base", "cpt")
    c.questions = "workdir/own/questions/questions.jsonl"
    c.corpus = "folder:examples/own_corpus"
    c.heldout = "folder:examples/heldout"  # text neither the base nor the trained model ever saw
    c.output_dir = "workdir/own/report"
    for sampled in ("closed_book", "open_book"):  # the tiny model's 2048 positions
        c.evaluate.tasks[sampled].sampling.update(samples=2, max_new_tokens=32, shots=1)
    c.evaluate.tasks.open_book.update(top_k=2, chunk_size=512)
    c.evaluate.tasks.open_book.embedder.backend = "hashing"
    c.evaluate.tasks.perplexity.seq_len = 128  # the tiny model's rows (examples/heldout is about 480 tokens)
    return c
