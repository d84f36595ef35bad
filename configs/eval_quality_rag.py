"""QuALITY open-book (RAG), the paper's setting for the base model: text-embedding-3-large over
1024-character chunks (no overlap, each prefixed with title / author / year), 128 retrieved per
question, Cohere rerank-english-v3.0, the best 16 in the prompt (best last), temperature 0.1, 64
samples of which one valid answer is picked at random (Appendix F.2).
For an EntiGraph CPT model the paper used 8 chunks at temperature 0.3: `eval_quality_rag_cpt.py`.
Needs OPENAI_API_KEY and COHERE_API_KEY (or any OpenAI-compatible /embeddings and Cohere-compatible
/rerank server: set rag.embedder.base_url / rag.reranker.base_url).

    python -m entigraph_jax.evaluate --config configs/eval_quality_rag.py \
        --config.model.path=/ckpt/Meta-Llama-3-8B --config.tokenizer.path=/ckpt/Meta-Llama-3-8B
"""

from entigraph_jax.evaluate.settings import base_config


def get_config():
    c = base_config()
    c.model.update(path="/ckpt/Meta-Llama-3-8B", param_dtype="bfloat16")
    c.source = "quality:QuALITY.v1.0.1.htmlstripped.train,QuALITY.v1.0.1.htmlstripped.dev"
    c.task = "open_book"
    rag = c.tasks.open_book
    rag.sampling.update(samples=64, selection="random_valid", temperature=0.1, max_new_tokens=300)  # Appendix F.2
    rag.embedder.update(backend="openai", model="text-embedding-3-large", base_url="https://api.openai.com/v1")
    rag.update(chunk_size=1024, retrieval_max_k=128, rerank="http", top_k=16)
    rag.reranker.update(model="rerank-english-v3.0", base_url="https://api.cohere.com/v2")
    return c
