"""API keys: from the environment or a key file, never from configs; never logged or written."""

from __future__ import annotations

import os
from pathlib import Path

from entigraph_jax.errors import UserError


class ApiKeyError(UserError):
    """No key where one is needed, or an unreadable key file."""


def api_key(env_names: tuple[str, ...], key_file: str, required: bool) -> str | None:
    """The first of `env_names` set in the environment, else the key file's first line."""
    for name in env_names:
        if os.environ.get(name):
            return os.environ[name].strip()
    if key_file:
        path = Path(key_file).expanduser()
        if not path.is_file():
            raise ApiKeyError(f"api_key_file={key_file}: no such file")
        lines = path.read_text().strip().splitlines()
        if lines and lines[0].strip():
            return lines[0].strip()
        raise ApiKeyError(f"api_key_file={key_file}: the file is empty")
    if required:
        raise ApiKeyError(f"no API key: set {' or '.join(env_names)} or an api_key_file")
    return None
