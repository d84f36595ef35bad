"""Waiting for another process to reach a point: polled, with a deadline, so a child that hangs fails its test
instead of hanging CI. The deadline is a hang guard, far beyond any run's time, not a speed limit."""

import subprocess
import time
from collections.abc import Callable

DEADLINE_S = 600.0


def wait_until(condition: Callable[[], object], *processes: subprocess.Popen, what: str,
               deadline_s: float = DEADLINE_S, poll_s: float = 0.05) -> None:
    """Poll `condition` until it holds. Fails at once, with its error output, if one of `processes` ends
    first, and after `deadline_s` (killing `processes`)."""
    end = time.monotonic() + deadline_s
    while not condition():
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(f"{what}: the process ended first (exit {process.returncode}): "
                                     f"{_errors(process)}")
        if time.monotonic() > end:
            for process in processes:
                process.kill()
            raise AssertionError(f"{what}: not within {deadline_s:g} s (a hang guard)")
        time.sleep(poll_s)


def _errors(process: subprocess.Popen) -> str:
    """The end of what a finished process wrote to stderr (when it was piped)."""
    _, err = process.communicate()
    return (err or "")[-2000:] if isinstance(err, str) else ""
