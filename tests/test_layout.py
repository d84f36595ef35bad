"""The package's shape: every command answers --help and --print_config and reports a usage error the
same way, and no module imports a layer above its own (the order the package docstring gives)."""

import ast
import graphlib
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import entigraph_jax
from entigraph_jax import cli
from entigraph_jax.config import flatten

PACKAGE = Path(entigraph_jax.__file__).parent


def layers() -> list[set[str]]:
    """The layer list of the package docstring, lowest first: each row `  name[, name ...]  - what`."""
    rows = re.findall(r"^  ([a-z_]+(?:, [a-z_]+)*)\s+- ", entigraph_jax.__doc__, re.M)
    return [set(row.split(", ")) for row in rows]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or path.is_dir()


def imported_modules(path: Path) -> set[str]:
    """Every project module `path` imports, anywhere in the file (function-level imports too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            target = ".".join(p for p in (base, node.module) if p)
            for alias in node.names:  # `from . import setup` names a module, `from .x import f` a function
                submodule = f"{target}.{alias.name}"
                found.add(submodule if is_module(submodule) else target)
    return {m for m in found if m == "entigraph_jax" or m.startswith("entigraph_jax.")}


def layer_index(module: str, order: list[set[str]]) -> int:
    top = module.split(".")[1]
    return next(i for i, layer in enumerate(order) if top in layer)


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def test_every_module_belongs_to_a_listed_layer():
    order = layers()
    assert len(order) >= 8, entigraph_jax.__doc__
    listed = set().union(*order)
    assert {module_name(p).split(".")[1] for p in SOURCES} == listed


def test_no_module_imports_a_higher_layer():
    order = layers()
    upward = [f"{module_name(p)} -> {m}" for p in SOURCES for m in sorted(imported_modules(p))
              if m != "entigraph_jax" and layer_index(m, order) > layer_index(module_name(p), order)]
    assert upward == []


def test_no_import_cycles():
    graph = {module_name(p): imported_modules(p) - {module_name(p)} for p in SOURCES}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the circle


def commands():
    """(argv prefix, Command, the object `cli.main` is given) for every command of every stage."""
    found = []
    for main in sorted(PACKAGE.glob("*/__main__.py")):
        module = importlib.import_module(f"entigraph_jax.{main.parent.name}.__main__")
        if hasattr(module, "COMMANDS"):
            found += [([name], command, module.COMMANDS) for name, command in module.COMMANDS.items()]
        else:
            found.append(([], module.COMMAND, module.COMMAND))
    return found


COMMANDS = commands()


def test_every_stage_is_a_command():
    stages = {p.parent.name for p in PACKAGE.glob("*/__main__.py")}
    assert {"data", "models", "generate", "train", "evaluate", "sweep", "sbp"} <= stages
    names = {command.name for _, command, _ in COMMANDS}
    assert {"models convert", "models chat", "data inspect", "train", "train plan", "sbp run"} <= names


@pytest.mark.parametrize("prefix, command, target", COMMANDS, ids=[c.name for _, c, _ in COMMANDS])
def test_help_lists_every_config_key_with_its_meaning(prefix, command, target, capsys):
    assert cli.main(target, [*prefix, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m entigraph_jax.{command.name}")
    described = dict(re.findall(r"^  (\S+) = .*?: (.*)$", out, re.M))
    keys = flatten(command.schema())
    missing = [key for key in keys if not described.get(key)]
    assert keys and missing == []


@pytest.mark.parametrize("prefix, command, target", COMMANDS, ids=[c.name for _, c, _ in COMMANDS])
def test_print_config_prints_the_resolved_config(prefix, command, target, capsys):
    key = next(k for k, v in flatten(command.schema()).items() if isinstance(v, str))
    assert cli.main(target, [*prefix, f"--config.{key}=changed", "--print_config"]) == 0
    printed = dict(line.split(" = ", 1) for line in capsys.readouterr().out.splitlines())
    assert sorted(printed) == sorted(flatten(command.schema())) and printed[key] == "'changed'"


@pytest.mark.parametrize("prefix, command, target", COMMANDS, ids=[c.name for _, c, _ in COMMANDS])
def test_usage_errors_exit_2_with_one_line(prefix, command, target, capsys):
    for argv in ([*prefix, "--no_such_flag"], [*prefix, "--config.no_such_key=1"]):
        assert cli.main(target, argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"{command.name}: error: ") and err.count("\n") == 1, err


def test_a_new_user_asks_for_help():
    done = subprocess.run([sys.executable, "-m", "entigraph_jax.evaluate", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "mode = 'closed_book'" in done.stdout, done.stderr
