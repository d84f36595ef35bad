"""data: sources, tokenizers, chat records, ArrayRecord records, the token cache and the Grain pipeline.

`python -m entigraph_jax.data inspect PATH`. Owns everything between text on disk and token batches.
May import numpy, grain, array_record, sentencepiece, tokenizers (huggingface_hub, pyarrow and
tensorflow_datasets lazily);
of the project only the base layer (`errors`, `config`, `settings`, `outputs`); no stage above it.
"""

from .cache import TokenCache, build_token_cache
from .hub import HubDataset
from .hub_cache import build_source_cache
from .pipeline import Mixture, PackedRows, Pipeline, PipelineError, Rows, WholeRows, build_pipeline, subsample
from .records import RecordError, RecordWriter, read_records, write_records
from .sources import Document, Question, SourceError, load_source, unique_documents
from .spec import SourceSpec, spec_problem
from .tokenizers import (
    Tokenizer,
    TokenizerError,
    TokenizerSettings,
    TrainedTokenizerSettings,
    check_vocabulary,
    load_tokenizer,
    train_sentencepiece,
)

__all__ = [
    "Document", "HubDataset", "Mixture", "PackedRows", "Pipeline", "PipelineError", "Question", "RecordError",
    "RecordWriter", "Rows", "SourceError", "SourceSpec", "TokenCache", "Tokenizer", "TokenizerError",
    "TokenizerSettings", "TrainedTokenizerSettings", "WholeRows",
    "build_pipeline", "build_source_cache", "build_token_cache", "check_vocabulary", "load_source", "load_tokenizer",
    "read_records", "spec_problem", "subsample", "train_sentencepiece", "unique_documents", "write_records",
]
