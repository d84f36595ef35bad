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
    c.split = "test"  # the headline: test (articles by title, the last 80%, as the paper reports) | tune | all
    c.max_questions = 0  # 0: every question
    c.sampling = ml_collections.ConfigDict(dict(
        samples=8,  # answers sampled per question (the paper: 8)
        temperature=0.1,  # sampling temperature (the paper: 0.1 closed-book; open-book 0.1 base, 0.3 CPT)
        max_new_tokens=300,  # per answer (the paper: 300)
        n_samples=0,  # parsed answers that vote, in sampling order (0: all; 1: the released notebook's scoring)
        shots=5,  # worked examples before each question (the paper: 5; fewer for a short context window)
        seed=0,  # sampling seed
        batch_questions=8,  # questions decoded together
    ))
    c.rag = ml_collections.ConfigDict(dict(
        embedder="openai",  # openai (an /embeddings endpoint; the paper: text-embedding-3-large) | gemini | hashing
        model="text-embedding-3-large",  # the embedding model's name (openai, gemini)
        base_url="https://api.openai.com/v1",  # the /embeddings server (openai) or Gemini endpoint ("": default)
        api_key_file="",  # a file whose first line is the embedder's key, if not in the environment
        chunk_size=1024,  # characters per chunk (recursive splitting, no overlap; the paper: 1024)
        retrieval_max_k=128,  # chunks retrieved by similarity per question (the paper: 128)
        rerank="none",  # none | http (a Cohere-compatible /rerank server) | query_likelihood (the evaluated model)
        rerank_model="rerank-english-v3.0",  # rerank=http: the model (the paper: Cohere rerank-english-v3.0)
        rerank_base_url="https://api.cohere.com/v2",  # rerank=http: the server holding /rerank
        rerank_key_file="",  # rerank=http: a key file if COHERE_API_KEY is not set
        top_k=8,  # chunks put in the prompt, best last (the paper: 16 for the base model, 8 after CPT)
        cache_dir="",  # embedding cache ("": <checkpoint>.embeddings next to the checkpoint)
    ))
    c.loglik_batch = 16  # rows per forward pass in loglik mode
    c.perplexity = ml_collections.ConfigDict(dict(
        seq_len=512,  # tokens per scored row
        batch=8,  # rows per forward pass
    ))
    c.output = ""  # the report ("": <checkpoint>.quality_<mode>.json next to the checkpoint)
    return c
