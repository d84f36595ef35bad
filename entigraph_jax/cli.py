"""The one command line of every stage:

    python -m entigraph_jax.<stage> [SUBCOMMAND] [--config FILE] [--config.KEY=VALUE ...] [FLAGS]
                                    [--print_config] [--help]

A command is a `Command`: its purpose, its settings (a stage's `settings.py`), its flags and the
function that does the work. `--help` prints the purpose, the flags and every config key with its
default and meaning; `--print_config` prints the config after the file and overrides and exits.
A `UserError` is printed as one line: usage errors exit 2, bad input and failed work exit 1; a run
stopped by a signal exits with its own code (143 for SIGTERM, 130 for Ctrl-C). The result of the
work, a frozen dataclass, is printed as JSON (or as the command's `show` renders it).
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from .config import apply_override, check_schema, load_config_file
from .errors import Stopped, UsageError, UserError, redact
from .outputs import json_text
from .settings import Settings

INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT
BROKEN_PIPE_EXIT_CODE = 141  # 128 + SIGPIPE, what a tool killed by a closed pipe returns


@dataclasses.dataclass(frozen=True)
class Flag:
    """A flag beside `--config`: it sets a config key (`key`) or is passed to the work as an option."""

    name: str
    help: str
    key: str = ""  # the config key this flag sets ("": an option of the command, not a config key)
    switch: bool = False  # takes no value; True when given
    positional: bool = False  # given without a name, in order
    metavar: str = "VALUE"


@dataclasses.dataclass(frozen=True)
class Invocation:
    """What was typed: the config file, the overrides in order and the options' values."""

    config_path: str
    overrides: tuple[tuple[str, str], ...]
    options: dict


@dataclasses.dataclass(frozen=True)
class Command:
    name: str  # as typed after `python -m entigraph_jax.`, e.g. "train" or "models convert"
    purpose: str
    settings: type[Settings]  # its keys, defaults, meanings and checks
    run: Callable[[Settings, Invocation], object]  # -> a result dataclass or None
    flags: tuple[Flag, ...] = ()
    show: Callable[[object], str] | None = None  # default: the result as JSON
    interrupted: str = ""  # said after "interrupted" on Ctrl-C, e.g. how to resume

    @property
    def summary(self) -> str:
        """The purpose's first sentence, for lists of subcommands."""
        return " ".join(self.purpose.split()).split(". ")[0].rstrip(".")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage and exits 2; we raise and print one line
        raise UsageError(message)


def _parser(command: Command) -> _Parser:
    parser = _Parser(prog=f"python -m entigraph_jax.{command.name}", add_help=False, allow_abbrev=False)
    parser.add_argument("--config", default="")
    parser.add_argument("--print_config", action="store_true")
    for flag in command.flags:
        if flag.positional:
            parser.add_argument(flag.name, nargs="?", default=None)
        elif flag.switch:
            parser.add_argument(f"--{flag.name}", action="store_true")
        else:
            parser.add_argument(f"--{flag.name}", default=None)
    return parser


def _overrides(extras: list[str]) -> list[tuple[str, str]]:
    overrides = []
    for arg in extras:
        name, eq, value = arg.partition("=")
        if not name.startswith("--config."):
            raise UsageError(f"unknown argument {arg!r} (see --help)")
        if not eq:
            raise UsageError(f"config: {name} needs a value ({name}=VALUE)")
        overrides.append((name[len("--config."):], value))
    return overrides


def resolve(command: Command, argv: list[str]) -> tuple[Settings, Invocation]:
    """The settings after file, overrides and key flags, and the invocation; raises `UserError`."""
    args, extras = _parser(command).parse_known_args(argv)
    overrides = _overrides(extras)
    schema = command.settings().to_config()
    if args.config:
        config = load_config_file(args.config)
        check_schema(config, schema, args.config)
    else:
        config = schema
        config.lock()
    for key, value in overrides:
        apply_override(config, key, value)
    options = {}
    for flag in command.flags:
        value = getattr(args, flag.name)
        if flag.key:
            if value is not None:
                apply_override(config, flag.key, value)
        else:
            options[flag.name] = value
    return command.settings.from_config(config), Invocation(args.config, tuple(overrides), options)


def required(settings: Settings, *keys: str) -> None:
    """Usage error unless every key in `keys` is set (non-empty)."""
    values = settings.leaves()
    missing = [k for k in keys if not values[k]]
    if missing:
        raise UsageError(f"config: {', '.join(missing)} must be set (see --help)")


