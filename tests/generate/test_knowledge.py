"""The knowledge method: each document's detailed summary, extractive summary and atomic facts, every sentence (fact)
checked against the document by the generator. A scripted generator gives every fate — kept whole, edited (its
unsupported sentences removed), dropped (nothing supported), left out (a check that never answers readably) —
counted by hand, online and through a provider's batches; another policy re-exported from the journal without
asking; the dry run's requests."""

import json

import pytest

from entigraph_jax.data import read_records
from entigraph_jax.generate.estimate import estimate
from entigraph_jax.generate.methods.knowledge import units
from entigraph_jax.generate.run import generate
from entigraph_jax.testing import FakeLLMServer, fake_answer
from tests.helpers.generate import config_for

DOCS = {"d1": "Ada Lark lives in Brill. Ada Lark works as a potter. The mill opened in 1850.",
        "d2": "The Heron Guild was founded in 1720. Its hall stands in Marsh End."}
WRITTEN = {  # (document, kind) -> the generator's text
    ("d1", "detailed"): "Ada Lark lives in Brill. Ada Lark invented the telescope.",  # one of two supported
    ("d1", "extractive"): "Ada Lark works as a potter. The mill opened in 1850. Ada Lark lives in Brill.",  # all
    ("d1", "atomic"): "- Ada Lark lives in Brill.\n- Ada Lark works as a potter.\n- Ada Lark owns a boat.",  # 2 of 3
    ("d2", "detailed"): "Nothing here is in the document. Nor this.",  # none
    ("d2", "extractive"): "The Heron Guild was founded in 1720. Its hall stands in Marsh End.",  # all
    ("d2", "atomic"): "- The Heron Guild is old in spirit.",  # its check never answers readably
}
KINDS = {"detailed summary": "detailed", "Quote the passages": "extractive", "List the facts": "atomic"}


def scripted(prompt: str, json_mode: bool) -> str:
    if "<statements>" in prompt:
        return "I cannot tell." if "old in spirit" in prompt else fake_answer(prompt, json_mode)
    doc = next(d for d, text in DOCS.items() if text in prompt)
    return WRITTEN[(doc, next(kind for cue, kind in KINDS.items() if cue in prompt))]


@pytest.fixture
def setup(tmp_path):
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps({"id": d, "text": t}) + "\n" for d, t in DOCS.items()))
    server = FakeLLMServer(answer=scripted).start()
    return server, lambda **more: config_for(server, tmp_path, method="knowledge", source=f"jsonl:{source}",
                                             **{"llm.max_failure_fraction": 0.5, **more})


def test_claims_are_sentences_or_an_atomic_texts_lines():
    assert units('He said "yes." Then he left.\nA new line', "detailed") == ['He said "yes."', "Then he left.",
                                                                              "A new line"]
    assert units("- one fact.\n2) another fact.\n\n* a third", "atomic") == ["one fact.", "another fact.", "a third"]


@pytest.mark.parametrize("mode", ["online", "batch"])
def test_every_fate_counted_by_hand_and_another_policy_from_the_journal(setup, mode):
    server, config = setup
    summary = generate(config(**{"llm.mode": mode, "llm.poll_s": 0.01}))
    assert summary.status == "incomplete" and summary.requests["knowledge"] == {"done": 6}  # a check failed
    assert summary.requests["check"] == {"done": 5, "failed": 1}
    assert summary.fates == {"claims": 12, "claims unsupported": 4, "dropped: no claim supported": 1,
                             "edited: unsupported claims removed": 2, "kept": 2, "texts": 6,
                             "unchecked (left out)": 1}
    written = {(r["doc_id"], r["style"]): r for r in read_records(summary.records_dir)}
    assert set(written) == {("d1", "detailed"), ("d1", "extractive"), ("d1", "atomic"), ("d2", "extractive")}
    assert written[("d1", "detailed")]["text"] == "Ada Lark lives in Brill."
    assert written[("d1", "atomic")]["text"] == "Ada Lark lives in Brill.\nAda Lark works as a potter."
    assert written[("d1", "extractive")]["text"] == WRITTEN[("d1", "extractive")]
    assert {r["kind"] for r in written.values()} == {"knowledge"} and summary.records == 4
    asked = len(server.requests)
    dropped = generate(config(**{"knowledge.unsupported": "drop", "retry_failed": False, "llm.mode": mode,
                                 "llm.poll_s": 0.01}))
    assert len(server.requests) == asked  # the journal answers everything
    assert dropped.fates["dropped: unsupported claims"] == 3 and dropped.fates["kept"] == 2 and dropped.records == 2


def test_the_dry_run_counts_each_text_and_its_check(setup):
    server, config = setup
    priced = estimate(config(**{"knowledge.samples": 2}))
    assert priced.by_kind["knowledge"]["requests"] == priced.by_kind["check"]["requests"] == 2 * 3 * 2
    assert priced.by_kind["check"]["train_tokens"] == 0 < priced.by_kind["knowledge"]["train_tokens"]
    assert not server.requests
