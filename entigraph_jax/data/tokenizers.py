"""One tokenizer interface over SentencePiece `.model` files (Llama 2, Gemma, Mistral) and Hugging
Face `tokenizer.json` files (Llama 3), and training a SentencePiece vocabulary on a corpus."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm
import tokenizers

from entigraph_jax.errors import UserError


class TokenizerError(UserError):
    """A tokenizer file that cannot be loaded or trained."""


class Tokenizer:
    """`encode_batch` (no special tokens: the pipeline adds BOS / EOS itself), `decode`, ids."""

    path: Path
    vocab_size: int
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def token_id(self, token: str) -> int | None:
        """The id of a special (or any single) token, None if the vocabulary lacks it."""
        raise NotImplementedError


class SentencePieceTokenizer(Tokenizer):
    def __init__(self, path: Path, num_threads: int = -1):
        try:
            self._sp = spm.SentencePieceProcessor(model_file=str(path))
        except (OSError, RuntimeError) as e:
            raise TokenizerError(f"{path}: not a SentencePiece model ({e})") from e
        self.path, self._threads = path, num_threads
        self.vocab_size = self._sp.vocab_size()
        self.bos_id, self.eos_id, self.pad_id = (
            i if i >= 0 else None for i in (self._sp.bos_id(), self._sp.eos_id(), self._sp.pad_id())
        )

    def encode_batch(self, texts):
        return self._sp.encode(list(texts), num_threads=self._threads)

    def decode(self, ids):
        return self._sp.decode([int(i) for i in ids])

    def token_id(self, token):
        token_id = self._sp.piece_to_id(token)
        return token_id if token_id != self._sp.unk_id() or token == self._sp.id_to_piece(token_id) else None


# Special tokens by family, for tokenizer.json files that come without a tokenizer_config.json.
_BOS_NAMES = ("<|begin_of_text|>", "<s>", "<bos>")
_EOS_NAMES = ("<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>")
_PAD_NAMES = ("<pad>", "<|finetune_right_pad_id|>")


class HuggingFaceTokenizer(Tokenizer):
    def __init__(self, path: Path):
        try:
            self._tok = tokenizers.Tokenizer.from_file(str(path))
        except Exception as e:  # the Rust library raises bare Exception on malformed files
            raise TokenizerError(f"{path}: not a Hugging Face tokenizer.json ({e})") from e
        self.path = path
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        config = path.parent / "tokenizer_config.json"
        named = json.loads(config.read_text()) if config.is_file() else {}
        self.bos_id = self._special(named.get("bos_token"), _BOS_NAMES)
        self.eos_id = self._special(named.get("eos_token"), _EOS_NAMES)
        self.pad_id = self._special(named.get("pad_token"), _PAD_NAMES)

    def _special(self, configured, fallbacks) -> int | None:
        if isinstance(configured, dict):  # {"content": "<s>", ...} in older tokenizer_config files
            configured = configured.get("content")
        for name in ([configured] if configured else []) + list(fallbacks):
            token_id = self._tok.token_to_id(name)
            if token_id is not None:
                return token_id
        return None

    def encode_batch(self, texts):
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids):
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def token_id(self, token):
        return self._tok.token_to_id(token)


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """A `.model` SentencePiece file, a `tokenizer.json`, or a folder holding either."""
    path = Path(path)
    if path.is_dir():
        candidates = [path / "tokenizer.json", path / "tokenizer.model", *sorted(path.glob("*.model"))]
        found = [p for p in candidates if p.is_file()]
        if not found:
            raise TokenizerError(f"{path}: no tokenizer.json or *.model file in the folder")
        path = found[0]
    if not path.is_file():
        raise TokenizerError(f"{path}: no such tokenizer file")
    if path.suffix == ".json":
        return HuggingFaceTokenizer(path)
    return SentencePieceTokenizer(path)


def train_sentencepiece(
    texts: Iterable[str], model_prefix: str | os.PathLike, vocab_size: int, *, model_type: str = "bpe"
) -> Path:
    """Train a SentencePiece model (ids: unk 0, bos 1, eos 2, pad 3; byte fallback, so any text
    encodes) and return the `.model` path. A vocabulary larger than the corpus allows is an error."""
    model_prefix = Path(model_prefix)
    model_prefix.parent.mkdir(parents=True, exist_ok=True)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=(line for text in texts for line in text.splitlines() if line.strip()),
            model_prefix=str(model_prefix),
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=1.0,
            byte_fallback=True,
            unk_id=0, bos_id=1, eos_id=2, pad_id=3,
            num_threads=os.cpu_count() or 1,
            minloglevel=2,
        )
    except RuntimeError as e:
        raise TokenizerError(f"training a {vocab_size}-token SentencePiece model: {e}") from e
    return model_prefix.with_suffix(".model")
