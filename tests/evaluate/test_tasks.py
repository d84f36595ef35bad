"""The task registry: a task added as one file under `evaluate/tasks/` is run by the evaluate command, named by a
training hook and listed by the before/after report, with no other file touched; old keys are one line."""

import json
import subprocess
import sys

import pytest

from entigraph_jax.evaluate import tasks as task_package
from entigraph_jax.evaluate.settings import EvaluateSettings
from entigraph_jax.evaluate.task import read_result, tasks
from entigraph_jax.runs import TrainRun
from entigraph_jax.train.settings import TrainSettings
from tests.helpers import ROOT
from tests.helpers.modules import module_in

# Of each document, the share of its first 8 words the model predicts greedily one after the other
# (a document's first token given BOS, and so on): a task of a dozen lines, written as a user would.
NEW_TASK = '''
"""first_words: how often the model continues each document's first words greedily."""

import dataclasses

from entigraph_jax.settings import Settings, positive, setting

from ..likelihood import continuation_logprobs
from ..task import Context, Result, Row, Task


@dataclasses.dataclass(frozen=True)
class FirstWordsSettings(Settings):
    words: int = setting(8, "words of each document", check=positive)


@dataclasses.dataclass(frozen=True)
class FirstWords(Result):
    share: float | None = None

    def figures(self, split="all"):
        return {"share": self.share}

    def rows(self):
        return {"first words greedy": Row(self.share, self.details["documents"])}


def run(settings, context: Context) -> FirstWords:
    tokenizer = context.tokenizer
    pairs = [(tokenizer.bos() or [0], tokenizer.encode(" ".join(d.text.split()[: settings.words])))
             for d in context.documents]
    _, greedy = continuation_logprobs(context.model, pairs)
    return FirstWords("first_words", share=float(greedy.mean()), details={"documents": len(pairs)})


TASK = Task("first_words", "the share of documents whose first words the model continues greedily",
            FirstWordsSettings, needs="model", reads="text", result=FirstWords, run=run)
'''


@pytest.fixture
def new_task():
    """The file, written where the project's tasks are; this process's registry read again with it and without."""
    with module_in(task_package, "first_words", NEW_TASK, tasks) as path:
        yield path


def command(*argv: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done


def test_a_task_in_one_new_file_is_a_command_a_hook_and_a_report_row(new_task, quickstart_run, tmp_path):
    export = quickstart_run.run.export
    listed = command("entigraph_jax.evaluate", "--help").stdout
    assert "  first_words: the share of documents" in listed and "tasks.first_words.words = 8" in listed

    done = command("entigraph_jax.evaluate", f"--config.model.path={export}", "--config.task=first_words",
                   "--config.source=sample", f"--config.output={tmp_path / 'first.json'}")
    share = json.loads(done.stdout)["share"]
    result = read_result(tmp_path / "first.json")
    assert type(result).__name__ == "FirstWords" and result.share == share and 0 <= share <= 1

    workdir = tmp_path / "run"
    command("entigraph_jax.train", "--config", str(ROOT / "configs/quickstart.py"), f"--workdir={workdir}",
            "--config.max_steps=2", "--config.hooks.first_words.every_steps=2",
            "--config.hooks.first_words.source=sample", "--config.log.tensorboard=false")
    assert [r["step"] for r in TrainRun(workdir).rows() if "first_words/share" in r] == [2]

    report = tmp_path / "report"
    command("entigraph_jax.evaluate", "report", f"--config.models={export}", "--config.labels=base",
            "--config.corpus=sample", "--config.tasks=first_words", f"--config.output_dir={report}")
    rows = json.loads((report / "table.json").read_text())["rows"]
    assert list(rows) == ["first words greedy corpus"] and rows["first words greedy corpus"][0]["value"] == share
    assert rows["first words greedy corpus"][0]["n"] == 10  # the sample's ten documents


def test_old_keys_are_one_line_naming_the_new_ones():
    for old, new in ((("mode", "loglik"), "config: mode is now task"),
                     (("sampling", {"samples": 2}), "config: sampling is now tasks.closed_book.sampling"),
                     (("loglik_batch", 4), "config: loglik_batch is now tasks.loglik.batch")):
        with pytest.raises(Exception, match=new):
            EvaluateSettings.from_config(dict([old]))
    with pytest.raises(Exception, match="hooks.quality_loglik is now hooks.loglik"):
        TrainSettings.from_config({"hooks": {"quality_loglik": {"every_steps": 5}}})
