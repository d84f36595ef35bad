"""Chat records (`messages`: [{"role", "content"}]) as tokens with a loss mask on assistant turns.

Two templates: `llama3` (the Llama 3.1 chat format, with its header and end-of-turn special tokens)
when the tokenizer has those tokens, and `plain` (text role markers, EOS after each assistant turn)
for tokenizers without them, such as the quickstart's SentencePiece vocabulary.
"""

from __future__ import annotations

import dataclasses

from entigraph_jax.errors import UserError

ROLES = ("system", "user", "assistant")


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
        ids, mask = self._begin(), []
        mask = [0] * len(ids)
        for message in messages:
            header, content, end = self._turn(message["role"], message["content"])
            learn = int(message["role"] == "assistant")
            ids += header + content + end
            mask += [0] * len(header) + [learn] * (len(content) + len(end))
        return ids, mask

    def prompt(self, messages: list[dict]) -> list[int]:
        """A conversation followed by an open assistant turn, for generation."""
        check_messages(messages, final_assistant=False)
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


def chat_template(tokenizer) -> ChatTemplate:
    has_llama3 = all(tokenizer.token_id(t) is not None
                     for t in ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"))
    if not has_llama3 and tokenizer.eos_id is None:
        raise ChatError(f"{tokenizer.path}: no chat special tokens and no EOS to end assistant turns")
    return ChatTemplate("llama3" if has_llama3 else "plain", tokenizer)


def check_messages(messages, final_assistant: bool | None = None) -> None:
    if not isinstance(messages, list) or not messages:
        raise ChatError("'messages' must be a non-empty list")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ChatError(f"message {i}: expected {{'role': one of {ROLES}, 'content': str}}")


def render_plain(messages: list[dict]) -> str:
    """A readable text form of a conversation (the record's `text`)."""
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)
