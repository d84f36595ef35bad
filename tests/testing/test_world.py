"""The EntiGraph miniature's world and generator: facts read back from any phrasing, questions at chance for a
guesser, and a generator (the fake server's world mode) that restates its document's facts and no other, checked
on a real `generate` run of each method."""

import collections
import json

import pytest

from entigraph_jax.data import load_source, read_records
from entigraph_jax.generate.run import generate
from entigraph_jax.testing import FakeLLMServer
from entigraph_jax.testing.world import RELATIONS, make_world, read_facts, world_answer
from tests.helpers.generate import config_for


@pytest.fixture(scope="module")
def world():
    return make_world(seed=1)


def test_every_phrasing_reads_back_as_its_fact(world):
    for fact in world.facts:
        for phrasing in range(len(RELATIONS[fact.relation][2])):
            assert read_facts(fact.say(phrasing)) == {fact}, (fact, phrasing)
    for i, (_, _, stated) in enumerate(world.documents):
        assert read_facts(world.document_text(i)) == set(stated)
    assert sorted(f for *_, stated in world.documents for f in stated) == sorted(world.facts)  # each fact once


def test_entities_recur_across_documents_and_questions_are_fair(world):
    seen = collections.Counter(n for *_, stated in world.documents for n in {f.subject for f in stated})
    assert sum(c > 1 for c in seen.values()) >= len(seen) // 2  # most subjects appear in several documents
    questions = world.questions(seed=0)
    assert len(questions) == len(world.facts)
    for q, fact in zip(questions, world.facts, strict=True):
        kinds = {RELATIONS[fact.relation][1]}
        assert len(set(q["options"])) == 4 and q["options"]["ABCD".index(q["answer"])] == fact.object
        others = world.values(*kinds)
        assert all(o in others for o in q["options"])  # every distractor is a value of the answer's kind
    letters = collections.Counter(q["answer"] for q in questions)
    assert max(letters.values()) < 0.4 * len(questions)  # no letter a guesser could lean on


def test_worlds_of_the_two_halves_share_no_name_and_their_questions_load_as_quality(world, tmp_path):
    other = make_world(seed=2, half=1)
    names = lambda w: {n for f in w.facts for n in (f.subject, f.object) if not n.isdigit() and n.istitle()}  # noqa: E731
    assert names(world) and names(other) and not names(world) & names(other)
    path = tmp_path / "world.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in world.quality_lines()))
    docs = load_source(f"quality:{path}")
    assert [d.body for d in docs] == [world.document_text(i) for i in range(len(world.documents))]
    gold = {q["question"]: q["options"]["ABCD".index(q["answer"])] for q in world.questions()}
    for doc in docs:
        for q in doc.questions:
            assert q.options[q.gold_label - 1] == gold[q.question]
    assert sum(len(d.questions) for d in docs) == len(world.facts)


def test_the_generator_restates_only_its_documents_facts(world):
    text = world.document_text(0)
    facts = read_facts(text)
    entities = json.loads(world_answer(f"<document>\n{text}\n</document>\nList the entities.", json_mode=True))
    assert set(entities["entities"]) >= {f.subject for f in facts}
    names = entities["entities"][:2]
    pair = world_answer(f"<document>\n{text}\n</document>\n\nEntities:\n- {names[0]}\n- {names[1]}\n", False)
    assert read_facts(pair) <= facts and read_facts(pair) >= {f for f in facts if names[0] in (f.subject, f.object)}
    assert text not in pair  # other phrasings, not the document copied
    for word in ("toddler", "Wikipedia", "scholar"):
        rewrite = world_answer(f"<document>\n{text}\n</document>\nRewrite it for a {word}.", False)
        assert read_facts(rewrite) == facts and rewrite != text


@pytest.mark.parametrize("method", ["entigraph", "rephrase"])
def test_a_generate_run_through_the_world_server_states_no_fact_outside_its_document(world, tmp_path, method):
    server = FakeLLMServer(answer=world_answer).start()
    source = tmp_path / "world.jsonl"
    source.write_text("".join(json.dumps({"id": doc_id, "title": title, "text": world.document_text(i)}) + "\n"
                              for i, (doc_id, title, _) in enumerate(world.documents[:4])))
    config = config_for(server, tmp_path, **{"source": f"jsonl:{source}", "method": method,
                                                     "entigraph.entities_in_document": True})
    summary = generate(config)
    assert summary.status == "complete", summary
    stated = {doc_id: set(facts) for doc_id, _, facts in world.documents}
    records = [r for r in read_records(config.corpus().records) if r["kind"] != "entities"]
    assert records and {r["kind"] for r in records} <= {"pair", "triple", "rephrase"}
    for record in records:
        said = read_facts(record["text"])
        assert said and said <= stated[record["doc_id"]], record["text"][:200]

