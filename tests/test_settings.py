"""Settings: one conversion from a config, every value checked there and named by its whole key."""

import json

import pytest

from entigraph_jax.config import ConfigError
from entigraph_jax.sweep.settings import SweepSettings
from entigraph_jax.train import TrainSettings


def test_a_config_round_trips_through_settings():
    settings = TrainSettings()
    assert TrainSettings.from_config(settings.to_config()) == settings
    assert TrainSettings.from_config(json.loads(json.dumps(settings.to_dict()))) == settings  # as checkpoints store it
    changed = settings.override({"data.seq_len": 256, "model.remat": "full", "hooks.perplexity.every_steps": 5})
    assert (changed.data.seq_len, changed.model.remat, changed.hooks.perplexity.every_steps) == (256, "full", 5)
    assert changed.data.global_batch == settings.data.global_batch and settings.data.seq_len == 2048  # a copy


@pytest.mark.parametrize("given, message", [
    ({"data": {"seq_len": "long"}}, "config: data.seq_len: expected int, got 'long'"),
    ({"data": {"seq_len": 0}}, "config: data.seq_len=0: must be positive"),
    ({"data": {"seq_lenn": 8}}, "config: unknown key data.seq_lenn"),
    ({"data": 8}, "config: data is a section; set its keys"),
    ({"model": {"remat": "most"}}, "config: model.remat='most': expected one of none, full, save_dots"),
    ({"optim": {"global_batch": 8}}, "config: unknown key optim.global_batch"),
    ({"data": {"replay_rate": 0.1}}, "config: data.replay_rate=0.1: set together with data.replay_source"),
    ({"data": {"sources": [["a", 0.6], ["b", 0.4]]}}, "config: data.sources=(('a', 0.6), ('b', 0.4)): the shares must "
                                                      "sum to less than 1"),
    ({"data": {"sources": ["text:x"]}}, "config: data.sources=('text:x',): expected (spec, share) pairs"),
    ({"mesh": {"data": -1, "fsdp": -1}}, "config: mesh.fsdp=-1: at most one of mesh.data, mesh.fsdp and mesh.tensor"),
    ({"hooks": {"perplexity": {"every_steps": -1}}}, "config: hooks.perplexity.every_steps=-1: must be >= 0"),
    ({"hooks": {"heldout_loss": {"every_steps": 5}}}, "config: hooks.heldout_loss is now hooks.perplexity (batches "
                                                      "is now max_batches"),
])
def test_each_bad_value_is_named_by_its_whole_key(given, message):
    with pytest.raises(ConfigError) as error:
        TrainSettings.from_config(given)
    assert str(error.value).startswith(message)


def test_a_nested_command_names_the_key_from_its_own_root():
    """The sweep embeds a train config: its errors say `train.` first."""
    with pytest.raises(ConfigError, match=r"^config: train.model.logits_chunk: 100 does not divide data.seq_len=2048"):
        SweepSettings.from_config({"train": {"model": {"logits_chunk": 100}}})
    with pytest.raises(ConfigError, match=r"^config: token_budgets=\(100, -5\): must be a non-empty list of positive"):
        SweepSettings.from_config({"token_budgets": [100, -5]})
    assert SweepSettings.from_config({"token_budgets": [100, 200]}).token_budgets == (100, 200)  # frozen: a tuple
