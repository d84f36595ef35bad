"""Generation against a local fake LLM server, in both wire formats (OpenAI and Gemini)."""

import dataclasses
import hashlib
import itertools
import json
import shutil
import sqlite3

import pytest

from entigraph_jax import cli
from entigraph_jax.clients.llm import parse_duration
from entigraph_jax.config import ConfigError, load_config_file
from entigraph_jax.data import Document, SourceError, load_source, load_tokenizer, read_records, write_records
from entigraph_jax.generate import __main__ as generate_main
from entigraph_jax.generate.estimate import estimate
from entigraph_jax.generate.prompts import PROMPTS
from entigraph_jax.generate.prompts import identity as prompt_identity
from entigraph_jax.generate.requests import (
    Request,
    entity_requests,
    messages,
    nth_combination,
    pair_requests,
    rephrase_requests,
    triple_requests,
    triple_schedule,
)
from entigraph_jax.generate.run import GenerationFailed, generate, merge
from entigraph_jax.generate.settings import GenerateSettings
from entigraph_jax.llm.templates import read_template
from entigraph_jax.runs import CorpusRun
from entigraph_jax.testing import FakeLLMServer, fake_answer
from entigraph_jax.testing.fake_llm import CONCEPT
from tests.helpers import ROOT
from tests.helpers.generate import config_for
from tests.helpers.tokenizers import build_bpe_tokenizer

KEY = "fake-gemini-key-for-tests-0123456789abcdef"


@pytest.fixture
def server():
    return FakeLLMServer(hang_s=3.0, retry_after_s=0.3).start()


@pytest.fixture(autouse=True)
def gemini_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)


def sent_kind(body: dict) -> str:
    """Which stage a request the fake server received belongs to, read off its prompt."""
    prompt = body["messages"][-1]["content"] if "messages" in body else body["contents"][0]["parts"][0]["text"]
    return "entities" if "JSON object" in prompt else "triple" if "three entities" in prompt else "pair"


def records(config):
    return list(read_records(CorpusRun(config.output_dir).records))


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_happy_path_on_the_sample_corpus(server, tmp_path, backend):
    config = config_for(server, tmp_path, backend)
    summary = generate(config)
    out = records(config)
    assert summary.status == "complete" and summary.records == len(out)
    assert summary.dropped_entities == 10  # each document's concept entity, which its text never spells
    kinds = {k: sum(r["kind"] == k for r in out) for k in ("entities", "pair", "triple")}
    assert kinds["entities"] == 10 and kinds["pair"] > 50 and kinds["triple"] > 5
    assert len({r["request_id"] for r in out}) == len(out) == len(server.requests)
    docs = {d.doc_id: d for d in load_source("sample")}
    for record in out:  # the model's answer, unchanged but for surrounding whitespace
        assert {"doc_id", "kind", "entities", "model", "prompt_version", "request_id", "usage"} <= set(record)
        assert record["model"] == "fake-model" and record["prompt_version"] == "v3"
        request = Request(record["request_id"], record["doc_id"], record["kind"], record["kind"] == "entities",
                          tuple(record["entities"]) if record["kind"] != "entities" else ())
        _, prompt = messages(request, docs[record["doc_id"]], "v3")
        assert record["text"] == fake_answer(prompt, record["kind"] == "entities").strip()
        assert record["truncated"] is False
    pairs = [r for r in out if r["kind"] == "pair"]
    assert all(len(r["entities"]) == 2 for r in pairs) and all(r["usage"]["output_tokens"] > 0 for r in pairs)
    sent = [sent_kind(r["body"]) for r in sorted(server.requests, key=lambda r: r["time"])]
    assert sent == sorted(sent, key=["entities", "pair", "triple"].index)  # every pair before any triple
    # training reads an entity record's summary, never its JSON
    trained = {d.text for d in load_source(f"records:{tmp_path / 'out' / 'records'}")}
    summaries = {r["summary"] for r in out if r["kind"] == "entities"}
    assert summaries <= trained and not any(t.lstrip().startswith("{") for t in trained)


