"""A part added as one new file: a module written into one of the project's packages for a test, and gone after."""

import contextlib
import textwrap
from pathlib import Path


@contextlib.contextmanager
def module_in(package, name: str, source: str, registry):
    """`source` as the module `name` of `package`, renamed into place whole (no process reads half a file); the
    cached `registry` read again with it and without it."""
    path = Path(package.__path__[0]) / f"{name}.py"
    staged = path.with_suffix(".py.partial")
    staged.write_text(textwrap.dedent(source))
    staged.replace(path)
    registry.cache_clear()
    try:
        yield path
    finally:
        path.unlink()
        registry.cache_clear()
