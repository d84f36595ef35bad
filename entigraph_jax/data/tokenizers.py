"""One tokenizer interface over SentencePiece `.model` files (Llama 2, Gemma, Mistral) and Hugging
Face `tokenizer.json` files (Llama 3, Qwen, SmolLM2, ...), and training a SentencePiece vocabulary.

Whether a text starts with BOS follows the tokenizer itself, as transformers does: `add_bos_token`
in `tokenizer_config.json` when it says, otherwise what the tokenizer.json post-processor adds (Llama
3 adds `<|begin_of_text|>`; Qwen and SmolLM2 add nothing). A SentencePiece model adds BOS (Llama 2,
Gemma). The chat template is the folder's own (`chat_template` in `tokenizer_config.json`, or
`chat_template.jinja`), rendered by `chat.py`."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm
import tokenizers

from entigraph_jax.errors import UserError
from entigraph_jax.settings import Settings, at_least, setting


class TokenizerError(UserError):
    """A tokenizer file that cannot be loaded or trained."""


class Tokenizer:
    """`encode_batch` (no special tokens: the pipeline adds BOS / EOS itself), `decode`, ids."""

    path: Path
    vocab_size: int
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    add_bos: bool = True  # whether a text starts with BOS (see the module docstring)
    chat_template: str | None = None  # the Jinja chat template shipped with the tokenizer
    special_tokens: dict[str, str] = {}  # bos_token, eos_token, ... as text, for the chat template

    def bos(self) -> list[int]:
        """What a text starts with: [BOS] when the tokenizer adds one, else nothing."""
        return [self.bos_id] if self.add_bos and self.bos_id is not None else []

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids of `text` (special tokens written in it are recognised) and each one's character span."""
        raise TokenizerError(f"{self.path}: chat templates need a tokenizer.json tokenizer")

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_framed(self, text: str) -> list[int]:
        """Ids of `text` framed as the tokenizer itself frames a text (its special tokens around it)."""
        return self.bos() + self.encode(text)

    def token_id(self, token: str) -> int | None:
        """The id of a special (or any single) token, None if the vocabulary lacks it."""
        raise NotImplementedError

    def token_texts(self, count: int) -> list[str | None]:
        """The text of ids 0..count-1 one by one (None for special tokens and ids past the vocabulary)."""
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

    def token_texts(self, count):
        texts = []
        for i in range(min(count, self.vocab_size)):
            if self._sp.is_control(i) or self._sp.is_unknown(i):
                texts.append(None)
            elif self._sp.is_byte(i):  # <0x41>: one byte, a character only when it is ASCII
                byte = int(self._sp.id_to_piece(i)[3:5], 16)
                texts.append(chr(byte) if byte < 0x80 else "\ufffd")
            else:
                texts.append(self._sp.id_to_piece(i).replace("\u2581", " "))
        return texts + [None] * (count - len(texts))

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
        try:
            named = json.loads(config.read_text()) if config.is_file() else {}
        except json.JSONDecodeError as e:
            raise TokenizerError(f"{config}: not valid JSON ({e})") from e
        self.bos_id = self._special(named.get("bos_token"), _BOS_NAMES)
        self.eos_id = self._special(named.get("eos_token"), _EOS_NAMES)
        self.pad_id = self._special(named.get("pad_token"), _PAD_NAMES)
        self.special_tokens = {
            key: self._tok.id_to_token(token_id)
            for key, token_id in (("bos_token", self.bos_id), ("eos_token", self.eos_id),
                                  ("pad_token", self.pad_id), ("unk_token", self._special(named.get("unk_token"), ())))
            if token_id is not None
        }
        if isinstance(named.get("add_bos_token"), bool):
            self.add_bos = named["add_bos_token"]
        else:  # what the post-processor puts before a text
            with_specials = self._tok.encode("a", add_special_tokens=True).ids
            self.add_bos = self.bos_id is not None and with_specials[:1] == [self.bos_id] != self.encode("a")[:1]
        self.chat_template = _chat_template(named, path.parent)

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

    def encode_with_offsets(self, text):
        encoding = self._tok.encode(text, add_special_tokens=False)
        return encoding.ids, encoding.offsets

    def encode_framed(self, text):  # the post-processor's framing (Qwen3-Embedding: <|endoftext|> after the text)
        return self._tok.encode(text, add_special_tokens=True).ids

    def decode(self, ids):
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def token_id(self, token):
        return self._tok.token_to_id(token)

    def token_texts(self, count):
        special = {i for i, added in self._tok.get_added_tokens_decoder().items() if added.special}
        n = min(count, self.vocab_size)
        texts = self._tok.decode_batch([[i] for i in range(n)], skip_special_tokens=False)
        return [None if i in special else t for i, t in enumerate(texts)] + [None] * (count - n)


def _chat_template(config: dict, folder: Path) -> str | None:
    """The default chat template of a tokenizer folder: `chat_template.jinja`, else the config's
    `chat_template` (a string, or a list of named templates of which "default" is taken)."""
    file = folder / "chat_template.jinja"
    if file.is_file():
        return file.read_text()
    template = config.get("chat_template")
    if isinstance(template, list):
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    return template if isinstance(template, str) and template.strip() else None