def test_concept_entities_are_kept_when_the_in_document_check_is_off(server, tmp_path):
    config = config_for(server, tmp_path, **{"entigraph.entities_in_document": False,
                                             "entigraph.triples_fraction": 0.0, "entigraph.max_pairs_per_doc": 0})
    summary = generate(config)
    out = records(config)
    assert summary.status == "complete" and summary.dropped_entities == 0
    entity_records = [r for r in out if r["kind"] == "entities"]
    assert all(r["entities"][-1] == CONCEPT and r["dropped_entities"] == [] for r in entity_records)
    with_concept = [r for r in out if r["kind"] == "pair" and CONCEPT in r["entities"]]
    assert len(with_concept) == sum(len(r["entities"]) - 1 for r in entity_records)  # paired with every other one


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_rate_limits_server_errors_and_timeouts_are_retried(server, tmp_path, backend):
    server.inject("429", "500", "timeout", "500")
    config = config_for(server, tmp_path, backend, **{"llm.timeout_s": 1.5})  # the hung answer comes after 3 s
    summary = generate(config)
    assert summary.status == "complete" and summary.retried_this_run == 4
    first = server.requests[0]  # got the 429
    again = next(r for r in server.requests[1:] if r["body"] == first["body"])
    assert again["time"] - first["time"] >= 0.3  # sent again after Retry-After, not the 10 ms backoff
    # and the other workers held back too: nothing sent while the server said to wait
    assert not [r for r in server.requests if first["time"] + 0.1 < r["time"] < first["time"] + 0.3]
    assert len(records(config)) == len(server.requests) - 4


def test_rate_limit_headers_hold_every_request_until_the_reset(server, tmp_path):
    server.rate_limit(4, 0.4)
    summary = generate(config_for(server, tmp_path, **{"llm.max_concurrency": 1, "entigraph.max_pairs_per_doc": 1,
                                                       "entigraph.triples_fraction": 0}))
    assert summary.status == "complete" and summary.records == 20
    assert server.rate_limited == 0  # "remaining 0" was heeded before the server had to refuse
    times = [r["time"] for r in server.requests]
    assert times[-1] - times[0] >= 4 * 0.4  # 20 requests, 4 per 0.4 s window
    assert [parse_duration(d) for d in ("1h2m3.5s", "6m0s", "20ms", "")] == [3723.5, 360.0, 0.02, 0.0]


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_malformed_entity_json_is_asked_again_then_recorded_as_failed(server, tmp_path, backend):
    server.inject("malformed")
    config = config_for(server, tmp_path, backend)
    assert generate(config).status == "complete"  # one re-ask fixed it
    server.inject(*["malformed"] * 3)
    config = config_for(server, tmp_path / "again", backend, **{"entigraph.entity_attempts": 3,
                                                               "retry_failed": "false", "llm.max_concurrency": 1})
    summary = generate(config)
    assert summary.requests["entities"] == {"done": 9, "failed": 1} and summary.status == "incomplete"
    error, spent = sqlite3.connect(CorpusRun(tmp_path / "again" / "out").journal).execute(
        "SELECT error, output_tokens FROM requests WHERE status='failed'").fetchone()
    assert error.startswith("invalid entity JSON after 3 attempt(s)")
    assert spent > 0  # its three answers were paid for: they count in the spend and the budget


@pytest.mark.parametrize("backend", ["openai", "gemini"])
@pytest.mark.parametrize("fault", ["empty", "blocked"])
def test_empty_or_blocked_answers_fail_that_request_only(server, tmp_path, backend, fault):
    server.inject(fault)
    config = config_for(server, tmp_path, backend, **{"entigraph.entity_attempts": 1, "retry_failed": "false",
                                                      "llm.max_concurrency": 1})
    summary = generate(config)
    assert summary.requests["entities"] == {"done": 9, "failed": 1}
    assert summary.retried_this_run == 0
    rerun = generate(config_for(server, tmp_path, backend, **{"entigraph.entity_attempts": 1}))
    assert rerun.status == "complete" and rerun.records == summary.records + 1 + (
        rerun.requests["pair"]["done"] - summary.requests["pair"]["done"]
        + rerun.requests["triple"]["done"] - summary.requests["triple"]["done"])


def test_the_key_never_reaches_a_file(server, tmp_path, monkeypatch):
    config = config_for(server, tmp_path, "gemini")
    generate(config)
    key_file = tmp_path / "openai.key"
    key_file.write_text("sk-" + "k" * 40 + "\n")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    generate(config_for(server, tmp_path / "o", "openai", **{"llm.api_key_file": key_file}))
    assert any(r["path"].endswith("/chat/completions") for r in server.requests)
    for path in [*tmp_path.rglob("*")]:
        if path.is_file() and path != key_file:
            data = path.read_bytes()
            assert KEY.encode() not in data and b"k" * 40 not in data, path


