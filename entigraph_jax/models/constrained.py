"""JSON-constrained decoding: `json_mode` for our own sampler, as servers offer it (a JSON object, and
nothing after it).

`JsonPrefix` is a character automaton of JSON (RFC 8259) whose states are immutable, so a token can
be tried and dropped. Decoding keeps one state per row. Each step the device returns, per row, the
top candidates under Gumbel-max ordering (logits / temperature plus Gumbel noise; the noise is zero
when greedy); the host takes the first whose text keeps the row a valid JSON prefix. The first
valid token in that order is an exact sample of the distribution restricted to the valid tokens, so
the model's preferences among valid continuations are kept. A row ends when its object closes.
"""

from __future__ import annotations

import json
from typing import NamedTuple

WHITESPACE = " \t\n\r"
MAX_WHITESPACE = 16  # spaces in a row outside strings: a pretty-printed object needs a few, not hundreds
LITERALS = ("true", "false", "null")
NUMBER_NEXT = {  # number sub-state -> {character class: next sub-state}
    "sign": {"0": "zero", "1-9": "int"},
    "zero": {".": "dot", "e": "exp"},
    "int": {"0-9": "int", ".": "dot", "e": "exp"},
    "dot": {"0-9": "frac"},
    "frac": {"0-9": "frac", "e": "exp"},
    "exp": {"+-": "exp_sign", "0-9": "exp_digits"},
    "exp_sign": {"0-9": "exp_digits"},
    "exp_digits": {"0-9": "exp_digits"},
}
NUMBER_ENDS = {"zero", "int", "frac", "exp_digits"}


def _char_class(c: str) -> str:
    if c == "0":
        return "0"
    if c in "123456789":
        return "1-9"
    if c in "eE":
        return "e"
    if c in "+-":
        return "+-"
    return c


class Open(NamedTuple):
    """A container being written: its bracket, schema, entries begun and (for `uniqueItems`) the
    string items it holds."""

    bracket: str
    schema: dict | None
    begun: int = 0
    seen: frozenset = frozenset()


