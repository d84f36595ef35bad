"""A made-up world with known facts, for the EntiGraph miniature (`benchmarks/entigraph_miniature.py`): people,
towns, guilds and years; facts linking them (a person's home town, trade, guild and mentor; a guild's town and
founding year); source documents that state each fact once, in compact prose, about entities that recur across
documents; and four-option questions, one per fact, whose distractors are values of the same kind.

Every relation has several phrasings. Phrasing 0 is the documents' own; the others are the rewrites a
generator may use. `read_facts` recovers the facts from any text written in these phrasings, knowing the
phrasings but no world, which is what lets `world_answer` act as a generator that knows only what a document
says: the fake LLM server's `world` mode (`python -m entigraph_jax.testing --mode world`) answers the entity,
pair, triple and rephrase prompts of any prompt version by restating the prompt's document's facts, in other
phrasings and orders; it never states a fact its document lacks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re

import numpy as np

from .fake_llm import prompt_document

FIRST = ("Aldo", "Brenna", "Cato", "Delia", "Emrys", "Fiora", "Gideon", "Halla", "Ivo", "Juno", "Kasimir", "Liora",
         "Magnus", "Nerys", "Oren", "Petra", "Quentin", "Rosalind", "Silas", "Thea", "Ulric", "Vanya", "Wystan",
         "Xenia", "Yorick", "Zora")
LAST = ("Ashdown", "Blackwood", "Carrow", "Dunmore", "Ellery", "Fairweather", "Greaves", "Hollins", "Ingram",
        "Jessop", "Kettering", "Lockhart", "Merriweather", "Northcott", "Oakley", "Pembridge")
TOWNS = ("Amberley", "Brackenford", "Coldharbour", "Dunwich", "Elderwick", "Foxhollow", "Greystone", "Hartsfield",
         "Ironbridge", "Juniper Vale", "Kingsmere", "Larkspur", "Marrowdale", "Nettlecombe", "Oldcastle", "Pennywell",
         "Quarry Hill", "Ravenscar", "Stonehaven", "Thornbury")
GUILD_WORDS = ("Lantern", "Compass", "Anvil", "Quill", "Harbour", "Loom", "Beacon", "Kestrel", "Granary", "Mill")
TRADES = ("clockmaker", "glassblower", "cartographer", "bookbinder", "apothecary", "shipwright", "weaver", "mason",
          "brewer", "luthier", "tanner", "engraver")

# relation -> (subject kind, object kind, phrasings): phrasing 0 is the documents', 1-3 a generator's rewrites,
# PROBE (the last, its object at the end) no text's: recall in words nothing trained on said
RELATIONS = {
    "home": ("person", "town", ("{s} lives in {o}.", "The town of {o} is where {s} makes a home.",
                                "{s} is a resident of {o}.", "Home for {s} is {o}.",
                                "The residence of {s} is in {o}.")),
    "trade": ("person", "trade", ("{s} works as a {o}.", "By trade, {s} is a {o}.", "{s} earns a living as a {o}.",
                                  "The craft of {s} is that of a {o}.", "{s} has the occupation of {o}.")),
    "guild": ("person", "guild", ("{s} belongs to the {o}.", "The {o} counts {s} among its members.",
                                  "{s} is a member of the {o}.", "Among the members of the {o} is {s}.",
                                  "{s} holds membership in the {o}.")),
    "mentor": ("person", "person", ("{s} was trained by {o}.", "{o} taught {s} the craft.",
                                    "{s} learned from {o}.", "The teacher of {s} was {o}.",
                                    "The mentor of {s} was {o}.")),
    "seat": ("guild", "town", ("The {s} is based in {o}.", "The {s} keeps its hall in {o}.",
                               "{o} is home to the {s}.", "The hall of the {s} stands in {o}.",
                               "The {s} has its seat in {o}.")),
    "founded": ("guild", "year", ("The {s} was founded in {o}.", "The {s} dates from {o}.",
                                  "In {o} the {s} was established.", "The founding of the {s} came in {o}.",
                                  "The {s} had its beginning in {o}.")),
}
PROBE = 4
QUESTIONS = {"home": "Where does {s} live?", "trade": "What is the trade of {s}?",
             "guild": "Which guild does {s} belong to?", "mentor": "Who trained {s}?",
             "seat": "In which town is the {s} based?", "founded": "In which year was the {s} founded?"}
NAME = r"[A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)*"
VALUE = {"person": NAME, "town": NAME, "guild": r"[A-Z][a-z]+ Guild", "trade": r"[a-z]+", "year": r"\d{4}"}
STYLES = {"easy": 1, "wiki": 2, "academic": 3, "qa": 1}  # a rephrase style's phrasing


@dataclasses.dataclass(frozen=True, order=True)
class Fact:
    relation: str
    subject: str
    object: str

    def say(self, phrasing: int = 0) -> str:
        return RELATIONS[self.relation][2][phrasing].format(s=self.subject, o=self.object)

    def cloze(self, phrasing: int) -> str:
        """The statement in `phrasing` up to its object (phrasing 0 and PROBE end with it): a recall prompt."""
        template = RELATIONS[self.relation][2][phrasing]
        assert template.endswith("{o}."), template
        return template[:-len(" {o}.")].format(s=self.subject)


def _pattern(template: str, subject: str, obj: str) -> re.Pattern:
    text = re.escape(template).replace(r"\{s\}", f"(?P<s>{subject})").replace(r"\{o\}", f"(?P<o>{obj})")
    return re.compile(rf"(?:^|(?<=[\s.:]))(?:{text})")


PATTERNS = [(relation, _pattern(t, VALUE[sk], VALUE[ok])) for relation, (sk, ok, ts) in RELATIONS.items() for t in ts]


def read_facts(text: str) -> set[Fact]:
    """Every fact `text` states in any phrasing of any relation (the world itself is not needed)."""
    found = set()
    for sentence in re.split(r"(?<=\.)\s+|\n+", text):
        for relation, pattern in PATTERNS:
            match = pattern.fullmatch(sentence.strip())
            if match:
                found.add(Fact(relation, match["s"], match["o"]))
    return found


@dataclasses.dataclass(frozen=True)
class World:
    facts: tuple[Fact, ...]
    documents: tuple[tuple[str, str, tuple[Fact, ...]], ...]  # (id, title, the facts it states)

    def document_text(self, index: int) -> str:
        return " ".join(f.say(0) for f in self.documents[index][2])

    def values(self, kind: str) -> list[str]:
        return sorted({getattr(f, side) for f in self.facts for side, k in (("subject", 0), ("object", 1))
                       if RELATIONS[f.relation][k] == kind})

    def quality_lines(self, seed: int = 0) -> list[dict]:
        """The documents with their facts' questions as QuALITY release lines (what `quality:` reads and the
        evaluation scores)."""
        asked = self.questions(seed)
        by_fact = {Fact(**q["fact"]): q for q in asked}
        return [{"article_id": doc_id, "title": title, "author": "", "year": None, "article": self.document_text(i),
                 "questions": [{"question": by_fact[f]["question"], "options": by_fact[f]["options"],
                                "gold_label": "ABCD".index(by_fact[f]["answer"]) + 1} for f in stated]}
                for i, (doc_id, title, stated) in enumerate(self.documents)]

    def questions(self, seed: int = 0) -> list[dict]:
        """A four-option question per fact: the distractors are other values of the answer's kind (seeded)."""
        rng, out = np.random.default_rng(seed), []
        for fact in self.facts:
            others = [v for v in self.values(RELATIONS[fact.relation][1]) if v != fact.object]
            options = [fact.object, *rng.choice(others, 3, replace=False).tolist()]
            rng.shuffle(options)
            out.append({"question": QUESTIONS[fact.relation].format(s=fact.subject), "options": options,
                        "answer": "ABCD"[options.index(fact.object)], "fact": dataclasses.asdict(fact)})
        return out