def test_bad_input(server, tmp_path):
    (tmp_path / "empty.jsonl").write_text('{"text": " "}\n')
    with pytest.raises(SourceError, match="the corpus is empty"):
        generate(config_for(server, tmp_path, source=f"jsonl:{tmp_path / 'empty.jsonl'}"))
    with pytest.raises(ConfigError, match="config: llm.backend='claude': expected one of openai, gemini, vllm, local"):
        config_for(server, tmp_path, **{"llm.backend": "claude"})
    unreachable = config_for(server, tmp_path / "u", **{"llm.base_url": "http://127.0.0.1:9/v1",
                                                        "llm.max_retries": 1})
    with pytest.raises(GenerationFailed, match=r"cannot reach http://127.0.0.1:9/v1"):
        generate(unreachable)


def test_a_training_token_budget_stops_at_what_training_reads(server, tmp_path):
    (tmp_path / "tok").mkdir()
    tokenizer = build_bpe_tokenizer(tmp_path / "tok", ["<s>", "</s>"], 300)
    unbudgeted = config_for(server, tmp_path / "a", **{"entigraph.triples_fraction": 0.0})
    assert generate(unbudgeted).train_tokens is None  # no training tokenizer: not measured
    summary = generate(unbudgeted.override({"budget.tokenizer.path": str(tokenizer)}))  # counted on resume
    assert summary.train_tokens == sum(map(len, count_tokens(tmp_path / "a" / "out" / "records", tokenizer))) > 0
    cap = summary.train_tokens // 3
    config = config_for(server, tmp_path / "b", **{"llm.max_concurrency": 1,
                                                   "entigraph.triples_fraction": 0.0, "budget.max_train_tokens": cap,
                                                   "budget.tokenizer.path": str(tokenizer)})
    summary = generate(config)
    counts = [len(ids) for ids in count_tokens(tmp_path / "b" / "out" / "records", tokenizer)]
    assert summary.status == "budget reached" and summary.train_tokens == sum(counts)
    assert sum(counts[:-1]) < cap <= sum(counts)  # one request at a time: it stops at the first record past the cap
    assert summary.output_tokens != summary.train_tokens  # the generator's count is another figure
    with pytest.raises(ConfigError, match="budget.max_train_tokens=10: .* set budget.tokenizer.path"):
        config_for(server, tmp_path / "c", **{"budget.max_train_tokens": 10})


def count_tokens(records_folder, tokenizer_path):
    """Each training text of a corpus as training tokenizes it: BOS, the text, EOS."""
    tokenizer = load_tokenizer(tokenizer_path)
    return [tokenizer.bos() + tokenizer.encode(d.text) + [tokenizer.eos_id]
            for d in load_source(f"records:{records_folder}")]


def test_dry_run_matches_what_a_run_plans(server, tmp_path):
    config = config_for(server, tmp_path)
    guess = estimate(config)
    assert guess.requests == 10 + 10 * 30 + 10 * 10 and guess.entity_counts.startswith("guessed")
    assert guess.within_budget is None
    budgeted = estimate(config_for(server, tmp_path, **{"budget.max_output_tokens": 10 * 400 + 300 * 600 + 30 * 600}))
    assert budgeted.within_budget["requests"] == 10 + 10 * 30 + 30  # entities, every pair, then 30 triples
    assert guess.train_tokens == 10 * (150 + 2) + (300 + 100) * (600 + 2)  # summaries and answers, BOS and EOS
    per_request = {k: v["input_tokens"] / v["requests"] for k, v in guess.by_kind.items()}
    assert per_request["pair"] < per_request["triple"] < 1.2 * per_request["pair"]  # one more entity line each
    rephrase = estimate(config_for(server, tmp_path, method="rephrase", **{"rephrase.tokens_per_doc": 3000}))
    assert rephrase.requests == 10 * 4 * 2  # rounds of the four styles until 3000 tokens at the guessed 600
    by_train = estimate(config_for(server, tmp_path, **{"budget.max_train_tokens": 10 * 152 + 300 * 602 + 20 * 602,
                                                        "budget.tokenizer.path": "t.json"}))
    assert by_train.within_budget["requests"] == 10 + 300 + 20 and by_train.within_budget["train_tokens"] == (
        10 * 152 + 320 * 602)
    assert not (tmp_path / "out").exists()  # nothing written
    summary = generate(config)
    exact = estimate(config)  # entity counts now come from the journal
    assert exact.entity_counts == "from the journal"
    assert {k: v["requests"] for k, v in exact.by_kind.items()} == {
        k: v["done"] for k, v in summary.requests.items()}