class JsonPrefix(NamedTuple):
    """Where a JSON text is so far. `mode`: value (a value must come), key (a key or, if `first`, the
    closing brace), colon, after (a comma or a closing bracket), string, number, literal, done.

    With a `schema` (a small JSON Schema subset: object `properties`, all written in their order and
    no others; array `items`, `maxItems` and `uniqueItems` (string items, compared case-insensitively);
    string `maxLength`; number, integer, boolean, null) the text also follows it: the keys are forced
    and each value has its type."""

    stack: tuple[Open, ...] = ()  # the open containers, outermost first
    mode: str = "value"
    first: bool = True  # nothing yet in the innermost container (it may close at once)
    sub: str = ""  # string: "", "\\" or "u0".."u3"; number: its sub-state; literal: the rest to write
    key: bool = False  # the string (or forced literal) being written is an object key
    spaces: int = 0
    expect: dict | None = None  # the schema of the value to come (None: any)
    length: int = 0  # characters of the string being written
    chars: str | None = None  # the string item being written, where its array wants unique items

    @classmethod
    def start(cls, schema: dict | None = None) -> JsonPrefix:
        return cls(expect=schema)

    @property
    def complete(self) -> bool:
        return self.mode == "done"

    def feed(self, text: str) -> JsonPrefix | None:
        """The state after `text`, or None if `text` cannot continue a JSON object."""
        state = self
        for c in text:
            state = state._char(c)
            if state is None:
                return None
        return state

    def _char(self, c: str) -> JsonPrefix | None:
        mode = self.mode
        if mode == "string":
            return self._in_string(c)
        if mode == "number":
            following = NUMBER_NEXT[self.sub]
            for cls in (_char_class(c), "0-9" if c.isdigit() and c.isascii() else None):
                if cls in following and not (cls in (".", "e") and _type(self.expect) == "integer"):
                    return self._replace(sub=following[cls])
            if self.sub not in NUMBER_ENDS:
                return None
            return self._value_done()._char(c)
        if mode == "literal":
            if c != self.sub[0]:
                return None
            if len(self.sub) > 1:
                return self._replace(sub=self.sub[1:])
            return self._replace(mode="colon", sub="") if self.key else self._value_done()
        if c in WHITESPACE:
            return self._replace(spaces=self.spaces + 1) if self.spaces < MAX_WHITESPACE else None
        state = self._replace(spaces=0)
        if mode == "done":
            return None
        if mode == "value":
            return state._value(c)
        if mode == "key":
            return state._key(c)
        if mode == "colon":
            return state._replace(mode="value", first=False) if c == ":" else None
        # after a value: a comma or the container's closing bracket
        bracket, schema, begun, _ = self.stack[-1]
        if c == ",":
            if bracket == "[":
                limit = (schema or {}).get("maxItems")
                if limit is not None and begun >= limit:
                    return None
                return state._replace(mode="value", first=False, expect=_items(schema))
            names = _properties(schema)
            return state._replace(mode="key", first=False) if names is None or begun < len(names) else None
        return state._close() if c == {"{": "}", "[": "]"}[bracket] and state._may_close() else None

    def _value(self, c: str) -> JsonPrefix | None:
        kind = _type(self.expect)
        if not self.stack and c != "{":
            return None  # the answer is an object, as servers' json_object mode promises
        if c == "]" and self.first and self.stack and self.stack[-1].bracket == "[":
            return self._close()
        if kind is not None and c not in ALLOWED_START[kind]:
            return None
        state = self._begin_entry()
        if c in "{[":
            return state._replace(stack=state.stack + (Open(c, self.expect),), mode="key" if c == "{" else "value",
                                  first=True, expect=_items(self.expect) if c == "[" else None)
        if c == '"':
            top = self.stack[-1]
            unique = top.bracket == "[" and (top.schema or {}).get("uniqueItems")
            return state._replace(mode="string", sub="", key=False, length=0, chars="" if unique else None)
        if c == "-":
            return state._replace(mode="number", sub="sign")
        if c in "0123456789":
            return state._replace(mode="number", sub="zero" if c == "0" else "int")
        for word in LITERALS:
            if c == word[0]:
                return state._replace(mode="literal", sub=word[1:], key=False)
        return None

    def _key(self, c: str) -> JsonPrefix | None:
        _, schema, begun, _ = self.stack[-1]
        names = _properties(schema)
        if c == "}":
            return self._close() if self.first and self._may_close() else None
        if c != '"':
            return None
        state = self._begin_entry()
        if names is None:
            return state._replace(mode="string", sub="", key=True, length=0, expect=None)
        name = names[begun]
        return state._replace(mode="literal", sub=json.dumps(name)[1:], key=True,
                              expect=schema["properties"][name])

    def _begin_entry(self) -> JsonPrefix:
        """Count one more entry of the innermost container (a key of an object, an item of an array)."""
        if not self.stack or (self.stack[-1].bracket == "{" and self.mode != "key"):
            return self
        top = self.stack[-1]
        return self._replace(stack=self.stack[:-1] + (top._replace(begun=top.begun + 1),))

    def _may_close(self) -> bool:
        bracket, schema, begun, _ = self.stack[-1]
        names = _properties(schema)
        return bracket == "[" or names is None or begun == len(names)

    def _in_string(self, c: str) -> JsonPrefix | None:
        sub = self.sub
        if sub == "\\":
            if c == "u":
                return self._replace(sub="u0")
            return self._replace(sub="") if c in '"\\/bfnrt' else None
        if sub.startswith("u"):
            if c not in "0123456789abcdefABCDEF":
                return None
            return self._replace(sub="" if sub == "u3" else f"u{int(sub[1]) + 1}")
        if c == '"':
            if self.key:
                return self._replace(mode="colon", first=False)
            if self.chars is None:
                return self._value_done()
            top, item = self.stack[-1], self.chars.casefold()
            if item in top.seen:
                return None  # an item already listed
            stack = self.stack[:-1] + (top._replace(seen=top.seen | {item}),)
            return self._replace(stack=stack, chars=None)._value_done()
        limit = (self.expect or {}).get("maxLength")
        if ord(c) < 0x20 or (limit is not None and self.length >= limit):
            return None
        state = self._replace(length=self.length + 1, chars=None if self.chars is None else self.chars + c)
        return state._replace(sub="\\") if c == "\\" else state

    def _value_done(self) -> JsonPrefix:
        return self._replace(mode="after" if self.stack else "done", sub="", first=False)

    def _close(self) -> JsonPrefix:
        stack = self.stack[:-1]
        return self._replace(stack=stack, mode="after" if stack else "done", first=False, sub="", expect=None)


ALLOWED_START = {"object": "{", "array": "[", "string": '"', "number": "-0123456789", "integer": "-0123456789",
                 "boolean": "tf", "null": "n"}


def _type(schema: dict | None) -> str | None:
    return (schema or {}).get("type")


def _items(schema: dict | None) -> dict | None:
    return (schema or {}).get("items")


def _properties(schema: dict | None) -> list[str] | None:
    properties = (schema or {}).get("properties")
    return list(properties) if properties else None


class TokenTexts:
    """Each token's text, for trying it against a row's `JsonPrefix`; special tokens have none."""

    def __init__(self, tokenizer, vocab_size: int):
        self.texts = tokenizer.token_texts(vocab_size)

    def next_state(self, state: JsonPrefix, token: int) -> JsonPrefix | None:
        """`state` after the token's text, None if the token cannot come next."""
        text = self.texts[token] if token < len(self.texts) else None
        if not text:
            return None
        return state.feed(text)