def make_world(seed: int, people: int = 24, guilds: int = 5, facts_per_document: int = 5, half: int = 0) -> World:
    """A world of `people` and `guilds`, every fact stated by exactly one document; documents group facts about a
    few entities, so entities recur across documents. `half` (0 or 1) draws first names, towns and guilds from
    one half of the lists: worlds of different halves share no person, town or guild."""
    rng = np.random.default_rng(seed)
    names = [f"{f} {last}" for f in FIRST[half::2] for last in LAST]
    persons = rng.choice(names, people, replace=False).tolist()
    guild_names = [f"{w} Guild" for w in rng.choice(GUILD_WORDS[half::2], guilds, replace=False).tolist()]
    towns = rng.choice(TOWNS[half::2], min(len(TOWNS) // 2, people // 2), replace=False).tolist()
    facts = []
    for i, p in enumerate(persons):
        facts += [Fact("home", p, str(rng.choice(towns))), Fact("trade", p, str(rng.choice(TRADES))),
                  Fact("guild", p, str(rng.choice(guild_names)))]
        if i:
            facts.append(Fact("mentor", p, persons[int(rng.integers(i))]))
    for g in guild_names:
        facts += [Fact("seat", g, str(rng.choice(towns))), Fact("founded", g, str(int(rng.integers(1400, 1900))))]
    order = rng.permutation(len(facts))
    facts = [facts[i] for i in order]
    documents = []
    for start in range(0, len(facts), facts_per_document):
        stated = tuple(facts[start:start + facts_per_document])
        documents.append((f"w{seed}-{len(documents):03d}", f"Record {len(documents) + 1} of {stated[0].subject}",
                          stated))
    return World(tuple(facts), tuple(documents))


def world_answer(prompt: str, json_mode: bool) -> str:
    """A generator that knows only what the prompt's document says: the document's facts, restated."""
    document = prompt_document(prompt)
    facts = sorted(read_facts(document), key=lambda f: (f.relation, f.subject, f.object))
    rng = np.random.default_rng(int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16))
    if json_mode:
        names = list(dict.fromkeys(n for f in facts for n in (f.subject, f.object)
                                   if RELATIONS[f.relation][1] in ("person", "town", "guild") or n == f.subject))
        return json.dumps({"summary": " ".join(f.say(1) for f in facts[:2]), "entities": names})
    listed = re.findall(r"^- (.+)$", prompt.split("Entities:", 1)[1], flags=re.M) if "Entities:" in prompt else []
    if listed:  # a pair or a triple: each entity's facts, then those linking them, in other phrasings
        sections = []
        for name in listed:
            about = [f for f in facts if name in (f.subject, f.object)]
            sections.append(f"### {name}\n" + " ".join(f.say(int(rng.integers(1, 4))) for f in about))
        linking = [f for f in facts if sum(n in (f.subject, f.object) for n in listed) >= 2]
        sections.append("### Interaction\n" + " ".join(f.say(int(rng.integers(1, 4))) for f in linking))
        return "\n\n".join(sections)
    style = next((s for s, word in (("easy", "toddler"), ("wiki", "Wikipedia"), ("academic", "scholar"),
                                    ("qa", "Question:")) if word in prompt), "wiki")
    order = rng.permutation(len(facts))
    return " ".join(facts[i].say(STYLES[style]) for i in order)
