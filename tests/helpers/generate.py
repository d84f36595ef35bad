"""Generation settings pointed at a fake LLM server."""

from entigraph_jax.config import apply_override, load_config_file
from entigraph_jax.generate.settings import GenerateSettings

from . import ROOT


def config_for(server, tmp_path, backend="openai", **overrides):
    config = load_config_file(ROOT / "configs" / "entigraph_sample.py")
    settings = {"output_dir": tmp_path / "out", "llm.backend": backend, "llm.model": "fake-model",
                "llm.base_url": server.base_url + ("/v1" if backend == "openai" else ""),
                "llm.backoff_initial_s": 0.01, "llm.max_concurrency": 8,
                "llm.timeout_s": 30,  # nothing hangs unless a test makes it: no retry on a slow machine
                **overrides}
    for key, value in settings.items():
        apply_override(config, key, str(value))
    return GenerateSettings.from_config(config)
