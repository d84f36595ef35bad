"""Typed settings: every command's config as frozen dataclasses, each key declared once with its
default, its meaning (what `--help` prints) and its check.

    @dataclasses.dataclass(frozen=True)
    class DataSettings(Settings):
        seq_len: int = setting(2048, "tokens per row", check=positive)

A section is a field whose default is itself `Settings` (`section(DataSettings, "...")`). The command
line and config files still speak ml_collections (`to_config()` is the schema a recipe starts from);
`from_config` is the one conversion into settings, at the command boundary, and the place every value
is checked: a wrong type, a value outside its choices or range, or settings that contradict each other
(`validate`) fail there with one line naming the key, before any work. Checks that need the machine or
the files (devices, a checkpoint's architecture) stay with the work that knows them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

import ml_collections

from .config import ConfigError

Check = Callable[[Any], str | None]  # a value -> what is wrong with it, or None


class SettingError(ConfigError):
    """A setting with a bad value; `key` is its dotted name within the settings that raised it."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key, self.message = key, message


def setting(default, help: str, *, choices: tuple = (), check: Check | None = None):
    """A leaf setting: its default, what it means, the values it may take (`choices`) or a `check`."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": tuple(choices), "check": check})


def section(factory: Callable[[], Settings], help: str = ""):
    """A nested section whose defaults `factory()` gives (a Settings class, or a function for a section
    whose keys are known only at run time, such as the installed training hooks)."""
    return dataclasses.field(default_factory=factory, metadata={"help": help, "choices": (), "check": None})


def positive(value) -> str | None:
    return None if value > 0 else "must be positive"


def at_least(low) -> Check:
    return lambda value: None if value >= low else f"must be >= {low}"


def between(low, high, *, high_open: bool = False) -> Check:
    """low <= value <= high (or < high when `high_open`)."""
    def check(value):
        inside = low <= value < high if high_open else low <= value <= high
        return None if inside else f"must be in [{low}, {high}{')' if high_open else ']'}"
    return check


def _plain(value):
    """Lists from a config file as tuples: settings are frozen and hashable."""
    return tuple(_plain(v) for v in value) if isinstance(value, list | tuple) else value


def _coerce(key: str, value, default):
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, tuple):
        ok, value = isinstance(value, list | tuple), _plain(value)
    else:
        ok = default is None or isinstance(value, type(default))
    if not ok:
        raise SettingError(key, f"expected {type(default).__name__}, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Settings:
    """The base of every settings class: the conversion from a config, checks, help and the schema."""

    # keys an earlier version had, and where their values go now: a config that sets one is told so in one line
    renamed: ClassVar[dict[str, str]] = {}

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value, meta = getattr(self, field.name), field.metadata
            if meta.get("choices") and value not in meta["choices"]:
                raise SettingError(field.name, f"expected one of {', '.join(map(str, meta['choices']))}")
            problem = meta["check"](value) if meta.get("check") else None
            if problem:
                raise SettingError(field.name, problem)
        self.validate()

    def validate(self) -> None:
        """Checks across this section's settings; raise `SettingError(key, message)`."""

    @classmethod
    def from_config(cls, config: Mapping | ml_collections.ConfigDict | None = None) -> Self:
        """Settings from a ConfigDict or a nested dict; keys it leaves out keep their defaults, keys
        it has that these settings lack are an error, every value is checked."""
        return cls().updated(config or {})

    def updated(self, config: Mapping | ml_collections.ConfigDict, prefix: str = "") -> Self:
        """A copy with the values of the (nested) `config` set; the rest stay as they are."""
        given = dict(config.items())
        names = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(given) - set(names))
        if unknown and unknown[0] in self.renamed:
            raise ConfigError(f"config: {prefix}{unknown[0]} is now {prefix}{self.renamed[unknown[0]]}")
        if unknown:
            raise ConfigError(f"config: unknown key {prefix}{unknown[0]}")
        values = {}
        for name in (n for n in names if n in given):
            current, value = getattr(self, name), given[name]
            if isinstance(current, Settings):
                if not isinstance(value, Mapping | ml_collections.ConfigDict):
                    raise ConfigError(f"config: {prefix}{name} is a section; set its keys")
                values[name] = current.updated(value, f"{prefix}{name}.")
            else:
                try:
                    values[name] = _coerce(name, value, current)
                except SettingError as e:
                    raise ConfigError(f"config: {prefix}{name}: {e.message}") from e
        try:
            return dataclasses.replace(self, **values)
        except SettingError as e:
            value = values.get(e.key, getattr(self, e.key, None)) if "." not in e.key else None
            shown = f"={value!r}" if value is not None and not isinstance(value, Settings) else ""
            raise ConfigError(f"config: {prefix}{e.key}{shown}: {e.message}") from e

    def to_dict(self) -> dict:
        """Nested plain values (tuples as lists, as JSON keeps them)."""
        def plain(value):
            if isinstance(value, Settings):
                return value.to_dict()
            return [plain(v) for v in value] if isinstance(value, tuple) else value
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def leaves(self, prefix: str = "") -> dict[str, Any]:
        """Dotted key -> value of every setting, in the order they are declared."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out.update(value.leaves(f"{prefix}{f.name}.") if isinstance(value, Settings) else {prefix + f.name: value})
        return out

    def to_config(self) -> ml_collections.ConfigDict:
        """The ConfigDict of these values: the schema a recipe starts from and overrides change."""
        config = ml_collections.ConfigDict()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            config[f.name] = value.to_config() if isinstance(value, Settings) else value
        return config

    def override(self, changes: Mapping[str, Any]) -> Self:
        """A copy with dotted keys (`{"data.source": "sample"}`) set, checked like a config."""
        tree: dict = {}
        for dotted, value in changes.items():
            *parents, leaf = dotted.split(".")
            node = tree
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = value.to_dict() if isinstance(value, Settings) else value
        return self.updated(tree)

    @classmethod
    def meanings(cls, prefix: str = "") -> dict[str, str]:
        """Dotted key -> what it means (a section's own help as the key of the section)."""
        defaults, out = cls(), {}
        for f in dataclasses.fields(cls):
            value = getattr(defaults, f.name)
            if isinstance(value, Settings):
                out.update(type(value).meanings(f"{prefix}{f.name}."))
            else:
                out[prefix + f.name] = f.metadata.get("help", "")
        return out