def help_text(command: Command, subcommands: dict[str, Command] | None = None) -> str:
    meanings = command.settings.meanings()
    usage = [f"usage: python -m entigraph_jax.{command.name}"]
    usage += [f.name.upper() for f in command.flags if f.positional]
    usage += ["[--config FILE]", "[--config.KEY=VALUE ...]"]
    usage += [f"[--{f.name}]" if f.switch else f"[--{f.name} {f.metavar}]"
              for f in command.flags if not f.positional]
    usage += ["[--print_config]", "[--help]"]
    lines = [" ".join(usage), "", command.purpose.strip(), ""]
    if subcommands:
        lines.append("subcommands (each answers --help):")
        lines += [f"  {name + (' (default)' if sub is command else ''):<22}{sub.summary}"
                  for name, sub in subcommands.items()]
        lines.append("")
    rows = [("--config FILE", "a config file whose get_config() returns this command's config "
                              "(configs/*.py); without one, the defaults below"),
            ("--config.KEY=VALUE", "set one config key; VALUE is read as the type of its default")]
    for flag in command.flags:
        name = flag.name.upper() if flag.positional else f"--{flag.name}" + ("" if flag.switch else f" {flag.metavar}")
        rows.append((name, flag.help + (f" (sets {flag.key})" if flag.key else "")))
    rows += [("--print_config", "print the config after the file and overrides, then exit"),
             ("-h, --help", "this text")]
    lines.append("flags:")
    lines += [f"  {name:<22}{text}" for name, text in rows]
    lines += ["", "config keys (KEY = default: meaning):"]
    for key, value in command.settings().leaves().items():
        lines.append(f"  {key} = {value!r}: {meanings[key]}")
    return "\n".join(lines)


def config_text(settings: Settings) -> str:
    return "\n".join(f"{key} = {value!r}" for key, value in settings.leaves().items())


def result_text(result) -> str:
    def plain(value):
        if dataclasses.is_dataclass(value):
            return {k: plain(v) for k, v in dataclasses.asdict(value).items() if v is not None}
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return str(value) if isinstance(value, Path) else value

    return json_text(plain(result), indent=2)


def no_tpu_probe() -> None:
    """With libtpu installed (the `tpu` extra, also used to compile for TPUs on any machine) JAX looks
    for a TPU at start-up and reports on stderr that there is none. Where the machine has no TPU (no
    Google PCI device) and no CUDA plugin, and JAX_PLATFORMS is not set, use the CPU straight away."""
    import glob
    import importlib.util

    if os.environ.get("JAX_PLATFORMS") or importlib.util.find_spec("libtpu") is None:
        return
    for vendor in glob.glob("/sys/bus/pci/devices/*/vendor"):
        with open(vendor) as f:
            if f.read().strip() == "0x1ae0":  # Google: a TPU chip
                return
    if any(importlib.util.find_spec(f"jax_cuda{v}_plugin") for v in (12, 13)):
        return
    os.environ["JAX_PLATFORMS"] = "cpu"
    if "jax" in sys.modules:  # imported already (by the command's module): its config read the environment then
        sys.modules["jax"].config.update("jax_platforms", "cpu")


def say(text: str) -> int:
    """Print to stdout; a reader that left (`... | head`) ends the command quietly, as `cat` does."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return BROKEN_PIPE_EXIT_CODE
    return 0


def _disk_full(error: BaseException) -> bool:
    """A write failed for want of space (the OS's error, or SQLite's)."""
    return getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in str(error)


def main(commands: Command | dict[str, Command], argv: list[str] | None = None, default: str = "") -> int:
    """Run one command (or the subcommand named first in `argv`, else `default`); returns the exit code."""
    no_tpu_probe()
    argv = list(sys.argv[1:] if argv is None else argv)
    subcommands = commands if isinstance(commands, dict) else None
    if subcommands is None:
        command = commands
    elif argv and argv[0] in subcommands:
        command = subcommands[argv.pop(0)]
    elif default:
        command = subcommands[default]
    else:
        stage = next(iter(subcommands.values())).name.split()[0]
        if argv and argv[0] in ("-h", "--help"):
            return say(f"usage: python -m entigraph_jax.{stage} {{{','.join(subcommands)}}} ...\n\n"
                        + "\n".join(f"  {name:<14}{c.summary}" for name, c in subcommands.items()))
        print(f"{stage}: error: the first argument must be one of {', '.join(subcommands)} (see --help)",
              file=sys.stderr)
        return UsageError.exit_code
    if "-h" in argv or "--help" in argv:
        return say(help_text(command, subcommands if default and command.name == subcommands[default].name
                              else None))
    try:
        settings, invocation = resolve(command, argv)
        if "--print_config" in argv:
            return say(config_text(settings))
        result = command.run(settings, invocation)
    except Stopped as e:
        print(f"{command.name}: {redact(str(e))}", file=sys.stderr)
        return e.exit_code
    except UserError as e:
        print(f"{command.name}: error: {redact(str(e))}", file=sys.stderr)
        return e.exit_code
    except (OSError, sqlite3.OperationalError) as e:
        if not _disk_full(e):
            raise
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"{command.name}: error: the disk is full{where}; what was saved before stays: free some space and "
              "rerun the same command", file=sys.stderr)
        return UserError.exit_code
    except KeyboardInterrupt:
        print(f"{command.name}: interrupted" + (f"; {command.interrupted}" if command.interrupted else ""),
              file=sys.stderr)
        return INTERRUPTED_EXIT_CODE
    if result is None:
        return 0
    return say(command.show(result) if command.show else result_text(result))
