"""The evaluation settings: every key with its default, meaning and check; recipes start from
`base_config()`."""

import dataclasses

import ml_collections

from entigraph_jax.clients import EmbedderSettings, RerankerSettings
from entigraph_jax.data import TokenizerSettings
from entigraph_jax.runs import SPLITS
from entigraph_jax.scalars import FigureLogSettings
from entigraph_jax.settings import Settings, at_least, positive, section, setting

from .contamination import ContaminationSettings
from .harness import HarnessSettings
from .quality import SamplingSettings
from .served import ServedSettings
from .summary import SummarySettings

SAMPLED = ("closed_book", "open_book", "summary")  # the modes that sample answers: ours or a served model's
MODES = ("closed_book", "open_book", "loglik", "perplexity", "summary", "harness", "contamination")
RERANKERS = ("none", "http", "query_likelihood")
DTYPES = ("float32", "bfloat16", "float16")


@dataclasses.dataclass(frozen=True)
class EvalModelSettings(Settings):
    path: str = setting("", "the checkpoint: a Hugging Face folder (train's export, any Llama) or an Orbax folder")
    param_dtype: str = setting("float32", "dtype of the loaded weights", choices=DTYPES)
    dtype: str = setting("", "compute dtype of matmuls and activations (\"\": param_dtype)", choices=("", *DTYPES))


def _rag_embedder() -> EmbedderSettings:
    return EmbedderSettings(backend="openai", model="text-embedding-3-large")  # the paper's


@dataclasses.dataclass(frozen=True)
class RagSettings(Settings):
    embedder: EmbedderSettings = section(_rag_embedder, "what embeds chunks and questions (the paper: OpenAI's "
                                         "text-embedding-3-large)")
    chunk_size: int = setting(1024, "characters per chunk (recursive splitting, no overlap; the paper: 1024)",
                              check=positive)
    retrieval_max_k: int = setting(128, "chunks retrieved by similarity per question (the paper: 128)",
                                   check=positive)
    rerank: str = setting("none", "none | http (a Cohere-compatible /rerank server, rag.reranker) | "
                          "query_likelihood (the evaluated model)", choices=RERANKERS)
    reranker: RerankerSettings = section(RerankerSettings, "rerank=http: the /rerank server")
    top_k: int = setting(8, "chunks put in the prompt, best last (the paper: 16 for the base model, 8 after CPT)",
                         check=positive)


@dataclasses.dataclass(frozen=True)
class PerplexitySettings(Settings):
    seq_len: int = setting(512, "tokens per scored row", check=positive)
    batch: int = setting(8, "rows per forward pass", check=positive)


@dataclasses.dataclass(frozen=True)
class EvaluateSettings(Settings):
    model: EvalModelSettings = section(EvalModelSettings)
    tokenizer: TokenizerSettings = section(TokenizerSettings)
    source: str = setting("sample", "the documents: a QuALITY load_source spec (any spec for perplexity), e.g. "
                          "quality:dev")
    mode: str = setting("closed_book", "closed_book (the paper's) | open_book (RAG) | loglik (fast) | perplexity | "
                        "summary (closed-book summaries judged claim by claim) | harness (lm-evaluation-harness tasks: "
                        "harness.*) | contamination (the questions' 13-grams in training sources; no model)",
                        choices=MODES)
    split: str = setting("test", "the headline: test (articles by title, the last 80%, as the paper reports) | "
                         "tune | all", choices=SPLITS)
    max_questions: int = setting(0, "0: every question", check=at_least(0))
    sampling: SamplingSettings = section(SamplingSettings)
    served: ServedSettings = section(ServedSettings, "sampling through a served model (closed_book, open_book, "
                                     "summary): an OpenAI-compatible server or vLLM started for the run")
    rag: RagSettings = section(RagSettings)
    loglik_batch: int = setting(16, "rows per forward pass in loglik mode", check=positive)
    perplexity: PerplexitySettings = section(PerplexitySettings)
    summary: SummarySettings = section(SummarySettings, "mode=summary: the paper's Appendix I.2")
    harness: HarnessSettings = section(HarnessSettings, "mode=harness: lm-evaluation-harness tasks (the harness extra)")
    contamination: ContaminationSettings = section(ContaminationSettings, "mode=contamination: the source's "
                                                   "questions against training text")
    output: str = setting("", "the report (\"\": <checkpoint>.quality_<mode>.json next to the checkpoint; "
                          "mode=contamination needs one)")
    log: FigureLogSettings = section(FigureLogSettings, "the headline figures (eval/<mode>/...) to TensorBoard and "
                                     "W&B too, at the step a train run's export was trained to")


def base_config() -> ml_collections.ConfigDict:
    return EvaluateSettings().to_config()
