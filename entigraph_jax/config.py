"""Config files for the commands: `--config path.py` (a file whose `get_config()` returns an
ml_collections ConfigDict, big_vision style) plus `--config.a.b=value` overrides.

An override must name a key the file defines and parse as that key's type; anything else is a
`ConfigError` naming the key, which the commands print as one line before exiting non-zero.
"""

from __future__ import annotations

import ast
import importlib.util
import os
from pathlib import Path

import ml_collections


class ConfigError(ValueError):
    """A config file or override that cannot be used."""


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


def parse_value(text: str, current):
    """`text` as the type of the value it replaces."""
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
    value = ast.literal_eval(text)
    if current is not None and not isinstance(value, type(current)):
        raise ValueError(f"expected a {type(current).__name__}, got {text!r}")
    return value


def apply_override(config: ml_collections.ConfigDict, dotted: str, text: str) -> None:
    *parents, leaf = dotted.split(".")
    node = config
    for i, name in enumerate(parents):
        if not isinstance(node, ml_collections.ConfigDict) or name not in node:
            raise ConfigError(f"config: unknown key {'.'.join(parents[: i + 1])!r}")
        node = node[name]
    if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
        known = ", ".join(sorted(node.keys())) if isinstance(node, ml_collections.ConfigDict) else ""
        raise ConfigError(f"config: unknown key {dotted!r}" + (f" (known here: {known})" if known else ""))
    if isinstance(node[leaf], ml_collections.ConfigDict):
        raise ConfigError(f"config: {dotted!r} is a section; set one of its keys")
    try:
        node[leaf] = parse_value(text, node[leaf])
    except (ValueError, SyntaxError, TypeError) as e:
        raise ConfigError(f"config: bad value for {dotted!r}: {e}") from e


def parse_command_line(argv: list[str], extra_flags: tuple[str, ...] = (),
                       switches: tuple[str, ...] = ()) -> tuple[ml_collections.ConfigDict, dict]:
    """`--config FILE`, `--config.key=value ...`, `--flag=value` for `extra_flags` and a bare
    `--switch` (True in the returned extras) for `switches`."""
    config_path, overrides, extras = None, [], {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, value = arg.partition("=")
        if name.lstrip("-") in switches and not eq:
            extras[name.lstrip("-")] = True
            continue
        if not eq and name in ("--config", *(f"--{f}" for f in extra_flags)) and args:
            value = args.pop(0)
        if name == "--config":
            config_path = value
        elif name.startswith("--config."):
            if not eq:
                raise ConfigError(f"config: {name} needs a value ({name}=VALUE)")
            overrides.append((name[len("--config.") :], value))
        elif name.lstrip("-") in extra_flags:
            extras[name.lstrip("-")] = value
        else:
            raise ConfigError(f"unknown argument {arg!r}")
    if config_path is None:
        raise ConfigError("--config path/to/config.py is required")
    config = load_config_file(config_path)
    for dotted, value in overrides:
        apply_override(config, dotted, value)
    return config, extras
