"""The generation settings: every key with its default, meaning and check; recipes start from
`base_config()`.

Keys that outside checks rely on: `llm.backend`, `llm.model`, `llm.base_url`, `llm.max_concurrency`,
`source` (what `load_source` takes) and `output_dir`. API keys are never settings: they come from
GEMINI_API_KEY / GOOGLE_API_KEY / OPENAI_API_KEY or `llm.api_key_file`.
"""

import dataclasses

import ml_collections

from entigraph_jax.data import TokenizerSettings, spec_problem
from entigraph_jax.llm import LLMSettings
from entigraph_jax.runs import CorpusRun
from entigraph_jax.settings import SettingError, Settings, at_least, between, positive, section, setting

from .prompts import KNOWLEDGE_KINDS, REPHRASE_STYLES, missing, unknown


def _method(name: str) -> str | None:
    from .method import methods  # noqa: PLC0415 - the registry imports the methods, which import these settings

    return None if name in methods() else f"unknown method; known: {', '.join(methods())}"


@dataclasses.dataclass(frozen=True)
class EntigraphSettings(Settings):
    entity_attempts: int = setting(3, "asks for the entity JSON before the document is recorded as failed",
                                   check=positive)
    max_entities: int = setting(0, "entities kept per document (0: all)", check=at_least(0))
    entities_in_document: bool = setting(True, "drop entity names the document never uses (a small generator's "
                                         "inventions); False keeps concept entities the paper's prompt asks for, as "
                                         "its recipe does. Junk and JSON debris are dropped either way")
    max_pairs_per_doc: int = setting(0, "pair requests per document (0: every pair)", check=at_least(0))
    triples_fraction: float = setting(1.0, "share of the entity triples asked for, in a seeded shuffled order after "
                                      "all pairs", check=between(0, 1))
    max_triples_per_doc: int = setting(0, "cap on triple requests per document (0: none; budget.* stops them too)",
                                       check=at_least(0))


def _styles(styles: tuple) -> str | None:
    unknown = sorted(set(styles) - set(REPHRASE_STYLES))
    return f"unknown styles {unknown}; known: {', '.join(REPHRASE_STYLES)}" if unknown or not styles else None


@dataclasses.dataclass(frozen=True)
class RephraseSettings(Settings):
    styles: tuple = setting(REPHRASE_STYLES, "WRAP styles to rewrite every document in", check=_styles)
    samples: int = setting(1, "rewrites per style and document", check=positive)
    tokens_per_doc: int = setting(0, "> 0: more rounds of every style until each document has this many output "
                                  "tokens", check=at_least(0))


def _knowledge_kinds(kinds: tuple) -> str | None:
    unknown = sorted(set(kinds) - set(KNOWLEDGE_KINDS))
    return f"unknown kinds {unknown}; known: {', '.join(KNOWLEDGE_KINDS)}" if unknown or not kinds else None


@dataclasses.dataclass(frozen=True)
class KnowledgeSettings(Settings):
    kinds: tuple = setting(KNOWLEDGE_KINDS, "what is written from each document: detailed (a summary keeping every "
                           "detail) | extractive (its key passages quoted, each with what it tells) | atomic (its "
                           "facts, one per line)", check=_knowledge_kinds)
    samples: int = setting(1, "texts per kind and document (sdg_hub writes 50 summaries of each)", check=positive)
    tokens_per_doc: int = setting(0, "> 0: more rounds of every kind until each document has this many output "
                                  "tokens of texts", check=at_least(0))
    unsupported: str = setting("remove", "a text's sentences the generator finds unsupported by the document: "
                               "remove (the rest is kept) | drop (the whole text) | keep (counted only)",
                               choices=("remove", "drop", "keep"))
    check_attempts: int = setting(3, "asks for a check's verdicts before it is recorded as failed (its text is then "
                                  "left out)", check=positive)


@dataclasses.dataclass(frozen=True)
class ActiveReadingSettings(Settings):
    strategies: int = setting(8, "study strategies the generator is asked to propose for each document",
                              check=positive)
    samples: int = setting(1, "texts per strategy in the first round", check=positive)
    tokens_per_doc: int = setting(0, "> 0: more rounds of every strategy until each document has this many output "
                                  "tokens of texts", check=at_least(0))
    task: str = setting("", "\"\": task-agnostic strategies | what the reader will be asked later (e.g. \"short "
                        "factual questions about the people and dates in it\"): task-specific strategies")
    attempts: int = setting(3, "asks for a document's strategies JSON before it is recorded as failed",
                            check=positive)


@dataclasses.dataclass(frozen=True)
class QuestionsSettings(Settings):
    per_document: int = setting(10, "multiple-choice questions asked for in each document's request", check=positive)
    attempts: int = setting(3, "asks for the questions' JSON (and for an answer with a readable letter) before the "
                            "request is recorded as failed", check=positive)
    closed_book_answers: int = setting(3, "answers asked without the document per question: it is guessable when more "
                                       "than half of them are right (one answer flags a lucky guess 1 time in 4)",
                                       check=positive)
    quote_words: int = setting(4, "words a question's quote must have at least (a clause, found whole in the "
                               "document)", check=positive)
    duplicate_overlap: float = setting(0.8, "a question sharing this share of its words (question and gold option, "
                                       "Jaccard) with an earlier question of its document is dropped",
                                       check=between(0, 1))


