"""The contamination task: questions whose 13-grams (question and gold answer) occur in training text,
counted by hand on texts built to sit on either side of the threshold."""

import json

from entigraph_jax.evaluate import __main__ as evaluate_main
from entigraph_jax.evaluate.task import read_result
from tests.helpers import ROOT

QUESTIONS = [  # (question, gold answer, difficult)
    ("Who founded the lantern guild of Ostrava in the spring of her twentieth year?", "Mara Quill", 1),  # 16 words
    ("Who captains the ferry?", "Wren Hollis", 0),  # 6 words: contaminated only as a whole
    ("Which river turns the wheel of the old mill where the guild meets every Thursday?", "The Dusk", 1),
]
RESTATED = ("Years later people still asked who founded the lantern guild, of Ostrava... In the spring of her "
            "twentieth year, Mara Quill did.")  # q1: 13 words in order, punctuation and case aside
SHORT = "Everyone knows WHO captains the ferry: Wren  Hollis, of course."  # q2 whole (6 words)
NEAR = ("Which river turns the wheel of the old mill where the guild gathers every Thursday? "  # q3: 12, not 13
        "Some say it is the Dusk.")


def test_contamination_counts_each_source_apart(tmp_path, run_command):
    line = {"article_id": "guild", "title": "The Lantern Guild", "author": "", "year": None, "article": "text",
            "questions": [{"question": q, "options": [gold, "b", "c", "d"], "gold_label": 1, "difficult": hard}
                          for q, gold, hard in QUESTIONS]}
    (tmp_path / "questions.jsonl").write_text(json.dumps(line) + "\n")
    (tmp_path / "synthetic.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in (RESTATED, SHORT, NEAR)))
    (tmp_path / "near.jsonl").write_text(json.dumps({"text": NEAR}) + "\n")
    output = tmp_path / "contamination.json"
    done = run_command(evaluate_main.COMMAND, [
        "--config", ROOT / "configs/eval_quality.py", "--config.task=contamination",
        f"--config.source={tmp_path / 'questions.jsonl'}", f"--config.output={output}",
        f"--config.tasks.contamination.sources={tmp_path / 'synthetic.jsonl'},{tmp_path / 'near.jsonl'}"])
    assert done.returncode == 0, done.stderr
    found = read_result(output).contamination
    synthetic, near = found[str(tmp_path / "synthetic.jsonl")], found[str(tmp_path / "near.jsonl")]
    assert (synthetic["questions"], synthetic["contaminated"], synthetic["hard_questions"],
            synthetic["hard_contaminated"]) == (3, 2, 2, 1)
    assert synthetic["examples"] == ["guild#0", "guild#1"] and synthetic["share"] == 2 / 3
    assert (near["contaminated"], near["share"]) == (0, 0.0)
    assert json.loads(done.stdout)[str(tmp_path / "near.jsonl")]["contaminated"] == 0


def test_contamination_needs_an_output_and_sources(tmp_path, run_command):
    for args, message in ((["--config.tasks.contamination.sources=sample"], "needs output"),
                          ([f"--config.output={tmp_path / 'c.json'}"], "contamination.sources is empty")):
        done = run_command(evaluate_main.COMMAND, ["--config", ROOT / "configs/eval_quality.py",
                                                   "--config.source=sample", "--config.task=contamination", *args])
        assert done.returncode == 1 and message in done.stderr
