"""Random tiny Hugging Face Llamas built offline by transformers, the reference our models are compared with
(torch and transformers are imported only inside: tests marked `torch` use them)."""

import numpy as np

# initializer_range 0.1 (not 0.02) so logits are O(1) and a wrong detail shows well above 1e-4.
BASE = dict(vocab_size=128, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
            max_position_embeddings=256, initializer_range=0.1, rms_norm_eps=1e-5)


CONFIGS = {
    # Llama 3 / 3.1: GQA 4:1, theta 500000, "llama3" rope scaling active within 64 positions.
    "llama3": dict(BASE, num_attention_heads=8, num_key_value_heads=2, head_dim=16,
                   rope_theta=500000.0, tie_word_embeddings=False,
                   rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                     high_freq_factor=4.0, original_max_position_embeddings=32)),
    # Llama 3.2: tied input/output embeddings, explicit head_dim != hidden / heads.
    "llama3.2": dict(BASE, num_attention_heads=4, num_key_value_heads=2, head_dim=24,
                     rope_theta=500000.0, tie_word_embeddings=True,
                     rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0,
                                       high_freq_factor=4.0, original_max_position_embeddings=16)),
    # Llama 2: multi-head attention, theta 10000, no scaling, eps 1e-6.
    "llama2": dict(BASE, num_attention_heads=4, num_key_value_heads=4, rope_theta=10000.0,
                   rms_norm_eps=1e-6, tie_word_embeddings=False),
}


def build_hf_llama(kind: str, path, seed: int = 0, **save_kwargs):
    """Build a random transformers Llama of `kind`, save it to `path`, return it (eval mode)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**CONFIGS[kind])).eval()
    model.save_pretrained(path, **save_kwargs)
    return model


def hf_logits(model, tokens: np.ndarray, **kwargs) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.as_tensor(np.asarray(tokens)), **kwargs).logits.float().numpy()


def tiny_reference(tmp_path):
    """(a 500-token SentencePiece tokenizer of the sample corpus, a random transformers Llama for it,
    the folder the Llama was saved to)."""
    import torch
    import transformers

    from entigraph_jax.data import load_source, load_tokenizer, train_sentencepiece

    tok = load_tokenizer(train_sentencepiece([d.text for d in load_source("sample")], tmp_path / "sp", 500))
    torch.manual_seed(0)
    reference = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=500, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, initializer_range=0.2)).eval()
    reference.save_pretrained(tmp_path / "hf")
    return tok, reference, tmp_path / "hf"
