"""The errors every command reports as one line: the user's input is at fault, or a run stopped.

Each stage's errors derive from `UserError`, so a command catches one type and prints its message;
anything else is a bug in the program and keeps its traceback. Error text shown to the user or written
to a file passes through `redact` first: no API key, nothing unbounded.
"""

from __future__ import annotations

import re


class UserError(Exception):
    """Something the user can fix: a config value, a file, a corpus, a checkpoint, a server setting,
    or work that failed for such a reason (a non-finite loss, every LLM request refused)."""

    exit_code = 1


class UsageError(UserError):
    """The command line itself: an unknown flag or config key, a value of the wrong type."""

    exit_code = 2


class Stopped(Exception):
    """A run stopped on a signal after saving its work; rerunning the same command resumes."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


MESSAGE_LIMIT = 1000  # characters of one error message kept for stderr, the journal and summaries
_SECRETS: set[str] = set()
# Text shaped like a credential, whoever's it is: an Authorization value, a key-like token or a
# `key=value` pair naming a key or token (servers and proxies echo request headers in error bodies).
_CREDENTIALS = re.compile(
    r"(?i)\b(bearer|basic)\s+[\w.~+/=-]{6,}"
    r"|\b(sk|pk|rk)-[\w-]{8,}|\bAIza[\w-]{20,}"
    r"|\b((?:x-)?(?:goog-)?api[_-]?key|authorization|access[_-]?token|token|secret)([\"']?\s*[:=]\s*[\"']?)[\w.~+/=-]{6,}")


def secret(value: str) -> str:
    """`value` (an API key now in use), remembered so that no error text repeats it; returned as is."""
    if len(value) >= 6:
        _SECRETS.add(value)
    return value


def _mask(match: re.Match) -> str:
    if match.group(1):
        return f"{match.group(1)} [redacted]"
    if match.group(3):
        return f"{match.group(3)}{match.group(4)}[redacted]"
    return "[redacted]"


def redact(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` fit to print, journal or summarize: the keys in use and anything shaped like a credential
    replaced by `[redacted]`, line breaks and control characters as spaces, at most `limit` characters."""
    for value in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    text = _CREDENTIALS.sub(_mask, text)
    text = "".join(c if c.isprintable() else " " for c in text)
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit} more characters)"
    return text
