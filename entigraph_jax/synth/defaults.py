"""The generation config schema with its defaults; recipes start from `base_config()`.

Keys that outside checks rely on: `llm.backend`, `llm.model`, `llm.base_url`, `llm.max_concurrency`,
`source` (what `load_source` takes) and `output_dir`. API keys are never config values: they come
from GEMINI_API_KEY / GOOGLE_API_KEY / OPENAI_API_KEY or `llm.api_key_file`.
"""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.method = "entigraph"  # entigraph | rephrase
    c.source = ""  # a load_source spec: quality:..., jsonl:..., text:..., records:..., sample
    c.output_dir = ""
    c.seed = 0
    c.prompt_version = "v1"
    c.shard_index = 0  # this machine's share of the documents ...
    c.num_shards = 1  # ... out of num_shards (then `--merge` joins the shards' records)
    c.retry_failed = True  # a rerun retries requests that failed before
    c.llm = ml_collections.ConfigDict(dict(
        backend="openai",  # openai (vLLM, SGLang, llama.cpp, Ollama, OpenAI) | gemini | local
        tokenizer="", local_dtype="bfloat16",  # local: model is a Hugging Face folder, served by our sampler
        model="", base_url="http://localhost:8000/v1", api_key_file="", json_mode=True,
        max_concurrency=32, requests_per_minute=0.0, tokens_per_minute=0.0, timeout_s=120.0,
        max_retries=6, backoff_initial_s=1.0, backoff_max_s=60.0,
        temperature=1.0, max_output_tokens=2048,
        price_per_million_input=0.0, price_per_million_output=0.0,  # for --dry_run's cost estimate
    ))
    c.entigraph = ml_collections.ConfigDict(dict(
        entity_attempts=3, max_entities=0, max_pairs_per_doc=0, triples_fraction=0.0, max_triples_per_doc=0,
    ))
    c.rephrase = ml_collections.ConfigDict(dict(
        styles=("easy", "wiki", "academic", "qa"), samples=1,
        tokens_per_doc=0,  # > 0: more rounds of every style until each document has this many output tokens
    ))
    c.budget = ml_collections.ConfigDict(dict(max_requests=0, max_output_tokens=0))  # 0: no cap
    c.dry_run = ml_collections.ConfigDict(dict(entities_per_doc=20, entity_output_tokens=400,
                                               output_tokens=600))  # guesses before entities are known
    return c
