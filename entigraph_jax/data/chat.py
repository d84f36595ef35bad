"""Chat records (`messages`: [{"role", "content"}]) as tokens with a loss mask on assistant turns.

The template is the tokenizer's own when it ships one (`chat_template` in tokenizer_config.json or
chat_template.jinja): rendered with Jinja the way transformers' `apply_chat_template` renders it (a
sandbox, `trim_blocks`, `lstrip_blocks`, `raise_exception`, `tojson`, the special tokens as text; no
`include` or `import`, and at most `RANGE_BUDGET` steps of `range` loops in one rendering, so a
template cannot read files or run without end), and
the rendered text tokenized as a whole, so the ids are the ones transformers gives. The loss mask
covers each assistant turn's content and its end-of-turn marker, found by rendering the
conversation up to that turn with and without it. Two fallbacks for tokenizers without a template:
`llama3` (the Llama 3.1 format) when the tokenizer has its header and end-of-turn tokens, and `plain`
(text role markers, EOS after each assistant turn), such as the quickstart's SentencePiece vocabulary.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from entigraph_jax.errors import UserError

ROLES = ("system", "user", "assistant")
RANGE_BUDGET = 100_000  # steps of all `range(...)` loops in one rendering of a chat template


class ChatError(UserError):
    pass


@dataclasses.dataclass(frozen=True)
class ChatTemplate:
    name: str
    tokenizer: object

    def _special(self, token: str) -> int:
        return self.tokenizer.token_id(token)

    def _turn(self, role: str, content: str | None) -> tuple[list[int], list[int], list[int]]:
        """(header ids, content ids, end ids) of one turn; content None: an open assistant turn."""
        tok = self.tokenizer
        if self.name == "llama3":
            header = ([self._special("<|start_header_id|>")] + tok.encode(role)
                      + [self._special("<|end_header_id|>")] + tok.encode("\n\n"))
            end = [self._special("<|eot_id|>")]
        else:
            header = tok.encode(f"### {role.capitalize()}:\n")
            end = [tok.eos_id] if role == "assistant" else tok.encode("\n\n")
        return header, tok.encode(content) if content is not None else [], end

    def encode(self, messages: list[dict]) -> tuple[list[int], list[int]]:
        """Token ids of a conversation and a mask that is 1 on assistant content and its end token."""
        check_messages(messages)
        ids = self._begin()
        mask = [0] * len(ids)
        for message in messages:
            header, content, end = self._turn(message["role"], message["content"])
            learn = int(message["role"] == "assistant")
            ids += header + content + end
            mask += [0] * len(header) + [learn] * (len(content) + len(end))
        return ids, mask

    def prompt(self, messages: list[dict]) -> list[int]:
        """A conversation followed by an open assistant turn, for generation."""
        check_messages(messages)
        ids = self._begin()
        for message in messages:
            header, content, end = self._turn(message["role"], message["content"])
            ids += header + content + end
        return ids + self._turn("assistant", None)[0]

    def stop(self) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """(token ids, strings) that end an assistant turn."""
        if self.name == "llama3":
            return (self._special("<|eot_id|>"),), ()
        return (self.tokenizer.eos_id,), ("\n### User:",)

    def _begin(self) -> list[int]:
        return [self.tokenizer.bos_id] if self.tokenizer.bos_id is not None else []


class _GenerationTag(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}` (transformers' marker of assistant text) renders its
    body; the mask comes from rendering turn by turn, so templates with and without it agree."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller):
        return caller()


def _raise(message):
    raise jinja2.exceptions.TemplateError(message)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


class _RangeBudget(threading.local):
    left = RANGE_BUDGET


_budget = _RangeBudget()


def _range(*args):
    """`range`, charged against the rendering's `RANGE_BUDGET` (nested loops multiply)."""
    steps = range(*args)
    if len(steps) > _budget.left:
        _raise(f"its loops ran past {RANGE_BUDGET} steps of range(); a chat template that loops without end?")
    _budget.left -= len(steps)
    return steps


