"""The errors every command reports as one line: the user's input is at fault, or a run stopped.

Each stage's errors derive from `UserError`, so a command catches one type and prints its message;
anything else is a bug in the program and keeps its traceback.
"""

from __future__ import annotations


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
