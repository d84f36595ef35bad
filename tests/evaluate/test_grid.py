"""`evaluate grid`: every combination evaluated once, the best picked on one split and reported on another (the
paper's RAG tuning, App. F.3), against each point's own result read back."""

import json
import math
import textwrap

from entigraph_jax.evaluate import __main__ as evaluate_main
from entigraph_jax.evaluate.grid import pick
from entigraph_jax.evaluate.task import read_result


def grid_config(tmp_path, export, grid: str) -> str:
    path = tmp_path / "grid_recipe.py"
    path.write_text(textwrap.dedent(f"""
        from entigraph_jax.evaluate.grid import GridSettings

        def get_config():
            c = GridSettings().to_config()
            c.evaluate.update(source="sample", task="loglik", split="tune")
            c.evaluate.model.path = "{export}"
            c.grid = {grid}
            c.figure = "accuracy"
            return c
        """))
    return str(path)


def test_a_grid_picks_on_tune_reports_test_and_reruns_nothing(quickstart_run, tmp_path, run_command):
    recipe = grid_config(tmp_path, quickstart_run.run.export,
                         '(("tasks.loglik.max_questions", (12, 0)), ("tasks.loglik.batch", (4, 16)))')
    argv = ["grid", "--config", recipe, "--workdir", tmp_path / "grid"]
    done = run_command(evaluate_main.COMMANDS, argv)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "grid" / "grid.json").read_text())
    points = summary["points"]
    assert [p["settings"] for p in points] == [{"tasks.loglik.max_questions": q, "tasks.loglik.batch": b}
                                               for q in (12, 0) for b in (4, 16)]
    for point in points:  # each point's figures are its own result's
        result = read_result(point["output"])
        assert point["tune"] == result.figures("tune")["accuracy"] and point["test"] == result.figures("test")[
            "accuracy"]
    assert [p["test_questions"] for p in points] == [4, 4, 37, 37]  # the first 12 by title: 8 tune, 4 test
    assert points[0]["test"] == points[1]["test"]  # the batch size changes no score
    best = max(points, key=lambda p: p["tune"])  # the first of equals
    assert summary["picked"] == best and json.loads(done.stdout) == {
        "picked": best["settings"], "tune": best["tune"], "test": best["test"], "points": 4}
    stamps = {p["output"]: (tmp_path / "grid" / p["output"]).stat().st_mtime_ns for p in points}
    again = run_command(evaluate_main.COMMANDS, argv)  # every point has its result: nothing evaluated again
    assert again.returncode == 0 and again.stdout == done.stdout
    assert {p: (tmp_path / "grid" / p).stat().st_mtime_ns for p in stamps} == stamps


def test_a_grid_key_that_is_not_an_evaluate_key_is_one_line(tmp_path, run_command):
    recipe = grid_config(tmp_path, tmp_path / "model", '(("tasks.loglik.nope", (1, 2)),)')
    done = run_command(evaluate_main.COMMANDS, ["grid", "--config", recipe, "--workdir", tmp_path / "grid"])
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1
    assert "tasks.loglik.nope" in done.stderr and not (tmp_path / "grid").exists()


def test_the_pick_is_the_highest_figure_and_never_a_missing_one():
    points = [{"tune": None}, {"tune": 0.5, "n": 1}, {"tune": 0.5, "n": 2}, {"tune": math.nan}, {"tune": 0.25}]
    assert pick(points, "tune") == {"tune": 0.5, "n": 1}
    assert pick([{"tune": None}], "tune") is None
