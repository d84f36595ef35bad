"""Config files for the commands: `--config path.py` (a file whose `get_config()` returns an
ml_collections ConfigDict, big_vision style) plus `--config.a.b=value` overrides.

Every command has a schema, the `base_config()` of its stage's `defaults.py`, with one key per line
and a comment saying what it means: `--help` prints those comments (`key_comments`). A config file
must have exactly the schema's keys; an override must name one of them and parse as its type.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import io
import os
import textwrap
import tokenize
from collections.abc import Callable
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


def flatten(config: ml_collections.ConfigDict, prefix: str = "") -> dict[str, object]:
    """Dotted key -> value for every leaf."""
    out = {}
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
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


def key_comments(schema: Callable[[], ml_collections.ConfigDict], prefix: str = "") -> dict[str, str]:
    """Dotted key -> the comment on its line in `schema`'s source, for `--help`.

    Understands the shapes the `defaults.py` files use: `c.key = value  # meaning`, a section
    `c.section = ml_collections.ConfigDict(dict(\\n key=value,  # meaning ...))` with one key per
    line, and `c.section = other_schema()` (that function's comments, under the section's name).
    """
    source = textwrap.dedent(inspect.getsource(schema))
    comments = {t.start[0]: t.string.lstrip("#").strip()
                for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT}

    def comment(node) -> str:
        return next((comments[line] for line in range(node.lineno, node.end_lineno + 1) if line in comments), "")

    out = {}
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        path = _attribute_path(node.targets[0])
        if path is None:
            continue
        key, value = prefix + path, node.value
        section = _dict_keywords(value)
        if section is not None:
            out.update((f"{key}.{k.arg}", comment(k)) for k in section)
            continue
        called = _called_function(value, schema.__globals__)
        if called is not None:
            out.update(key_comments(called, f"{key}."))
        else:
            out[key] = comment(node)
    return out


def _attribute_path(target) -> str | None:
    """`c.a.b` -> "a.b"; anything else -> None."""
    names = []
    while isinstance(target, ast.Attribute):
        names.append(target.attr)
        target = target.value
    return ".".join(reversed(names)) if names and isinstance(target, ast.Name) else None


def _dict_keywords(value) -> list[ast.keyword] | None:
    """The keywords of `dict(...)` or `ConfigDict(dict(...))`, else None."""
    if isinstance(value, ast.Call) and value.args and not value.keywords:
        value = value.args[0]
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict":
        return value.keywords
    return None


def _called_function(value, namespace: dict):
    """The plain function a `name()` or `module.name()` call refers to in `namespace`, if any."""
    if not isinstance(value, ast.Call):
        return None
    parts, func = [], value.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name) or func.id not in namespace:
        return None
    target = namespace[func.id]
    for name in reversed(parts):
        target = getattr(target, name, None)
    return target if inspect.isfunction(target) else None
