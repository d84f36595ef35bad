"""The evaluation config schema with its defaults; recipes start from `base_config()`."""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model = ml_collections.ConfigDict(dict(
        path="",  # a Hugging Face folder (train's export, any Llama) or an Orbax folder from convert
        format="hf",  # hf | orbax
        dtype="float32", compute_dtype="",  # "" : the same as dtype
    ))
    c.tokenizer = ""  # a .model or tokenizer.json (or a folder holding one)
    c.source = "sample"  # a QuALITY load_source spec, e.g. quality:dev.htmlstripped
    c.mode = "closed_book"  # closed_book (the paper's) | open_book (RAG) | loglik (fast) | perplexity
    c.max_questions = 0  # 0: every question
    c.closed_book = ml_collections.ConfigDict(dict(samples=8, temperature=0.1, max_new_tokens=300, seed=0,
                                                   batch_questions=8))
    c.rag = ml_collections.ConfigDict(dict(
        embedder="hashing",  # hashing (offline) | openai (an /embeddings endpoint) | gemini
        model="", base_url="", api_key_file="", top_k=8, chunk_size=1024,
        rerank="none",  # none | query_likelihood (the evaluated model scores the question after each chunk)
        candidates=0,  # chunks retrieved for the reranker (0: 4 x top_k)
        cache_dir="",  # "": <checkpoint>.embeddings next to the checkpoint
    ))
    c.loglik_batch = 16
    c.perplexity = ml_collections.ConfigDict(dict(seq_len=512, batch=8))  # on any load_source spec
    c.output = ""  # "": <checkpoint>.quality_<mode>.json next to the checkpoint
    return c
