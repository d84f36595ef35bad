"""SBP synthesis written as it is made: an interrupted run continues to the documents of an uninterrupted one."""

import json

import pytest
from flax import nnx

from entigraph_jax.data import load_source, load_tokenizer, read_records, train_sentencepiece
from entigraph_jax.models import Llama, LlamaConfig
from entigraph_jax.models.sampling import Sampler
from entigraph_jax.sbp.synthesize import SynthesisError, SynthesizeSettings, synthesize
from tests.helpers.sbp import SEPARATOR


class Interrupted(Sampler):
    """The real sampler, stopped (as by Ctrl-C) when it is asked for its `stop_at`-th batch."""

    def __init__(self, *args, stop_at: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls, self.stop_at = 0, stop_at

    def generate(self, prompts, params):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return super().generate(prompts, params)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    docs = load_source("sample")
    tok = load_tokenizer(train_sentencepiece([d.text for d in docs], tmp_path_factory.mktemp("sp"), 500))
    model = Llama(LlamaConfig(vocab_size=500, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2,
                              num_kv_heads=1, head_dim=16, max_position_embeddings=512), rngs=nnx.Rngs(0))
    settings = SynthesizeSettings(num_docs=14, batch_size=2, commit_every=4, max_new_tokens=6, max_seed_chars=200,
                                  seed=5)
    return docs, tok, model, settings


def test_an_interrupted_synthesis_continues_to_the_uninterrupted_documents(parts, tmp_path):
    docs, tok, model, settings = parts
    whole = synthesize(docs, Sampler(model, tok), settings, SEPARATOR, tmp_path / "whole")
    expected = list(read_records(tmp_path / "whole"))
    assert whole.documents == len(expected) > 8 and whole.documents + whole.dropped == 14

    folder = tmp_path / "resumed"
    for _ in range(2):  # stopped at its 4th batch: one commit (2 batches) made, a third batch written uncommitted
        with pytest.raises(KeyboardInterrupt):
            synthesize(docs, Interrupted(model, tok, stop_at=4), settings, SEPARATOR, folder)
        progress = json.loads((folder / "progress.json").read_text())
        assert progress["seeds"] % settings.commit_every == 0 and len(progress["shards"]) == progress["seeds"] // 4
        assert sorted(p.name for p in folder.glob("*.array_record*")) == progress["shards"]  # nothing half made
    resumed = synthesize(docs, Sampler(model, tok), settings, SEPARATOR, folder)
    assert resumed == whole
    assert list(read_records(folder)) == expected  # nothing lost, nothing twice, in the same order


def test_a_rerun_with_other_settings_is_refused_by_name(parts, tmp_path):
    docs, tok, model, settings = parts
    folder = tmp_path / "synthetic"
    with pytest.raises(KeyboardInterrupt):
        synthesize(docs, Interrupted(model, tok, stop_at=3), settings, SEPARATOR, folder)
    before = sorted(folder.iterdir())
    other = SynthesizeSettings(**{**settings.__dict__, "temperature": 0.5})
    with pytest.raises(SynthesisError, match=f"{folder}: synthesized so far with other settings \\(temperature\\); "
                                             "delete the folder to start over"):
        synthesize(docs, Sampler(model, tok), other, SEPARATOR, folder)
    assert sorted(folder.iterdir()) == before  # nothing already written is touched
