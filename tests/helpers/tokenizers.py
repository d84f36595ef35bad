"""Byte-level BPE tokenizers trained on the sample corpus, with the special tokens a family names."""

import json

import tokenizers


def build_bpe_tokenizer(folder, special_tokens: list[str], vocab_size: int, add_bos: bool = True, **config):
    """A Llama-3-style byte-level BPE tokenizer.json trained on the sample corpus (its post-processor
    adds BOS unless not `add_bos`), with a tokenizer_config.json naming the first two special tokens
    BOS and EOS (plus `config`); returns the json path."""
    from entigraph_jax.data import load_source

    bpe = tokenizers.Tokenizer(tokenizers.models.BPE())
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens,
                                             initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([d.text for d in load_source("sample")], trainer)
    bos = special_tokens[0]
    if add_bos:
        bpe.post_processor = tokenizers.processors.TemplateProcessing(  # as Llama 3's: BOS before every text
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bpe.token_to_id(bos))])
    bpe.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": special_tokens[0], "eos_token": special_tokens[1], **config}))
    return folder / "tokenizer.json"
