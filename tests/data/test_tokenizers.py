"""SentencePiece and tokenizer.json behind one interface, against the libraries' own references."""


import pytest
import sentencepiece as spm

from entigraph_jax.data import (
    TokenizerError,
    TrainedTokenizerSettings,
    load_source,
    load_tokenizer,
    train_sentencepiece,
)
from tests.helpers.tokenizers import build_bpe_tokenizer

TEXTS = ["The Ice Warden drove a cart of eight barrels across Kelsomyr.",
         "Ünïcödé, 日本語 and emoji ✓ survive byte fallback.", ""]


@pytest.fixture(scope="module")
def sentencepiece_model(tmp_path_factory):
    corpus = [d.text for d in load_source("sample")]
    return train_sentencepiece(corpus, tmp_path_factory.mktemp("spm") / "sample", vocab_size=600)


def test_sentencepiece_train_and_round_trip(sentencepiece_model):
    tok = load_tokenizer(sentencepiece_model)
    assert (tok.vocab_size, tok.bos_id, tok.eos_id, tok.pad_id) == (600, 1, 2, 3)
    reference = spm.SentencePieceProcessor(model_file=str(sentencepiece_model))
    ids = tok.encode_batch(TEXTS)
    assert ids == [reference.encode(t) for t in TEXTS]
    assert [tok.decode(i) for i in ids] == TEXTS
    assert load_tokenizer(sentencepiece_model.parent).encode(TEXTS[0]) == ids[0]  # a folder works too


def test_a_vocabulary_too_large_for_the_corpus_names_the_setting(tmp_path):
    with pytest.raises(TokenizerError, match=r"^a 50000-token vocabulary is more than this corpus makes "
                                             r"\(at most \d+ tokens\)$"):
        train_sentencepiece(["a tiny corpus"], tmp_path / "x", vocab_size=50000)
    settings = TrainedTokenizerSettings(train_vocab_size=50000)
    with pytest.raises(TokenizerError, match=r"^config: tokenizer.train_vocab_size=50000 is more than the corpus "
                                             r"makes \(at most \d+ tokens\): set it to \d+ or less"):
        settings.prepare(tmp_path / "tokenizer", ["a tiny corpus"])
    assert not (tmp_path / "tokenizer" / "sp.model").exists()


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory):
    """A Llama-3-style byte-level BPE tokenizer.json (plus tokenizer_config.json), built offline."""
    return build_bpe_tokenizer(tmp_path_factory.mktemp("hf"), ["<|begin_of_text|>", "<|end_of_text|>"], 400)


@pytest.mark.torch
def test_tokenizer_json_matches_transformers(tokenizer_json):
    import transformers

    tok = load_tokenizer(tokenizer_json.parent)
    reference = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json))
    ids = tok.encode_batch(TEXTS)
    assert ids == [reference.encode(t, add_special_tokens=False) for t in TEXTS]
    assert [tok.decode(i) for i in ids] == TEXTS
    assert tok.bos_id == reference.convert_tokens_to_ids("<|begin_of_text|>")
    assert tok.eos_id == reference.convert_tokens_to_ids("<|end_of_text|>")
    assert tok.pad_id is None and tok.vocab_size == len(reference)


def test_special_tokens_found_without_tokenizer_config(tokenizer_json, tmp_path):
    (tmp_path / "tokenizer.json").write_bytes(tokenizer_json.read_bytes())
    tok = load_tokenizer(tmp_path / "tokenizer.json")
    assert (tok.bos_id, tok.eos_id) == (0, 1)


def test_bad_tokenizer_files(tmp_path):
    with pytest.raises(TokenizerError, match=r"nothing.model: no such tokenizer file"):
        load_tokenizer(tmp_path / "nothing.model")
    (tmp_path / "broken.model").write_bytes(b"not a sentencepiece model")
    with pytest.raises(TokenizerError, match=r"broken.model: not a SentencePiece model"):
        load_tokenizer(tmp_path / "broken.model")
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(TokenizerError, match=r"tokenizer.json: not a Hugging Face tokenizer.json"):
        load_tokenizer(tmp_path / "tokenizer.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TokenizerError, match=r"empty: no tokenizer.json or \*.model"):
        load_tokenizer(tmp_path / "empty")
