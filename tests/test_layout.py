"""The package's shape: every command answers --help and --print_config and reports a usage error the
same way, and no module imports a layer above its own (the order the package docstring gives)."""

import ast
import graphlib
import importlib
import importlib.metadata
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import entigraph_jax
from entigraph_jax import cli, console
from entigraph_jax.data import __main__ as data_main
from entigraph_jax.data import write_records
from entigraph_jax.errors import UsageError, UserError
from entigraph_jax.evaluate import task
from entigraph_jax.sbp import __main__ as sbp_main
from entigraph_jax.train import __main__ as train_main
from entigraph_jax.train import hooks

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
    for node in ast.walk(TREES[path]):
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
# Parsed while the tests are collected: CPython 3.11's AST builder can fail with a SystemError ("recursion
# depth mismatch", gh-106905) when the garbage collector runs a failing finalizer (another test's unclosed
# client session, say) while it builds a tree.
TREES = {path: ast.parse(path.read_text()) for path in SOURCES}


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


def test_evaluation_asks_an_llm_through_the_service_not_through_generation():
    """The summary judge and served evaluation use `llm/` as generation does; evaluate imports nothing of it."""
    evaluate = [p for p in SOURCES if module_name(p).startswith("entigraph_jax.evaluate")]
    assert [m for p in evaluate for m in imported_modules(p) if m.startswith("entigraph_jax.generate")] == []
    assert any(m.startswith("entigraph_jax.llm") for p in evaluate for m in imported_modules(p))


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
def test_help_prints_every_key_with_its_whole_meaning(prefix, command, target, capsys):
    assert cli.main(target, [*prefix, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m entigraph_jax.{command.name}")
    described = dict(re.findall(r"^  (\S+) = .*?: (.*)$", out, re.M))
    meanings = command.settings.meanings()  # the settings' own text, however long
    assert meanings and all(meanings.values())
    assert {key: described.get(key) for key in meanings} == meanings


def test_hooks_are_known_from_a_checkout_that_was_never_installed(monkeypatch, capsys):
    """No entry points at all (a bare checkout on PYTHONPATH): the evaluation tasks are still hooks, settings
    of every command that trains."""
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [])
    monkeypatch.setattr(task, "tasks", task.tasks.__wrapped__)
    monkeypatch.setattr(hooks, "tasks", task.tasks)
    monkeypatch.setattr(hooks, "registered", hooks.registered.__wrapped__)
    monkeypatch.setattr(hooks, "settings_type", hooks.settings_type.__wrapped__)
    for argv in (["train", "--help"], ["run", "--help"]):
        module = train_main if argv[0] == "train" else sbp_main
        assert cli.main(module.COMMANDS, argv) == 0
        out = capsys.readouterr().out
        assert re.search(r"^  (joint\.)?hooks\.loglik\.source = ''", out, re.M), out


def free_text_key(settings) -> str:
    """A string setting that takes any value."""
    for key, value in settings.leaves().items():
        try:
            settings.override({key: "changed"})
        except UserError:
            continue
        if isinstance(value, str):
            return key
    raise AssertionError("no free text setting")


@pytest.mark.parametrize("prefix, command, target", COMMANDS, ids=[c.name for _, c, _ in COMMANDS])
def test_print_config_prints_the_resolved_config(prefix, command, target, capsys):
    key = free_text_key(command.settings())
    assert cli.main(target, [*prefix, f"--config.{key}=changed", "--print_config"]) == 0
    printed = dict(line.split(" = ", 1) for line in capsys.readouterr().out.splitlines())
    assert list(printed) == list(command.settings().leaves()) and printed[key] == "'changed'"


@pytest.mark.parametrize("prefix, command, target", COMMANDS, ids=[c.name for _, c, _ in COMMANDS])
def test_usage_errors_exit_2_with_one_line(prefix, command, target, capsys):
    for argv in ([*prefix, "--no_such_flag"], [*prefix, "--config.no_such_key=1"]):
        assert cli.main(target, argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"{command.name}: error: ") and err.count("\n") == 1, err


# File names and metric keys one stage writes and others read: spelled only by the module that owns them.
OWNED = {"metrics.jsonl": "runs", "sp.model": "data.tokenizers", "journal.sqlite": "runs", "loss.png": "runs"}


def string_literals(path: Path) -> set[str]:
    return {node.value for node in ast.walk(TREES[path])
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_no_module_spells_another_stages_files_or_metric_keys():
    """Run folders and metrics are read through their types (runs.py) and the owners' constants."""
    spelled = [(text, module_name(p).removeprefix("entigraph_jax.")) for p in SOURCES
               for text in sorted(string_literals(p) & set(OWNED))]
    assert sorted(spelled) == sorted(OWNED.items())


def test_a_new_user_asks_for_help():
    """The evaluate command lists its tasks, each with its own keys."""
    done = subprocess.run([sys.executable, "-m", "entigraph_jax.evaluate", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "task = 'closed_book'" in done.stdout, done.stderr
    for name in task.tasks():
        assert f"  {name}: " in done.stdout and f"  tasks.{name}." in done.stdout


def test_help_into_a_pipe_that_closes_early_is_quiet():
    """`... --help | head -5`: the reader leaves before the text is written; no traceback."""
    done = subprocess.run(f"{shlex.quote(sys.executable)} -m entigraph_jax.models chat --help | head -5",
                          shell=True, capture_output=True, text=True)
    assert done.stdout.startswith("usage: python -m entigraph_jax.models chat") and done.stderr == ""


def test_the_console_script_has_every_stage_and_runs_it_as_python_m_does(capsys, tmp_path):
    assert set(console.STAGES) == {p.parent.name for p in PACKAGE.glob("*/__main__.py")}
    write_records([{"kind": "pair", "text": f"text {i}"} for i in range(3)], tmp_path / "r")
    assert console.main(["data", "inspect", str(tmp_path / "r"), "--samples", "0"]) == 0
    through_console = capsys.readouterr().out
    assert cli.main(data_main.COMMANDS, ["inspect", str(tmp_path / "r"), "--samples", "0"]) == 0
    assert through_console == capsys.readouterr().out and "pair" in through_console
    assert console.main(["bogus"]) == UsageError.exit_code
    assert "the first argument must be one of data, models" in capsys.readouterr().err
    script = Path(sys.executable).parent / "entigraph-jax"  # installed by pip from [project.scripts]
    if script.exists():
        both = [subprocess.run([*start, "plan", "--help"], capture_output=True, text=True)
                for start in ([str(script), "train"], [sys.executable, "-m", "entigraph_jax.train"])]
        assert both[0].returncode == 0 and both[0].stdout == both[1].stdout
