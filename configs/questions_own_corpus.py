"""Evaluation questions from your own documents (`method="questions"`): multiple-choice questions with a
supporting quote, checked by the generator with and without the document, written as QuALITY JSONL to
`output_dir/questions.jsonl` for every evaluation task.

    python -m entigraph_jax.generate --config configs/questions_own_corpus.py \
        --config.source=folder:my_docs --config.llm.backend=gemini --config.llm.model=gemini-2.5-flash \
        --config.llm.base_url= --dry_run

Any OpenAI-compatible server works too (`--config.llm.base_url=http://localhost:8000/v1`). Temperature 0:
the generator writes questions and answers them as a careful reader, not a creative writer.
"""

from entigraph_jax.generate.settings import base_config


def get_config():
    c = base_config()
    c.method = "questions"
    c.source = "sample"
    c.output_dir = "workdir/questions"
    c.llm.update(backend="openai", model="meta-llama/Llama-3.1-8B-Instruct", base_url="http://localhost:8000/v1",
                 max_concurrency=32, temperature=0.0, max_output_tokens=4096)
    c.questions.update(per_document=10)
    return c
