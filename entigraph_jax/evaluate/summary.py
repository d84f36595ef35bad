"""Closed-book summaries, scored as the paper scored them (Appendix I.2): the instruction-tuned model
writes a summary of each article from memory, with a short and a long prompt, through its chat
template; a judge LLM splits every summary into atomic claims, then says of each claim whether the
article supports it and, if so, whether it is salient or cosmetic. sQuALITY's human summaries of the
same stories are judged the same way, and the model's counts of false and salient claims are
reported against theirs. The judge is asked through the LLM service (`llm.Session`: its journal beside
the result), so a rerun after a failure asks only what has no answer, and every answer is kept."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sys
from pathlib import Path

from entigraph_jax.data import Document, SourceError
from entigraph_jax.data.chat import chat_template
from entigraph_jax.data.documents import author_first_last
from entigraph_jax.errors import UserError
from entigraph_jax.llm import LLMSettings, Prompt, Request, Session
from entigraph_jax.llm.templates import fill, read_template
from entigraph_jax.models.run import sampling_defaults
from entigraph_jax.models.sampling import Sampler, SamplingParams
from entigraph_jax.runs import CorpusRun
from entigraph_jax.settings import Settings, at_least, positive, section, setting

from .scores import paper_split
from .task import Result, Row

PROMPTS = {  # Appendix I.2, word for word
    "short": "Summarize the article {title}{by} for me.",
    "long": "Write an extremely long and detailed article regarding the book {title}{by}.",
}
JUDGE_PROMPTS = Path(__file__).parent / "prompts" / "judge"  # our wording: the paper does not print its judge's
BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.+?)\s*$")
VERDICT = re.compile(r"^\W*(\d+)\W+(TRUE|FALSE)\b\W*(SALIENT|COSMETIC)?", re.IGNORECASE)
NORMALIZE = ("per_article", "ratio_of_sums")  # how counts are normalized by the human summaries'


def _prompts(names: tuple) -> str | None:
    unknown = sorted(set(names) - set(PROMPTS))
    return f"unknown prompts {unknown}; known: {', '.join(PROMPTS)}" if unknown or not names else None


def paper_judge() -> LLMSettings:  # the paper's judge (gpt-4-turbo, August 2024), greedy
    return LLMSettings(model="gpt-4-turbo", base_url="https://api.openai.com/v1", temperature=0.0, json_mode=False,
                       max_output_tokens=4096)


@dataclasses.dataclass(frozen=True)
class SummarySettings(Settings):
    human: str = setting("", "sQuALITY's release: a .jsonl file or a folder of them; each story's human summaries "
                         "(the answers to its first question, the plot) are judged like the model's and normalize "
                         "its counts; stories are matched to articles by passage_id = QuALITY's article_id")
    prompts: tuple = setting(tuple(PROMPTS), "the paper's prompts to write with: short | long", check=_prompts)
    human_responses: int = setting(0, "human summaries judged per story (0: all; their mean count is the "
                                   "normalizer)", check=at_least(0))
    max_articles: int = setting(0, "articles summarized (0: every article of the split with a human summary)",
                                check=at_least(0))
    max_new_tokens: int = setting(2048, "per summary", check=positive)
    temperature: float = setting(-1.0, "< 0: the checkpoint's generation_config.json (greedy where it does not "
                                 "sample), else 0.7")
    top_p: float = setting(-1.0, "< 0: as temperature")
    seed: int = setting(0, "sampling seed")
    batch: int = setting(4, "summaries decoded together", check=positive)
    claims_per_request: int = setting(25, "claims judged in one judge request", check=positive)
    normalize: str = setting("per_article", "per_article: each article's count over its human summaries' count, "
                             "averaged over articles (the paper, App. I.2 iii; an article whose humans count 0 is "
                             "left out of that mean, and counted) | ratio_of_sums: summed counts over summed human "
                             "counts (no article left out)", choices=NORMALIZE)
    judge: LLMSettings = section(paper_judge, "the judge LLM (the paper: gpt-4-turbo): splits summaries into "
                                         "claims and judges them; its answers are kept in <result>.judge/")


def human_summaries(path: str) -> dict[str, list[str]]:
    """{passage_id: the human summaries of the story's plot} from sQuALITY's jsonl release."""
    where = Path(path)
    files = sorted(where.glob("*.jsonl")) if where.is_dir() else [where]
    if not path or not files or not all(f.is_file() for f in files):
        raise SourceError(f"{path or 'summary.human'}: no sQuALITY .jsonl file (set summary.human)")
    found: dict[str, list[str]] = {}
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                story = json.loads(line)
                plot = min(story["questions"], key=lambda q: q.get("question_number", 0))
                found[str(story["metadata"]["passage_id"])] = [r["response_text"] for r in plot["responses"]]
            except (ValueError, KeyError, TypeError) as e:
                raise SourceError(f"{file}:{number}: not a sQuALITY story ({type(e).__name__}: {e})") from e
    if not found:
        raise SourceError(f"{path}: no stories")
    return found


def prompt_text(name: str, doc: Document) -> str:
    return PROMPTS[name].format(title=doc.title, by=f" by {author_first_last(doc.author)}" if doc.author else "")


def write_summaries(sampler: Sampler, tokenizer, checkpoint: str, docs: list[Document], settings: SummarySettings):
    """{prompt name: [summary of each document]}, sampled through the tokenizer's chat template."""
    template = chat_template(tokenizer)
    stop_tokens, stop_strings = template.stop()
    temperature, top_p, where = sampling_defaults(checkpoint, settings.temperature, settings.top_p)
    print(f"summaries: {len(docs)} articles x {len(settings.prompts)} prompts, at most {settings.max_new_tokens} "
          f"new tokens, temperature {temperature:g}, top_p {top_p:g} ({where})", file=sys.stderr)
    written = {}
    for name in settings.prompts:
        prompts = [template.prompt([{"role": "user", "content": prompt_text(name, d)}]) for d in docs]
        texts = []
        for start in range(0, len(prompts), settings.batch):
            params = SamplingParams(max_new_tokens=settings.max_new_tokens, temperature=temperature, top_p=top_p,
                                    stop=stop_strings, stop_tokens=stop_tokens, seed=settings.seed + start)
            texts += [s[0].text.strip() for s in sampler.generate(prompts[start : start + settings.batch], params)]
        written[name] = texts
    return written


def parse_claims(text: str | None) -> list[str] | None:
    """The judge's claims: its bulleted or numbered lines (every non-empty line if it used neither)."""
    if text is None:
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    bullets = [m.group(1) for m in map(BULLET.match, lines) if m]
    return bullets or lines


def parse_verdicts(text: str | None, count: int) -> list[str | None]:
    """One verdict per claim (false | salient | cosmetic | true, None where the judge gave none)."""
    verdicts: list[str | None] = [None] * count
    for line in (text or "").splitlines():
        m = VERDICT.match(line)
        if m and 1 <= int(m.group(1)) <= count and verdicts[int(m.group(1)) - 1] is None:
            truth, weight = m.group(2).lower(), (m.group(3) or "").lower()
            verdicts[int(m.group(1)) - 1] = "false" if truth == "false" else weight or "true"
    return verdicts


JUDGE = "tasks.summary.judge"  # the judge's settings, as the user sets them (every error of the judge names it)


def judge_request(kind: str, text: str, title: str, slots: tuple[str, ...], owner: str, model: str) -> Request:
    """A judge request (`claims` of a summary, or the `judge` of numbered claims against the article), its prompt
    rendered. Its id is a hash of what is asked as the judge's ids have always been made, so a journal written
    by an earlier version answers it."""
    key = json.dumps([text, kind, list(slots), "judge", model, 0, ""], ensure_ascii=False)
    prompt = Prompt(read_template(JUDGE_PROMPTS, "system"), fill(read_template(JUDGE_PROMPTS, kind), text, slots,
                                                                 title))
    return Request(hashlib.sha256(key.encode("utf-8")).hexdigest()[:32], owner, kind,
                   prompt=dataclasses.asdict(prompt))


def _checked(records: list[dict | None], what: str, llm: LLMSettings, owner: str) -> list[str | None]:
    failed = sum(r is None for r in records)
    if failed > llm.max_failure_fraction * len(records):
        raise UserError(f"{owner}: {failed} of {len(records)} {what} requests failed ({owner}.max_failure_fraction="
                        f"{llm.max_failure_fraction}); rerun to ask them again")
    return [r["text"] if r else None for r in records]


def judge(entries: list[dict], docs: dict[str, Document], settings, journal: Path, verdict: str = "judge",
          parse=parse_verdicts, owner: str = JUDGE) -> float:
    """Split each entry's summary (any text written from its document) into claims and judge them against the
    document with the `verdict` prompt, read by `parse`; adds "claims" and "verdicts" to each entry (None where
    the judge gave no claims). `settings` has the judge's `judge` (LLM settings, set by the user as `owner`) and
    `claims_per_request`. Returns what the journal's answers cost."""
    llm, model = settings.judge, settings.judge.model
    article = {e["doc_id"]: docs[e["doc_id"]] for e in entries}
    with Session(llm, journal, owner, label="judge") as session:
        split = [judge_request("claims", e["summary"], article[e["doc_id"]].title, (), f"{e['doc_id']}:{e['writer']}",
                               model) for e in entries if e["summary"]]
        texts = iter(_checked(session.ask(split), "claim-splitting", llm, owner))
        for e in entries:
            e["claims"] = parse_claims(next(texts)) if e["summary"] else []
        step = settings.claims_per_request
        chunks = [(e, start) for e in entries for start in range(0, len(e["claims"] or []), step)]
        questions = [judge_request(verdict, article[e["doc_id"]].text, article[e["doc_id"]].title, ("\n".join(
            f"{i}. {claim}" for i, claim in enumerate(e["claims"][start : start + step], 1)),), e["doc_id"], model)
            for e, start in chunks]
        verdicts = _checked(session.ask(questions), "judging", llm, owner)
        for e in entries:
            e["verdicts"] = [] if e["claims"] is not None else None
        for (e, start), text in zip(chunks, verdicts, strict=True):
            e["verdicts"] += parse(text, len(e["claims"][start : start + step]))
        return session.cost()


@dataclasses.dataclass(frozen=True)
class SummaryScore:
    """Closed-book summaries by one writer (a prompt, or sQuALITY's humans), split into atomic claims
    and judged against their article (the paper's Appendix I.2); counts are means per article."""

    articles: int
    claims: float
    false: float  # claims the article does not support
    salient: float  # supported claims the judge calls salient (the rest: cosmetic)
    false_normalized: float | None  # false over the human summaries' false (as `normalize` says)
    salient_normalized: float | None  # salient over the human summaries' salient
    unjudged: int  # claims the judge gave no verdict for (neither false nor salient)
    # per_article: the articles left out of each normalized mean, their human count being 0 (no ratio to take)
    left_out: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class SummaryScores(Result):
    summaries: dict[str, SummaryScore] = dataclasses.field(default_factory=dict)  # by writer

    @classmethod
    def from_dict(cls, d: dict) -> SummaryScores:
        return super().from_dict({**d, "summaries": {k: SummaryScore(**v) for k, v in d["summaries"].items()}})

    def figures(self, split: str = "all") -> dict:
        return {"split": split, **{k: dataclasses.asdict(v) for k, v in self.summaries.items()}}

    def rows(self) -> dict[str, Row]:
        return {f"summary {writer} {figure}": Row(getattr(score, figure), score.articles)
                for writer, score in self.summaries.items()
                for figure in ("false", "salient", "false_normalized", "salient_normalized")}


def counts(entry: dict) -> dict[str, int] | None:
    verdicts = entry["verdicts"]
    if verdicts is None:
        return None
    return {"claims": len(verdicts), "false": verdicts.count("false"), "salient": verdicts.count("salient"),
            "unjudged": verdicts.count(None)}


def normalized(rows: list[tuple[str, dict]], human_mean: dict[str, dict], key: str, normalize: str
               ) -> tuple[float | None, int]:
    """(a writer's `key` count over the human summaries', articles left out) over the articles both have:
    per article then averaged (the paper), or a ratio of sums."""
    if normalize == "ratio_of_sums":
        base = sum(human_mean[doc][key] for doc, _ in rows)
        return (sum(c[key] for _, c in rows) / base if base else None), 0
    ratios = [c[key] / human_mean[doc][key] for doc, c in rows if human_mean[doc][key]]
    return (sum(ratios) / len(ratios) if ratios else None), len(rows) - len(ratios)


def scores(entries: list[dict], writers: tuple[str, ...], normalize: str = "per_article") -> dict[str, SummaryScore]:
    """Each writer's mean counts per article, and its false and salient counts normalized by the human
    summaries' of the same articles (`normalized`); "human" is the normalizer itself."""
    human: dict[str, list[dict]] = {}
    for e in entries:
        if e["writer"].startswith("human") and (c := counts(e)):
            human.setdefault(e["doc_id"], []).append(c)
    human_mean = {doc: {k: sum(c[k] for c in cs) / len(cs) for k in cs[0]} for doc, cs in human.items()}
    result = {}
    for writer in (*writers, "human"):
        if writer == "human":
            rows = list(human_mean.items())
        else:
            rows = [(e["doc_id"], c) for e in entries if e["writer"] == writer and (c := counts(e))
                    and e["doc_id"] in human_mean]
        if not rows:
            continue
        mean = {k: sum(c[k] for _, c in rows) / len(rows) for k in ("claims", "false", "salient")}
        (false, false_out), (salient, salient_out) = (normalized(rows, human_mean, k, normalize)
                                                      for k in ("false", "salient"))
        result[writer] = SummaryScore(
            articles=len(rows), claims=mean["claims"], false=mean["false"], salient=mean["salient"],
            false_normalized=false, salient_normalized=salient, unjudged=int(sum(c["unjudged"] for _, c in rows)),
            left_out={k: n for k, n in (("false", false_out), ("salient", salient_out)) if n})
    return result


def summary_articles(docs: list[Document], split: str, settings: SummarySettings):
    """(the split's articles sQuALITY has human summaries of, {article id: those summaries}): read
    before the model is loaded, so a wrong sQuALITY path fails at once."""
    humans = human_summaries(settings.human)
    matched = [d for d in paper_split(docs)[split] if d.doc_id in humans]
    if not matched:
        raise SourceError(f"{settings.human}: none of its {len(humans)} stories is an article of the {split} split "
                          f"(matched by passage_id = article_id)")
    matched = matched[: settings.max_articles] if settings.max_articles else matched
    return matched, {d.doc_id: humans[d.doc_id] for d in matched}


def summary_eval(sampler: Sampler, tokenizer, checkpoint: str, matched: list[Document], humans: dict[str, list[str]],
                 settings: SummarySettings, output: Path) -> SummaryScores:
    """Write, judge and score the summaries of `summary_articles`' articles."""
    written = write_summaries(sampler, tokenizer, checkpoint, matched, settings)
    entries = [{"doc_id": d.doc_id, "title": d.title, "writer": name, "summary": written[name][i],
                "prompt": prompt_text(name, d)} for name in settings.prompts for i, d in enumerate(matched)]
    for d in matched:
        kept = humans[d.doc_id][: settings.human_responses] if settings.human_responses else humans[d.doc_id]
        entries += [{"doc_id": d.doc_id, "title": d.title, "writer": f"human{i}", "summary": text.strip(),
                     "prompt": None} for i, text in enumerate(kept)]
    cost = judge(entries, {d.doc_id: d for d in matched}, settings, CorpusRun(f"{output}.judge").journal)
    for e in entries:
        e["counts"] = counts(e)
    return SummaryScores("summary", summaries=scores(entries, settings.prompts, settings.normalize),
                      details={"settings": settings.to_dict(), "judge_cost_usd": cost, "results": entries})
