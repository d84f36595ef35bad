"""The active_reading method: the generator proposes study strategies per document (JSON; an unreadable answer is
asked again, one never readable leaves its document out), then applies each, round after round until
`tokens_per_doc` (online and through a provider's batches); only the texts are training records; task-specific
strategies name the task; resume asks nothing; the dry run counts both kinds."""

import json

import pytest

from entigraph_jax.data import read_records
from entigraph_jax.generate.estimate import estimate
from entigraph_jax.generate.methods.active_reading import parse_strategies
from entigraph_jax.generate.run import generate
from entigraph_jax.llm import InvalidAnswer
from entigraph_jax.testing import FakeLLMServer
from tests.helpers.generate import config_for

DOCS = {"d1": "Ada Lark lives in Brill. Ada Lark works as a potter.",
        "d2": "The Heron Guild was founded in 1720.",
        "d3": "A document whose strategies never come back readable."}
STRATEGIES = {"d1": [{"name": "timeline", "plan": "order the events"}, {"name": "self-quiz", "plan": "ask and answer"},
                     {"name": "Timeline", "plan": "a repeat, left out"}],
              "d2": [{"name": "analogy", "plan": "compare the guild to a school"}]}


class Script:
    def __init__(self):
        self.strategy_asks = {d: 0 for d in DOCS}
        self.prompts = []

    def __call__(self, prompt: str, json_mode: bool) -> str:
        self.prompts.append(prompt)
        doc = next(d for d, text in DOCS.items() if text in prompt)
        if json_mode:
            self.strategy_asks[doc] += 1
            if doc == "d3" or (doc == "d2" and self.strategy_asks[doc] == 1):
                return "Here are some strategies: timeline, quiz."  # not JSON: asked again
            return "```json\n" + json.dumps({"strategies": STRATEGIES[doc]}) + "\n```"
        strategy = prompt.split("Study strategy: ", 1)[1].splitlines()[0]
        return f"Studied by {strategy}. " + "word " * 20


@pytest.fixture
def setup(tmp_path):
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps({"id": d, "text": t}) + "\n" for d, t in DOCS.items()))
    script = Script()
    server = FakeLLMServer(answer=script).start()
    return server, script, lambda **more: config_for(
        server, tmp_path, method="active_reading", source=f"jsonl:{source}",
        **{"llm.max_failure_fraction": 0.5, "active_reading.strategies": 3, **more})


def test_strategies_parse_as_generators_write_them():
    answer = '{"strategies": [{"name": " time  line ", "plan": "a"}, {"name": "", "plan": "b"}, {"name": "Time line"}]}'
    assert parse_strategies(answer) == [{"name": "time line", "plan": "a"}]
    for bad in ("timeline, quiz", '{"strategies": [{"plan": "x"}]}', '["timeline"]'):
        with pytest.raises(InvalidAnswer):
            parse_strategies(bad)


@pytest.mark.parametrize("mode", ["online", "batch"])
def test_strategies_then_texts_round_after_round(setup, mode):
    server, script, config = setup
    summary = generate(config(**{"active_reading.tokens_per_doc": 60, "llm.mode": mode, "llm.poll_s": 0.01}))
    assert summary.requests["strategies"] == {"done": 2, "failed": 1}  # d3 never readable: left out
    assert script.strategy_asks == {"d1": 1, "d2": 2, "d3": 3}  # attempts: 3
    texts = list(read_records(summary.records_dir))
    assert {r["kind"] for r in texts} == {"study"} and summary.records == len(texts)
    by_doc = {d: sorted((r["sample_index"], r["style"]) for r in texts if r["doc_id"] == d) for d in ("d1", "d2")}
    # a text is 34-37 tokens (the fake counts 4 characters a token): d1's first round (two strategies) reaches 60,
    # d2's (one) does not, so d2 gets a second
    assert by_doc["d1"] == [(0, "self-quiz"), (0, "timeline")]
    assert by_doc["d2"] == [(0, "analogy"), (1, "analogy")]
    assert all(r["text"].startswith(f"Studied by {r['style']}: ") for r in texts)
    assert summary.fates == {"documents with strategies": 2, "strategies": 3, "strategies per document": [1, 2],
                             "texts": 4}
    asked = len(server.requests)
    again = generate(config(**{"active_reading.tokens_per_doc": 60, "retry_failed": False, "llm.mode": mode,
                               "llm.poll_s": 0.01}))
    assert len(server.requests) == asked and again.records == 4


def test_task_specific_strategies_name_the_task(setup):
    _, script, config = setup
    generate(config(**{"active_reading.task": "short factual questions about the people and dates in it"}))
    asked = [p for p in script.prompts if "study strategies" in p]
    assert asked and all("Later you will be asked short factual questions about the people and dates in it." in p
                         and "Propose 3 different study strategies" in p for p in asked)


def test_the_dry_run_counts_strategies_and_texts(setup):
    server, _, config = setup
    priced = estimate(config(**{"active_reading.samples": 2}))
    assert priced.by_kind["strategies"]["requests"] == 3 and priced.by_kind["study"]["requests"] == 3 * 3 * 2
    assert priced.by_kind["strategies"]["train_tokens"] == 0 < priced.by_kind["study"]["train_tokens"]
    assert not server.requests