@dataclasses.dataclass(frozen=True)
class BudgetSettings(Settings):
    max_requests: int = setting(0, "overall cap across reruns (0: none)", check=at_least(0))
    max_output_tokens: int = setting(0, "overall cap across reruns, in the generator's tokens, entity JSON and "
                                     "failed answers included (0: none)", check=at_least(0))
    max_train_tokens: int = setting(0, "overall cap across reruns on the text training reads (entity summaries, "
                                    "pair, triple and rephrase answers) in budget.tokenizer's tokens, BOS and EOS "
                                    "counted as training adds them (0: none)", check=at_least(0))
    tokenizer: TokenizerSettings = section(TokenizerSettings, "the training tokenizer: with a path, every record's "
                                           "training tokens are counted (summary.json's train_tokens)")

    def validate(self):
        if self.max_train_tokens and not self.tokenizer.path:
            raise SettingError("max_train_tokens", "counts in the training tokenizer: set budget.tokenizer.path")


@dataclasses.dataclass(frozen=True)
class DryRunSettings(Settings):
    entities_per_doc: int = setting(20, "--dry_run's guess where the journal has no entities yet", check=positive)
    entity_output_tokens: int = setting(400, "--dry_run's guess of an entity answer's length", check=positive)
    output_tokens: int = setting(600, "--dry_run's guess of a pair, triple, rephrase or knowledge answer's length",
                                 check=positive)
    summary_tokens: int = setting(150, "--dry_run's guess of the summary in an entity answer (what training reads "
                                  "of it)", check=positive)
    question_tokens: int = setting(120, "--dry_run's guess of one question in a question answer (question, options "
                                   "and quote), and of the question in each answer prompt", check=positive)


@dataclasses.dataclass(frozen=True)
class GenerateSettings(Settings):
    method: str = setting("entigraph", "a registered method (generate/methods/): entigraph | rephrase | knowledge "
                          "(summaries and atomic facts checked against the document) | active_reading (study "
                          "strategies the generator proposes, then applies) | questions (evaluation questions from "
                          "the documents, written as QuALITY JSONL to output_dir/questions.jsonl) | any other "
                          "installed", check=_method)
    source: str = setting("", "the documents: a load_source spec (quality:..., jsonl:..., folder:..., records:..., "
                          "sample)", check=spec_problem)
    output_dir: str = setting("", "records/, journal.sqlite and summary.json go here; a rerun resumes from the "
                              "journal")
    seed: int = setting(0, "seeds the share of entity triples asked for")
    prompt_version: str = setting("v3", "a folder of entigraph_jax/generate/prompts/, or a path to a folder of your "
                                  "own templates (its content hash goes into request ids); part of every request id",
                                  check=unknown)
    shard_index: int = setting(0, "this machine's share of the documents ...", check=at_least(0))
    num_shards: int = setting(1, "... out of num_shards (then --merge joins the shards' records)", check=positive)
    dedup: str = setting("none", "at --merge, drop records whose training text repeats an earlier one's: exact (case "
                         "and whitespace aside) | near (word 5-gram Jaccard >= 0.8, MinHash; exact ones too) | none",
                         choices=("none", "exact", "near"))
    retry_failed: bool = setting(True, "a rerun retries requests that failed before")
    append: bool = setting(False, "True: add to an output_dir written with another model, method or prompt version")
    llm: LLMSettings = section(LLMSettings, "the generator")
    entigraph: EntigraphSettings = section(EntigraphSettings)
    rephrase: RephraseSettings = section(RephraseSettings)
    questions: QuestionsSettings = section(QuestionsSettings)
    knowledge: KnowledgeSettings = section(KnowledgeSettings, "method knowledge: summaries and atomic facts, each "
                                           "sentence checked against its document")
    active_reading: ActiveReadingSettings = section(ActiveReadingSettings, "method active_reading: study strategies "
                                                   "the generator proposes per document, then applies")
    budget: BudgetSettings = section(BudgetSettings)
    dry_run: DryRunSettings = section(DryRunSettings)

    def validate(self):
        if self.shard_index >= self.num_shards:
            raise SettingError("shard_index", f"must be in [0, num_shards={self.num_shards})")

    def check_templates(self) -> None:
        """The prompt version has every template the method asks with (checked by the generate command:
        other stages ask their own templates through these settings)."""
        from .method import method  # noqa: PLC0415 - as in _method

        needed = method(self.method).templates(self)
        lacking = missing(self.prompt_version, needed)
        if lacking:
            raise SettingError("prompt_version", f"prompt_version={self.prompt_version!r}: {lacking}, which method "
                               f"{self.method!r} needs")

    def corpus(self) -> CorpusRun:
        """This machine's folder: output_dir, or its shard's folder in it."""
        out = CorpusRun(self.output_dir)
        return out.shard(self.shard_index, self.num_shards) if self.num_shards > 1 else out


def base_config() -> ml_collections.ConfigDict:
    return GenerateSettings().to_config()
