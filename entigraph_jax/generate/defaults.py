"""The generation config schema with its defaults; recipes start from `base_config()`.

Keys that outside checks rely on: `llm.backend`, `llm.model`, `llm.base_url`, `llm.max_concurrency`,
`source` (what `load_source` takes) and `output_dir`. API keys are never config values: they come
from GEMINI_API_KEY / GOOGLE_API_KEY / OPENAI_API_KEY or `llm.api_key_file`.
"""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.method = "entigraph"  # entigraph | rephrase
    c.source = ""  # the documents: a load_source spec (quality:..., jsonl:..., text:..., records:..., sample)
    c.output_dir = ""  # records/, journal.sqlite and summary.json go here; a rerun resumes from the journal
    c.seed = 0  # seeds the share of entity triples asked for
    c.prompt_version = "v3"  # a folder of entigraph_jax/generate/prompts/; part of every request id
    c.shard_index = 0  # this machine's share of the documents ...
    c.num_shards = 1  # ... out of num_shards (then --merge joins the shards' records)
    c.retry_failed = True  # a rerun retries requests that failed before
    c.append = False  # True: add to an output_dir written with another model, method or prompt version
    c.llm = ml_collections.ConfigDict(dict(
        backend="openai",  # openai (vLLM, SGLang, llama.cpp, Ollama, OpenAI) | gemini | vllm (served here) | local
        mode="online",  # online: one call per request | batch: the provider's batch API at its batch price
        batch_size=0,  # batch mode: requests per batch (0: the provider's limit; bytes are kept within it too)
        poll_s=30.0,  # batch mode: seconds between status checks of the open batches
        model="",  # the model name the server knows; for backend=local a checkpoint folder
        base_url="http://localhost:8000/v1",  # the server (openai); "" for Gemini's own endpoint
        api_key_file="",  # a file whose first line is the key, if not in the environment
        tokenizer="",  # backend=local: its tokenizer (.model, tokenizer.json or a folder; "": the checkpoint's)
        local_dtype="",  # backend=local: dtype of the served weights ("": float32 on CPU, else bfloat16)
        json_mode=True,  # ask for a JSON object in the entity stage where the server supports it
        json_schema=True,  # ... shaped by the entity schema (structured outputs; JSON mode where refused)
        max_concurrency=32,  # requests in flight
        requests_per_minute=0.0,  # client-side rate limit (0: none)
        tokens_per_minute=0.0,  # client-side token rate limit, input + output (0: none)
        timeout_s=120.0,  # per request (HTTP backends; the local one decodes in batches, untimed)
        max_retries=6,  # per request, on 429, 5xx, timeouts and dropped connections
        max_failures_in_a_row=50,  # failed attempts with no answer between them that stop the run
        max_failure_fraction=0.1,  # a run ending with more failed requests than this share fails (exit 1)
        backoff_initial_s=1.0,  # first wait between retries (exponential with jitter, or Retry-After)
        backoff_max_s=60.0,  # longest wait between retries
        temperature=1.0,  # sampling temperature of every request
        max_output_tokens=2048,  # per request
        price_per_million_input=-1.0,  # USD; < 0: the price table's for llm.model (clients/prices.py)
        price_per_million_output=-1.0,  # USD; < 0: the price table's
        batch_discount=0.5,  # the share of the price a batch request pays
    ))
    c.llm.vllm = ml_collections.ConfigDict(dict(  # backend=vllm: starting a server if none answers at base_url
        command="vllm",  # the vllm executable (a path, or e.g. "python -m vllm.entrypoints.cli.main")
        args=(),  # more `vllm serve` arguments: ("--tensor-parallel-size", "8", "--max-model-len", "8192")
        startup_s=1200.0,  # seconds to wait for /health (weights download and compile)
    ))
    c.entigraph = ml_collections.ConfigDict(dict(
        entity_attempts=3,  # asks for the entity JSON before the document is recorded as failed
        max_entities=0,  # entities kept per document (0: all)
        max_pairs_per_doc=0,  # pair requests per document (0: every pair)
        triples_fraction=1.0,  # share of the entity triples asked for, in a seeded shuffled order after all pairs
        max_triples_per_doc=0,  # cap on triple requests per document (0: none; budget.* stops them too)
    ))
    c.rephrase = ml_collections.ConfigDict(dict(
        styles=("easy", "wiki", "academic", "qa"),  # WRAP styles to rewrite every document in
        samples=1,  # rewrites per style and document
        tokens_per_doc=0,  # > 0: more rounds of every style until each document has this many output tokens
    ))
    c.budget = ml_collections.ConfigDict(dict(
        max_requests=0,  # overall cap across reruns (0: none)
        max_output_tokens=0,  # overall cap across reruns (0: none)
    ))
    c.dry_run = ml_collections.ConfigDict(dict(
        entities_per_doc=20,  # --dry_run's guess where the journal has no entities yet
        entity_output_tokens=400,  # --dry_run's guess of an entity answer's length
        output_tokens=600,  # --dry_run's guess of a pair, triple or rephrase answer's length
    ))
    return c