def test_shards_then_merge_equal_one_run(server, tmp_path):
    whole = config_for(server, tmp_path / "whole")
    generate(whole)
    for index in range(2):
        generate(config_for(server, tmp_path, **{"num_shards": 2, "shard_index": index}))
    merged = merge(config_for(server, tmp_path, num_shards=2))
    assert merged.records == len(records(whole))
    ids = lambda config: sorted(r["request_id"] for r in records(config))  # noqa: E731
    assert ids(config_for(server, tmp_path)) == ids(whole)


def test_merge_drops_exact_or_near_duplicates_when_asked(tmp_path):
    story = "the ferry leaves the harbour at dawn and the crew sings while the gulls circle above the mast"
    shards = [[story, "bells cast with salt in a town of grey shingle", story + " today"],
              [story.upper(), "an entirely new text about the mill and its wheel on the river"]]
    out = CorpusRun(tmp_path / "out")
    for index, texts in enumerate(shards):
        shard = out.shard(index, 2)
        write_records([{"kind": "pair", "doc_id": f"d{index}", "text": t} for t in texts], shard.records)
        shard.write_summary({"status": "complete"})
    config = GenerateSettings(source="sample", output_dir=str(out.root), num_shards=2)
    kept = {}
    for dedup, dropped in (("none", 0), ("exact", 1), ("near", 2)):  # the upper-cased copy; and one word added
        shutil.rmtree(out.records, ignore_errors=True)
        result = merge(dataclasses.replace(config, dedup=dedup))
        kept[dedup] = [r["text"] for r in read_records(out.records)]
        assert (result.dropped_duplicates, result.records) == (dropped, 5 - dropped)
    assert kept["near"] == [story, shards[0][1], shards[1][1]]


def test_rephrase_and_budgets(server, tmp_path):
    config = config_for(server, tmp_path, method="rephrase", **{"rephrase.samples": 2, "budget.max_requests": 30})
    summary = generate(config)
    assert summary.status == "budget reached" and summary.records == 30
    assert {r["doc_id"] for r in records(config)} == {d.doc_id for d in load_source("sample")}  # spread evenly
    summary = generate(config.override({"budget.max_requests": 0}))
    assert summary.status == "complete" and summary.records == 10 * 4 * 2
    assert {r["style"] for r in records(config)} == {"easy", "wiki", "academic", "qa"}
    assert CorpusRun(tmp_path / "out").summary() == dataclasses.asdict(summary)


def test_rephrase_repeats_to_a_token_budget(server, tmp_path):
    config = config_for(server, tmp_path, method="rephrase", **{"rephrase.tokens_per_doc": 500})
    generate(config)
    rounds = {}  # doc -> [output tokens of round 0, round 1, ...]
    for record in records(config):
        tokens = rounds.setdefault(record["doc_id"], [])
        tokens.extend([0] * (record["sample_index"] + 1 - len(tokens)))
        tokens[record["sample_index"]] += record["usage"]["output_tokens"]
    assert len(rounds) == 10
    for tokens in rounds.values():
        assert sum(tokens) >= 500 > sum(tokens[:-1])  # enough, and not one round more than needed
    assert max(len(t) for t in rounds.values()) > 1


@pytest.mark.parametrize("override, message", [
    ("--config.llm.backend=claude", "generate: error: config: llm.backend='claude': expected one of openai"),
    ("--config.source=jsonl:/nonexistent.jsonl", "generate: error: /nonexistent.jsonl: no such file or folder"),
    ("--config.llm.base_url=http://127.0.0.1:9/v1", "generate: error: llm: cannot reach http://127.0.0.1:9/v1"),
    ("--cancel", "generate: error: --cancel stops provider batches: it needs llm.mode=batch"),
    ("--push_to_hub=me/corpus", "generate: error: nothing to publish: "),  # nothing generated there yet
])
def test_command_line_errors_are_one_line(tmp_path, capsys, override, message):
    argv = ["--config", str(ROOT / "configs" / "entigraph_sample.py"), f"--config.output_dir={tmp_path}",
            "--config.llm.max_retries=1", "--config.llm.backoff_initial_s=0.01", override]
    assert cli.main(generate_main.COMMAND, argv) == 1
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("generate: error")]
    assert len(errors) == 1 and errors[0].startswith(message), stderr


