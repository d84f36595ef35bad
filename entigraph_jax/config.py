"""Config files for the commands: `--config path.py` (a file whose `get_config()` returns an
ml_collections ConfigDict, big_vision style) plus `--config.a.b=value` overrides.

Every command has a schema, the ConfigDict of its settings' defaults (`Settings.to_config()`, which
the `base_config()` of its stage's `settings.py` returns). A config file must have exactly the
schema's keys; an override must name one of them and parse as its type. The result becomes typed
settings once, at the command boundary (`settings.py`).
"""

from __future__ import annotations

import ast
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

import ml_collections

from .errors import UsageError, UserError


class ConfigError(UserError):
    """A config file or config value that cannot be used."""


def load_config_file(path: str | os.PathLike) -> ml_collections.ConfigDict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    spec = importlib.util.spec_from_file_location(f"config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        config = module.get_config()
    except Exception as e:  # a user's file: syntax errors, missing get_config, its own bugs
        raise ConfigError(f"{path}: cannot load the config ({type(e).__name__}: {e})") from e
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"{path}: get_config() must return an ml_collections.ConfigDict")
    config.lock()
    return config


def flatten(config: ml_collections.ConfigDict | Mapping, prefix: str = "") -> dict[str, object]:
    """Dotted key -> value for every leaf of a ConfigDict or a nested dict (a stored config)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict | Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def check_schema(config: ml_collections.ConfigDict, schema: ml_collections.ConfigDict, origin: str) -> None:
    """A config file must hold exactly the command's keys (a recipe of another command, or a
    misspelt key added in a recipe, fails here by name)."""
    have, want = set(flatten(config)), set(flatten(schema))
    missing, unknown = sorted(want - have), sorted(have - want)
    if missing or unknown:
        parts = [f"{what} {', '.join(keys[:5])}" for what, keys in (("missing", missing), ("unknown", unknown)) if keys]
        raise ConfigError(f"{origin}: not a config of this command ({'; '.join(parts)})")


def parse_value(text: str, current):
    """`text` as the type of the value it replaces; a list may also be written as bare words with commas."""
    if isinstance(current, bool):
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"expected true or false, got {text!r}")
        return text.lower() in ("true", "1")
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        return float(text)
    if isinstance(current, str):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if not isinstance(current, list | tuple):
            raise
        value = type(current)(word.strip() for word in text.split(",") if word.strip())  # arc_easy,piqa
    if isinstance(current, list | tuple) and isinstance(value, str):
        value = type(current)([value])
    if current is not None and not isinstance(value, type(current)):
        raise ValueError(f"expected a {type(current).__name__}, got {text!r}")
    return value


def apply_override(config: ml_collections.ConfigDict, dotted: str, text: str) -> None:
    """Set `dotted` to `text` parsed as its current type; an unknown key or bad value is a `UsageError`."""
    *parents, leaf = dotted.split(".")
    node = config
    for i, name in enumerate(parents):
        if not isinstance(node, ml_collections.ConfigDict) or name not in node:
            raise UsageError(f"config: unknown key {'.'.join(parents[: i + 1])!r}")
        node = node[name]
    if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
        known = ", ".join(sorted(node.keys())) if isinstance(node, ml_collections.ConfigDict) else ""
        raise UsageError(f"config: unknown key {dotted!r}" + (f" (known here: {known})" if known else ""))
    if isinstance(node[leaf], ml_collections.ConfigDict):
        raise UsageError(f"config: {dotted!r} is a section; set one of its keys")
    try:
        node[leaf] = parse_value(text, node[leaf])
    except (ValueError, SyntaxError, TypeError) as e:
        raise UsageError(f"config: bad value for {dotted!r}: {e}") from e
