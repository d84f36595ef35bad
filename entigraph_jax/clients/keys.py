"""API keys: from the environment or a key file, never from configs; never logged or written (a key in use
is registered with `errors.secret`, so error text that echoes it is redacted)."""

from __future__ import annotations

import os
from pathlib import Path

from entigraph_jax.errors import UserError, secret


class ApiKeyError(UserError):
    """No key where one is needed, or an unreadable key file."""


def api_key(env_names: tuple[str, ...], key_file: str, required: bool) -> str | None:
    """The first of `env_names` set in the environment, else the key file's first line."""
    for name in env_names:
        if os.environ.get(name):
            return _checked(os.environ[name].strip(), f"the environment variable {name}")
    if key_file:
        path = Path(key_file).expanduser()
        if not path.is_file():
            raise ApiKeyError(f"api_key_file={key_file}: no such file")
        try:
            lines = path.read_text().strip().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ApiKeyError(f"api_key_file={key_file}: unreadable ({type(e).__name__})") from e
        if lines and lines[0].strip():
            return _checked(lines[0].strip(), f"api_key_file={key_file}")
        raise ApiKeyError(f"api_key_file={key_file}: the file is empty")
    if required:
        raise ApiKeyError(f"no API key: set {' or '.join(env_names)} or an api_key_file")
    return None


def _checked(key: str, where: str) -> str:
    """`key`, registered as a secret; an `ApiKeyError` if it could not go into an HTTP header."""
    secret(key)
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise ApiKeyError(f"the API key from {where} contains a space, line break or non-ASCII character; "
                          "a key is one word")
    return key
