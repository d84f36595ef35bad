"""Our embedder on a tiny random Qwen3 embedding checkpoint against transformers, pooled as Qwen3-Embedding's
model card pools: the last token's hidden state (the tokenizer ends each text with <|endoftext|>), normalized."""

import json

import numpy as np
import pytest
import tokenizers

from entigraph_jax.data import load_source
from entigraph_jax.models.embedding import ModelEmbedder
from entigraph_jax.models.hf import CheckpointError

pytestmark = pytest.mark.torch
END = "<|endoftext|>"


def qwen3_embedding_checkpoint(folder):
    """A Qwen3Model (no LM head, tensors without the `model.` prefix) and a byte-level BPE tokenizer whose
    post-processor appends <|endoftext|>, as Qwen3-Embedding's does."""
    import torch
    import transformers

    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=400, special_tokens=[END, "<|im_end|>"],
                                             initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([d.text for d in load_source("sample")], trainer)
    bpe.post_processor = tokenizers.processors.TemplateProcessing(
        single=f"$A {END}", pair=f"$A {END} $B {END}", special_tokens=[(END, bpe.token_to_id(END))])
    folder.mkdir()
    bpe.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|im_end|>", "pad_token": END,
                                                           "tokenizer_class": "PreTrainedTokenizerFast"}))
    torch.manual_seed(0)
    model = transformers.Qwen3Model(transformers.Qwen3Config(
        vocab_size=bpe.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=True,
        max_position_embeddings=512, initializer_range=0.2)).eval()
    model.save_pretrained(folder)
    return model


def model_card_embeddings(model, folder, texts, max_length):
    """Qwen3-Embedding's model card, with transformers: left padding, last-token pooling, L2 normalization."""
    import torch
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(folder, padding_side="left")
    batch = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        last = model(**batch).last_hidden_state[:, -1]  # left padding: every row's last token is its own
    return torch.nn.functional.normalize(last, p=2, dim=1).numpy()


def test_qwen3_embeddings_equal_the_model_card_s(tmp_path):
    folder = tmp_path / "qwen3-embedding"
    model = qwen3_embedding_checkpoint(folder)
    docs = [d.text for d in load_source("sample")]
    texts = [docs[0][:300], "A short one.", docs[1][:900], docs[2][:50], docs[3][:2000]]  # 2000 chars: truncated
    reference = model_card_embeddings(model, folder, texts, max_length=256)
    embedder = ModelEmbedder(str(folder), batch=2, max_tokens=256)
    ours = embedder.embed(texts)
    assert ours.shape == reference.shape and embedder.pooling == "last"
    assert len(embedder.tokenizer.encode_framed(texts[4])) > 256  # the long text was cut as the tokenizer cuts
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(ours * reference, axis=1)) >= 0.9999
    assert np.max(np.abs(ours @ ours.T - reference @ reference.T)) < 1e-4  # the similarities mining reads


def test_an_unsupported_pooling_is_named(tmp_path):
    folder = tmp_path / "qwen3-embedding"
    qwen3_embedding_checkpoint(folder)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    with pytest.raises(CheckpointError, match=r"1_Pooling/config.json: pooling pooling_mode_cls_token is not "
                                              "supported; expected one of last, mean"):
        ModelEmbedder(str(folder))
