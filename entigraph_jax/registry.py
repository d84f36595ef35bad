"""Parts found by name (evaluation tasks, training hooks, generation methods): the project's own modules and the
entry points other installed packages declare, each loaded and checked to be the part it claims to be; anything
wrong is one line naming the part and where it came from."""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
from collections.abc import Callable
from types import ModuleType

from .config import ConfigError


def load_part(kind: type, what: str, name: str, load: Callable[[], object], origin: str):
    """What `load()` gives, which must be a `kind` (`what` names the kind in messages)."""
    try:
        part = load()
    except Exception as e:  # another file's or package's code: report which one, whatever broke
        raise ConfigError(f"{what} {name!r} ({origin}) cannot be loaded: {type(e).__name__}: {e}") from e
    if not isinstance(part, kind):
        raise ConfigError(f"{what} {name!r} ({origin}) is not a {kind.__module__.removeprefix('entigraph_jax.')}."
                          f"{kind.__name__}")
    return part


def named(parts: dict, name: str, what: str):
    """The part called `name` of `parts`; one line naming the known ones if there is none."""
    if name not in parts:
        raise ConfigError(f"config: unknown {what} {name!r}; known: {', '.join(parts)}")
    return parts[name]


def installed(group: str, kind: type, what: str, known: dict) -> dict:
    """`known`, and the parts the entry points of `group` add under names it does not have yet."""
    found = dict(known)
    for entry in importlib.metadata.entry_points(group=group):
        if entry.name not in found:
            found[entry.name] = load_part(kind, what, entry.name, entry.load, entry.value)
    return found


def registered(package: ModuleType, attribute: str, group: str, kind: type, what: str) -> dict:
    """Every part by its name: the `attribute` of each module of `package` (in module-name order), then the parts
    the entry points of `group` add (`installed`)."""
    found: dict = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__)):
        path = f"{package.__name__}.{module}"
        part = load_part(kind, what, module, lambda path=path: getattr(importlib.import_module(path), attribute), path)
        found[part.name] = part
    return installed(group, kind, what, found)