def test_triple_schedule_is_a_seeded_shuffle_of_every_triple():
    doc, names = load_source("sample")[0], [f"e{i}" for i in range(9)]
    settings = GenerateSettings().override({"llm.model": "m"})
    schedule = triple_schedule(doc, names, settings)
    assert sorted(schedule) == list(range(84)) and schedule != sorted(schedule)  # C(9, 3), each once, shuffled
    assert schedule == triple_schedule(doc, names, settings)
    assert schedule != triple_schedule(doc, names, settings.override({"seed": 1}))
    assert [nth_combination(names, 3, i) for i in range(84)] == list(itertools.combinations(names, 3))
    half = triple_schedule(doc, names, settings.override({"entigraph.triples_fraction": 0.5}))
    assert half == schedule[:42]  # the same order, cut
    assert len(triple_schedule(doc, names, settings.override({"entigraph.max_triples_per_doc": 5}))) == 5


def test_pair_prompt_anchors_every_section_on_the_title():
    doc = load_source("sample")[0]
    settings = GenerateSettings().override({"llm.model": "m"})
    request = pair_requests(doc, ["Hesper Dunmoyle", "the salt bells"], settings)[0]
    _, prompt = messages(request, doc, "v2")
    assert f'### "{doc.title}" and Hesper Dunmoyle\n' in prompt and f'### "{doc.title}" and the salt bells\n' in prompt
    assert f'### Hesper Dunmoyle and the salt bells in "{doc.title}"\n' in prompt
    first, last = doc.author.split(", ")[::-1]
    assert f'Document:\n"{doc.title}", {first} {last}, {doc.year}.\n' in prompt
    tricky = Document("x", "a {title} and {entity_1} in the text", title="T")
    _, filled = messages(dataclasses.replace(request, doc_id="x"), tricky, "v2")
    assert "a {title} and {entity_1} in the text" in filled  # a document is never searched for slots


# The shape of the released code's EntiGraph requests (utils/prompt_utils.py, data/entigraph.py): which role holds
# what, the user turn's headings and slots, the system message's asks and answer headings (placeholders as written)
RELEASED = {
    "entities": {"user": ["### Document Content:", "{document}"],
                 "system": ["People", "Places", "Object", "Concepts", '"summary"', '"entities"']},
    "pair": {"user": ["### Document Content:", "{document}", "### Entities:", "- {entity_1}", "- {entity_2}"],
             "system": ["### Discussion of <title> in relation to <entity1>",
                        "### Discussion of <title> in relation to <entity2>",
                        "### Discussion of Interaction between <entity1> and <entity2> in context of <title>"]},
    "triple": {"user": ["### Document Content:", "{document}", "### Entities:", "- {entity_1}", "- {entity_2}",
                        "- {entity_3}"],
               "system": ["### Discussion of <title> in relation to <entity1>",
                          "### Discussion of <title> in relation to <entity2>",
                          "### Discussion of <title> in relation to <entity3>",
                          "### Discussion of Interaction between <entity1>, <entity2> and <entity3> in context of "
                          "<title>"]},
}


def test_the_paper_recipe_asks_what_the_paper_asks_in_the_roles_it_asks_them():
    """Version `paper` has the released code's shape: each kind's instructions in the system message, the document
    under its heading (and the entities under theirs) in the user turn, in our own words; v3 stays ours."""
    recipe = GenerateSettings.from_config(load_config_file(ROOT / "configs" / "entigraph_quality.py"))
    assert recipe.prompt_version == "paper" and not recipe.entigraph.entities_in_document
    doc, names = load_source("sample")[0], ["Hesper Dunmoyle", "Craftsmanship", "Old Tansy"]
    asked = {"entities": entity_requests([doc], recipe)[0], "pair": pair_requests(doc, names[:2], recipe)[0],
             "triple": triple_requests(doc, names, [0], recipe)[0]}
    for kind, request in asked.items():
        system, user = messages(request, doc, "paper")
        filled = [line.replace("{document}", doc.text).replace("{entity_1}", names[0])
                  .replace("{entity_2}", names[1]).replace("{entity_3}", names[2]) for line in RELEASED[kind]["user"]]
        assert user == "\n".join(filled), kind  # the user turn is the document and the entities, nothing more
        for part in RELEASED[kind]["system"]:
            assert part in system, (kind, part)
        assert doc.text not in system and "only what" not in system.lower()  # v3's added constraint is not the paper's
    system, _ = messages(asked["entities"], doc, "paper")
    assert "as many entities as you can" in system and json.loads(system[system.index("{"):].replace("...", '"x"'))
    _, v3 = messages(asked["pair"], doc, "v3")
    assert "use only what" in messages(asked["pair"], doc, "v3")[0].lower() and doc.text in v3  # ours, unchanged