ADD_BOS = ("auto", "always", "never")
def check_vocabulary(tokenizer: Tokenizer, embeddings: int) -> None:
    """A `TokenizerError` if `tokenizer` has ids a model with `embeddings` rows cannot look up (a
    tokenizer paired with another model's checkpoint)."""
    if tokenizer.vocab_size > embeddings:
        raise TokenizerError(f"{tokenizer.path}: the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                             f"{embeddings} embeddings; use the checkpoint's own tokenizer (tokenizer.path=\"\")")


TRAINED_VOCABULARY = "sp.model"  # the file a vocabulary trained on the corpus is written to


@dataclasses.dataclass(frozen=True)
class TokenizerSettings(Settings):
    """The `tokenizer` section of every command that reads text."""

    path: str = setting("", "a .model, tokenizer.json or a folder holding one (\"\": the checkpoint's own)")
    add_bos: str = setting("auto", "auto: BOS before each document as the tokenizer does (Llama: yes, Qwen: no) | "
                           "always | never", choices=ADD_BOS)

    def load(self, default_path: str | os.PathLike = "") -> Tokenizer:
        """The tokenizer at `path`, else at `default_path` (a checkpoint's folder)."""
        if not (self.path or default_path):
            raise TokenizerError("config: tokenizer.path is empty and there is no checkpoint to take one from")
        if not self.path and not Path(default_path).exists():
            raise TokenizerError(f"{default_path}: not a checkpoint (no such folder)")
        return load_tokenizer(self.path or default_path, self.add_bos)


@dataclasses.dataclass(frozen=True)
class TrainedTokenizerSettings(TokenizerSettings):
    """A command that can train its own vocabulary when it is given none (train, sbp)."""

    path: str = setting("", "a .model, tokenizer.json or folder; \"\": model.path's, or a SentencePiece one is "
                        "trained on the corpus")
    train_vocab_size: int = setting(0, "the vocabulary size when training one on the corpus", check=at_least(0))

    def prepare(self, folder: str | os.PathLike, texts: Iterable[str],
                default_path: str | os.PathLike = "") -> Tokenizer:
        """The configured tokenizer (or `default_path`'s); with neither, a SentencePiece vocabulary of
        `train_vocab_size` trained on `texts` into `folder` (once: a rerun finds it there)."""
        if self.path or default_path:
            return self.load(default_path)
        trained = Path(folder) / TRAINED_VOCABULARY
        if not trained.is_file():
            if not self.train_vocab_size:
                raise TokenizerError("config: tokenizer.train_vocab_size must be set to train a vocabulary "
                                     "(or set tokenizer.path)")
            try:
                train_sentencepiece(texts, trained.with_suffix(""), self.train_vocab_size)
            except VocabularyTooLarge as e:
                raise TokenizerError(f"config: tokenizer.train_vocab_size={self.train_vocab_size} is more than the "
                                     f"corpus makes (at most {e.most} tokens): set it to {e.most} or less, or "
                                     "give a tokenizer.path") from e
        return load_tokenizer(trained, self.add_bos)


def load_tokenizer(path: str | os.PathLike, add_bos: str = "auto") -> Tokenizer:
    """A `.model` SentencePiece file, a `tokenizer.json`, or a folder holding either. `add_bos`:
    "auto" (as the tokenizer does), "always" or "never" start a text with BOS."""
    if add_bos not in ADD_BOS:
        raise TokenizerError(f"add_bos={add_bos!r}; expected one of {ADD_BOS}")
    tokenizer = _load(Path(path))
    if add_bos != "auto":
        tokenizer.add_bos = add_bos == "always"
    return tokenizer


def _load(path: Path) -> Tokenizer:
    if path.is_dir():
        candidates = [path / "tokenizer.json", path / "tokenizer.model", *sorted(path.glob("*.model"))]
        found = [p for p in candidates if p.is_file()]
        if not found:
            raise TokenizerError(f"{path}: no tokenizer.json or *.model file in the folder")
        path = found[0]
    if not path.is_file():
        raise TokenizerError(f"{path}: no such tokenizer file or folder")
    if path.suffix == ".json":
        return HuggingFaceTokenizer(path)
    return SentencePieceTokenizer(path)


class VocabularyTooLarge(TokenizerError):
    """A SentencePiece vocabulary larger than its corpus can make; `most` is the largest it can."""

    def __init__(self, message: str, most: int):
        super().__init__(message)
        self.most = most


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
        most = re.search(r"Vocabulary size too high \(\d+\)\. Please set it to a value <= (\d+)", str(e))
        if most:
            raise VocabularyTooLarge(f"a {vocab_size}-token vocabulary is more than this corpus makes (at most "
                                     f"{most[1]} tokens)", int(most[1])) from e
        raise TokenizerError(f"training a {vocab_size}-token SentencePiece model: {e}") from e
    return model_prefix.with_suffix(".model")
