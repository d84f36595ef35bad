"""The faithfulness audit (`--config.task=faithfulness`): texts of generate runs' records sampled per source document
and kind, split into claims and judged against their source by the fake server's fixed rule (a claim the source
contains is supported; one whose words but the last open a source sentence is contradicted; any other is not
stated), counts checked by hand; the sample's size, resume, the dry run's price, and bad input."""

import json

import pytest

from entigraph_jax.data import write_records
from entigraph_jax.evaluate import __main__ as evaluate_main
from entigraph_jax.evaluate.task import read_result
from entigraph_jax.evaluate.tasks.faithfulness import corpus_name, parse_faithfulness
from entigraph_jax.testing.fake_llm import FakeLLMServer

SOURCES = [{"id": "d1", "title": "Ada Lark", "text": "Ada Lark lives in Brill. Ada Lark works as a potter. "
            "The mill opened in 1850."},
           {"id": "d2", "title": "The Heron Guild", "text": "The Heron Guild was founded in 1720. Its hall stands "
            "in Marsh End."}]


def record(doc_id, kind, text, n, **more):
    return {"doc_id": doc_id, "kind": kind, "text": text, "request_id": f"r{n}", **more}


RECORDS = [
    # supported, contradicted (another trade), not stated
    record("d1", "pair", "Ada Lark lives in Brill. Ada Lark works as a weaver. Ada Lark sings at dawn.", 1),
    record("d2", "pair", "The Heron Guild was founded in 1720.\nThe Heron Guild was founded in 1999.", 2),  # +, x
    record("d1", "rephrase", "The mill opened in 1850.", 3, style="easy"),  # supported
    record("d1", "entities", '{"entities": ["Ada Lark"]}', 4, summary="Ada Lark lives in Brill."),  # the summary
    record("zz", "pair", "A text about a document the source does not have.", 5),  # left out, counted
    *(record("d2", "rephrase", f"Its hall stands in Marsh End. Text {i}.", 10 + i) for i in range(3)),  # 2 of 3
]


@pytest.fixture
def audit(tmp_path):
    server = FakeLLMServer().start()
    source = tmp_path / "sources.jsonl"
    source.write_text("".join(json.dumps(s) + "\n" for s in SOURCES))
    write_records(RECORDS, tmp_path / "entigraph" / "records")
    write_records([record("d2", "rephrase", "Its hall stands in Marsh End.", 20)], tmp_path / "other")
    args = ["--config.task=faithfulness", f"--config.source=jsonl:{source}",
            f"--config.tasks.faithfulness.corpora=('records:{tmp_path / 'entigraph' / 'records'}', "
            f"'mine=records:{tmp_path / 'other'}')",
            f"--config.tasks.faithfulness.judge.base_url={server.base_url}/v1",
            "--config.tasks.faithfulness.judge.model=gpt-4o-mini",
            "--config.tasks.faithfulness.judge.backoff_initial_s=0"]
    return server, args


def chats(server) -> int:
    return sum(r["path"].endswith("/chat/completions") for r in server.requests)


def test_verdicts_parse_as_judges_write_them():
    answer = "1. SUPPORTED\n**2.** not stated\n3: Contradicted (the year)\n2. SUPPORTED\n7. SUPPORTED"
    assert parse_faithfulness(answer, 4) == ["supported", "not_stated", "contradicted", None]
    assert corpus_name("records:/runs/entigraph/records")[0] == "entigraph"
    assert corpus_name("mine=records:/a/b")[0] == "mine"


def test_each_corpus_and_kind_gets_its_shares_counted_by_hand(audit, tmp_path, run_command):
    server, args = audit
    output = tmp_path / "audit.json"
    done = run_command(evaluate_main.COMMAND, [*args, f"--config.output={output}"])
    assert done.returncode == 0, done.stderr
    result = read_result(output)
    pair = result.writers["entigraph/pair"]
    assert (pair.texts, pair.documents, pair.claims, pair.unjudged) == (2, 2, 5, 0)
    assert (pair.supported, pair.not_stated, pair.contradicted) == (2 / 5, 1 / 5, 2 / 5)
    low, high = pair.intervals["supported"]
    assert low <= 2 / 5 <= high  # over the two source documents: 1 of 3 and 1 of 2
    entities = result.writers["entigraph/entities"]
    assert (entities.texts, entities.claims, entities.supported) == (1, 1, 1.0)  # the summary, not the JSON
    rephrase = result.writers["entigraph/rephrase"]
    assert (rephrase.texts, rephrase.documents) == (3, 2)  # d1's one and 2 of d2's 3 (per_document=2)
    assert rephrase.claims == 1 + 2 * 2 and rephrase.supported == 3 / 5 and rephrase.not_stated == 2 / 5
    assert result.writers["mine/rephrase"].supported == 1.0
    assert result.details["unmatched"] == {"entigraph": 1, "mine": 0}
    assert json.loads(done.stdout)["entigraph/pair"]["contradicted"] == 2 / 5
    asked = chats(server)
    output.unlink()
    again = run_command(evaluate_main.COMMAND, [*args, f"--config.output={output}"])  # the journal answers all
    assert again.returncode == 0 and chats(server) == asked
    assert read_result(output).writers == result.writers


def test_the_dry_run_prices_the_requests_and_asks_nothing(audit, tmp_path, run_command):
    server, args = audit
    output = tmp_path / "dry.json"
    done = run_command(evaluate_main.COMMAND, [*args, "--config.tasks.faithfulness.dry_run=true",
                                               f"--config.output={output}"])
    assert done.returncode == 0, done.stderr
    estimate = read_result(output).estimate
    texts = 2 + 3 + 1 + 1  # pair, rephrase, entities; mine
    assert estimate["texts"] == texts and estimate["requests"] == 2 * texts  # one split, one verdict request each
    assert estimate["cost_usd"] > 0 and "gpt-4o-mini" in estimate["price"] and chats(server) == 0


def test_bad_input_is_one_line(audit, tmp_path, run_command):
    _, args = audit
    wrong = run_command(evaluate_main.COMMAND, [*args, "--config.tasks.faithfulness.corpora=('jsonl:/x.jsonl',)",
                                                f"--config.output={tmp_path / 'a.json'}"])
    assert wrong.returncode != 0 and "tasks.faithfulness.corpora" in wrong.stderr
    none = f"--config.tasks.faithfulness.corpora=('records:{tmp_path}/none',)"
    absent = run_command(evaluate_main.COMMAND, [*args, none, f"--config.output={tmp_path / 'b.json'}"])
    assert absent.returncode != 0 and "no such folder" in absent.stderr and len(absent.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()
