"""The models stage's commands: convert checkpoints between Hugging Face and Orbax, and chat with one.

    python -m entigraph_jax.models convert SRC DST [--to hf|orbax] [--dtype bfloat16]
    python -m entigraph_jax.models chat --checkpoint DIR --tokenizer T [--system TEXT]
"""

from __future__ import annotations

import dataclasses
import sys

from entigraph_jax.config import ConfigError
from entigraph_jax.data.chat import chat_template

from .checkpoint import checkpoint_format, load, save_params
from .defaults import ChatSettings, ConvertSettings
from .gguf import gguf_to_hf
from .hf import save_pretrained_hf
from .sampling import Sampler, SamplingParams

FORMATS = ("hf", "orbax")


@dataclasses.dataclass(frozen=True)
class Converted:
    src: str
    dst: str
    source_format: str
    target_format: str


def convert(config: ConvertSettings) -> Converted:
    """`src` in the other format (or `to`), written to `dst`; nothing existing is overwritten."""
    source = checkpoint_format(config.src)
    target = config.to or next(f for f in FORMATS if f != source)
    if source == "gguf":
        if target != "hf":
            raise ConfigError(f"config: to={config.to!r}; a GGUF file converts to hf (then hf to orbax)")
        return Converted(str(config.src), str(gguf_to_hf(config.src, config.dst, config.dtype)), source, target)
    if target == "orbax":
        out = save_params(load(config.src, config.dtype or "float32"), config.dst)
    else:  # read in float32, write in the requested dtype (default: as stored)
        out = save_pretrained_hf(load(config.src, "float32"), config.dst, dtype=config.dtype or None)
    return Converted(str(config.src), str(out), source, target)


def chat(config: ChatSettings) -> None:
    """Each line on standard input is a user turn; the answers go to standard output. An empty line
    or end of input quits."""
    tokenizer = config.tokenizer.load(config.checkpoint)
    template = chat_template(tokenizer)
    sampler = Sampler(load(config.checkpoint, config.param_dtype), tokenizer)
    stop_tokens, stop_strings = template.stop()
    messages = [{"role": "system", "content": config.system}] if config.system else []
    interactive = sys.stdin.isatty()
    turn = 0
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line.strip():
            return
        messages.append({"role": "user", "content": line.strip()})
        params = SamplingParams(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                top_p=config.top_p, stop=stop_strings, stop_tokens=stop_tokens, seed=config.seed + turn)
        reply = sampler.generate([template.prompt(messages)], params)[0][0].text.strip()
        messages.append({"role": "assistant", "content": reply})
        print(reply, flush=True)
        turn += 1
