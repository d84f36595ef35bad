"""The evaluation config schema with its defaults; recipes start from `base_config()`."""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model = ml_collections.ConfigDict(dict(
        path="",  # the checkpoint: a Hugging Face folder (train's export, any Llama) or an Orbax folder
        dtype="float32",  # dtype of the loaded weights
        compute_dtype="",  # dtype of matmuls and activations ("": the same as dtype)
    ))
    c.tokenizer = ""  # a .model or tokenizer.json (or a folder holding one)
    c.source = "sample"  # the documents: a QuALITY load_source spec (any spec for perplexity), e.g. quality:dev
    c.mode = "closed_book"  # closed_book (the paper's) | open_book (RAG) | loglik (fast) | perplexity
    c.max_questions = 0  # 0: every question
    c.closed_book = ml_collections.ConfigDict(dict(
        samples=8,  # answers sampled per question; they vote (the paper: 8)
        temperature=0.1,  # sampling temperature (the paper: 0.1)
        max_new_tokens=300,  # per answer (the paper: 300)
        seed=0,  # sampling seed
        batch_questions=8,  # questions decoded together
    ))
    c.rag = ml_collections.ConfigDict(dict(
        embedder="hashing",  # hashing (offline) | openai (an /embeddings endpoint) | gemini
        model="",  # the embedding model's name (openai, gemini)
        base_url="",  # the /embeddings server (openai) or Gemini endpoint ("": the default)
        api_key_file="",  # a file whose first line is the key, if not in the environment
        top_k=8,  # chunks put in the prompt, best last
        chunk_size=1024,  # characters per chunk (recursive splitting, no overlap)
        rerank="none",  # none | query_likelihood (the evaluated model scores the question after each chunk)
        candidates=0,  # chunks retrieved for the reranker (0: 4 x top_k)
        cache_dir="",  # embedding cache ("": <checkpoint>.embeddings next to the checkpoint)
    ))
    c.loglik_batch = 16  # rows per forward pass in loglik mode
    c.perplexity = ml_collections.ConfigDict(dict(
        seq_len=512,  # tokens per scored row
        batch=8,  # rows per forward pass
    ))
    c.output = ""  # the report ("": <checkpoint>.quality_<mode>.json next to the checkpoint)
    return c