@functools.lru_cache(maxsize=16)
def _compile(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, loader=jinja2.DictLoader({}),
                                        extensions=[_GenerationTag, jinja2.ext.loopcontrols])
    env.globals["range"] = _range
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(source)


@dataclasses.dataclass(frozen=True)
class JinjaChatTemplate:
    """The tokenizer's own Jinja chat template; the same interface as `ChatTemplate`."""

    tokenizer: object
    name: str = "jinja"

    def render(self, messages: list[dict], add_generation_prompt: bool) -> str:
        _budget.left = RANGE_BUDGET
        try:
            template = _compile(self.tokenizer.chat_template)
            return template.render(messages=messages, add_generation_prompt=add_generation_prompt, tools=None,
                                   documents=None, **self.tokenizer.special_tokens)
        except jinja2.TemplateError as e:
            raise ChatError(f"{self.tokenizer.path}: the chat template refused the conversation: {e}") from e

    def encode(self, messages: list[dict]) -> tuple[list[int], list[int]]:
        check_messages(messages)
        text = self.render(messages, add_generation_prompt=False)
        spans, cursor = [], 0
        for i, message in enumerate(messages):
            if message["role"] == "assistant":
                start, end = self._assistant_span(messages, i, text, cursor)
                spans.append((start, end))
                cursor = end
        ids, offsets = self.tokenizer.encode_with_offsets(text)
        mask = [int(any(start <= a < end for start, end in spans)) for a, _ in offsets]
        return ids, mask

    def _assistant_span(self, messages, i, text, cursor) -> tuple[int, int]:
        """Where assistant turn i (content and end-of-turn marker) lies in the rendered conversation."""
        before = self.render(messages[:i], add_generation_prompt=True)
        through = self.render(messages[: i + 1], add_generation_prompt=False)
        if through.startswith(before) and text.startswith(through) and len(before) >= cursor:
            return len(before), len(through.rstrip())
        # templates that render earlier turns differently once later ones follow: find the content
        start = text.find(messages[i]["content"], cursor)
        if start < 0:
            raise ChatError(f"{self.tokenizer.path}: the chat template does not render assistant turn {i} verbatim")
        return start, start + len(messages[i]["content"])

    def prompt(self, messages: list[dict]) -> list[int]:
        check_messages(messages)
        return self.tokenizer.encode(self.render(messages, add_generation_prompt=True))

    def stop(self) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """What the template writes after an assistant's words: one token (`<|im_end|>`, `<|eot_id|>`,
        `<end_of_turn>`) is a stop token, longer text a stop string; EOS always ends a turn too."""
        turn = [{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hello."}]
        before = self.render(turn[:1], add_generation_prompt=True)
        after = self.render(turn, add_generation_prompt=False)[len(before) + len("Hello."):].strip()
        eos = (self.tokenizer.eos_id,) if self.tokenizer.eos_id is not None else ()
        ids = self.tokenizer.encode(after) if after else []
        if len(ids) == 1:
            return tuple(dict.fromkeys(ids + list(eos))), ()
        return eos, (after,) if after else ()


def chat_template(tokenizer) -> ChatTemplate | JinjaChatTemplate:
    """The tokenizer's own template if it has one, else `llama3` or `plain` (see the module docstring)."""
    if tokenizer.chat_template:
        return JinjaChatTemplate(tokenizer)
    has_llama3 = all(tokenizer.token_id(t) is not None
                     for t in ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"))
    if not has_llama3 and tokenizer.eos_id is None:
        raise ChatError(f"{tokenizer.path}: no chat special tokens and no EOS to end assistant turns")
    return ChatTemplate("llama3" if has_llama3 else "plain", tokenizer)


def check_messages(messages) -> None:
    if not isinstance(messages, list) or not messages:
        raise ChatError("'messages' must be a non-empty list")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ChatError(f"message {i}: expected {{'role': one of {ROLES}, 'content': str}}")


def render_plain(messages: list[dict]) -> str:
    """A readable text form of a conversation (the record's `text`)."""
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)