def test_a_reshaped_built_in_version_asks_again():
    """`paper` was reshaped in place: its request ids carry the revision, so a journal's answers to the earlier
    shape are not reused for the new one; v3's ids are what they were."""
    assert prompt_identity("paper") == "paper@2" and prompt_identity("v3") == "v3"


def test_the_rephrase_recipe_is_the_papers_three_styles_and_qa_is_apart():
    rephrase = GenerateSettings.from_config(load_config_file(ROOT / "configs" / "rephrase_quality.py"))
    qa = GenerateSettings.from_config(load_config_file(ROOT / "configs" / "qa_sft_quality.py"))
    assert rephrase.rephrase.styles == ("easy", "wiki", "academic") and qa.rephrase.styles == ("qa",)
    assert (rephrase.budget.max_train_tokens, qa.budget.max_train_tokens) == (38_000_000, 28_000_000)
    assert rephrase.rephrase.tokens_per_doc * 265 >= 38_000_000 and rephrase.llm.temperature == 1.0
    doc = load_source("sample")[0]
    wanted = {"easy": "toddler", "wiki": "Wikipedia", "academic": "erudite scholar", "qa": '"Question: ..."'}
    for request in rephrase_requests([doc], qa.override({"rephrase.styles": tuple(wanted)})):
        system, prompt = messages(request, doc, "paper")  # the style's ask is the assistant's role, as in App. H.2
        assert wanted[request.style] in system and prompt == f"### Document Content:\n{doc.text}"
        assert "every piece of content of the article intact, including its title, author and year" in system


@pytest.mark.parametrize("backend", ["openai", "gemini"])
def test_answers_cut_at_the_output_cap_are_counted(server, tmp_path, backend):
    server.inject("length")
    summary = generate(config_for(server, tmp_path, backend, **{"llm.max_concurrency": 1}))
    assert summary.status == "complete" and summary.truncated == {"entities": 1}
    assert CorpusRun(tmp_path / "out").summary()["truncated"] == {"entities": 1}
    assert sum(r.get("truncated", False) for r in records(config_for(server, tmp_path, backend))) == 1


def test_a_prompt_folder_of_ones_own(server, tmp_path, run_command):
    """A folder path as prompt_version: checked for templates and slots in one line; its content hash is in
    the request ids (an edited prompt is asked again), while a built-in version's ids stay as they were."""
    mine = tmp_path / "prompts"
    shutil.copytree(PROMPTS / "v3", mine)
    (mine / "triple.txt").unlink()
    (mine / "pair.txt").write_text("Write about {entity_1} in {document}")
    done = run_command(generate_main.COMMAND, ["--config", str(ROOT / "configs/entigraph_sample.py"),
                                                f"--config.prompt_version={mine}",
                                                f"--config.output_dir={tmp_path / 'out'}"])
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"generate: error: prompt_version={str(mine)!r}: no triple template(s); pair lacks {{entity_2}}, "
        "which method 'entigraph' needs"]
    assert not (tmp_path / "out").exists()
    shutil.copy(PROMPTS / "v3" / "triple.txt", mine)
    shutil.copy(PROMPTS / "v3" / "pair.txt", mine)
    read_template.cache_clear()  # a run reads its prompts once; this test edits them between "runs" in one process
    docs = load_source("sample")[:2]

    def ids(version):
        return [r.request_id for r in entity_requests(docs, config_for(server, tmp_path, prompt_version=version))]

    before = ids(str(mine))
    (mine / "entities.txt").write_text((mine / "entities.txt").read_text() + "\nList them in the order they appear.")
    prompt_identity.cache_clear()
    read_template.cache_clear()
    assert ids(str(mine)) != before and ids("v3") != before  # edited: asked again; not v3's answers either
    key = json.dumps([docs[0].text, "entities", [], "v3", "fake-model", 0, ""], ensure_ascii=False)
    assert ids("v3")[0] == hashlib.sha256(key.encode()).hexdigest()[:32]  # built-in ids as before: journals resume
    summary = generate(config_for(server, tmp_path, prompt_version=str(mine)))
    assert summary.status == "complete" and summary.prompt_version == str(mine)
