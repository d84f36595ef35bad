"""Versioned prompt templates: `prompts/<version>/<name>.txt`, with `{document}`, `{title}` and
`{entity_N}` slots. The version goes into every record and every request id, so changing a built-in prompt
means a new version folder, never an edit in place. A version may also be a folder of the user's own
templates (another language, another domain's wording): its content hash goes into request ids, so an
edited prompt is asked again rather than answered from the journal. A run reads its prompts once, at start.
From v3 on every prompt begins with its document, so the requests about one document share a prefix that a
server's prefix cache (vLLM's, OpenAI's) computes once. A version's system message is `system.txt`, or
`<name>.system.txt` for the template `<name>` where there is one (the paper's versions give each kind its own
instructions as the system message, the document under its heading in the user turn)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from entigraph_jax.llm.templates import PromptError, fill, read_template

PROMPTS = Path(__file__).parent / "prompts"
# built-in versions reshaped since they were first released: their request ids carry the revision, so a
# journal's answers to the earlier shape are never taken for answers to this one
REVISIONS = {"paper": 2}  # 2: the paper's roles (instructions in the system message, App. H.1/H.2)
REPHRASE_STYLES = ("easy", "wiki", "academic", "qa")  # WRAP's styles (Maini et al., 2024)
KNOWLEDGE_KINDS = ("detailed", "extractive", "atomic")  # sdg_hub's knowledge tuning texts, in our words


# the slots a template must use to do its job (a pair prompt that never names its second entity is a mistake)
NEEDED_SLOTS = {"entities": ("document",), "pair": ("document", "entity_1", "entity_2"),
                "triple": ("document", "entity_1", "entity_2", "entity_3"), "question": ("document",),
                "answer_with_document": ("document", "entity_1"), "answer_closed_book": ("entity_1",),
                **{f"rephrase_{style}": ("document",) for style in REPHRASE_STYLES},
                **{f"knowledge_{kind}": ("document",) for kind in KNOWLEDGE_KINDS}, "check": ("document", "entity_1"),
                "strategies": ("document", "entity_1"), "study": ("document", "entity_1")}


def built_in(version: str) -> bool:
    return "/" not in version and (PROMPTS / version).is_dir()


def unknown(version: str) -> str | None:
    """Why `version` names no folder of templates (None: it names one); the settings' check."""
    if built_in(version) or Path(version).expanduser().is_dir():
        return None
    known = ", ".join(sorted(p.name for p in PROMPTS.iterdir() if p.is_dir()))
    return f"no such prompt version or folder (built in: {known})"


def folder(version: str) -> Path:
    """A built-in version's folder, or the user's folder of templates."""
    if problem := unknown(version):
        raise PromptError(f"prompt_version={version!r}: {problem}")
    return PROMPTS / version if built_in(version) else Path(version).expanduser()


@functools.cache
def identity(version: str) -> str:
    """What request ids know a prompt version by: a built-in version's name, or a folder's content hash."""
    if built_in(version):
        return f"{version}@{REVISIONS[version]}" if version in REVISIONS else version
    digest = hashlib.sha256()
    for path in sorted(folder(version).glob("*.txt")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"folder:{digest.hexdigest()[:16]}"


def template(version: str, name: str) -> str:
    return read_template(folder(version), name)


def system_message(version: str, name: str) -> str:
    """The system message of the template `name`: its own `<name>.system.txt`, else the version's `system.txt`."""
    own = f"{name}.system"
    return template(version, own if (folder(version) / f"{own}.txt").is_file() else "system")


def missing(version: str, names) -> str:
    """What the templates `names` of `version` lack, in one line ("" when nothing)."""
    where, problems = folder(version), []
    absent = [n for n in names if not (where / f"{n}.txt").is_file()]
    if absent:
        problems.append(f"no {', '.join(absent)} template(s)")
    for name in (n for n in names if n not in absent):
        lacking = [f"{{{slot}}}" for slot in NEEDED_SLOTS.get(name, ()) if f"{{{slot}}}" not in template(version, name)]
        if lacking:
            problems.append(f"{name} lacks {', '.join(lacking)}")
    return "; ".join(problems)


def render(version: str, name: str, document: str, entities: tuple[str, ...] = (), title: str = "") -> str:
    """The template with its slots filled (`llm.templates.fill`)."""
    return fill(template(version, name), document, entities, title)
