"""The models stage's commands: convert checkpoints between Hugging Face and Orbax, and chat with one.

    python -m entigraph_jax.models convert SRC DST [--to hf|orbax] [--dtype bfloat16]
    python -m entigraph_jax.models chat --checkpoint DIR --tokenizer T [--system TEXT]
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from entigraph_jax.config import ConfigError
from entigraph_jax.data.chat import chat_template

from .checkpoint import checkpoint_format, load, save_params
from .gguf import gguf_to_hf
from .hf import save_pretrained_hf
from .sampling import Sampler, SamplingParams
from .settings import ChatSettings, ConvertSettings

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


def sampling_defaults(checkpoint: str, temperature: float, top_p: float) -> tuple[float, float, str]:
    """(temperature, top_p, where they come from): the settings' where not negative, else the checkpoint's
    generation_config.json as transformers reads it (greedy unless `do_sample`), else 0.7 and 0.9."""
    file = Path(checkpoint) / "generation_config.json"
    try:
        own = json.loads(file.read_text()) if file.is_file() else None
    except (OSError, ValueError):
        own = None
    if not isinstance(own, dict):
        return (temperature if temperature >= 0 else 0.7), (top_p if top_p >= 0 else 0.9), "the settings"
    samples = bool(own.get("do_sample", False))
    return (temperature if temperature >= 0 else float(own.get("temperature", 1.0)) if samples else 0.0,
            top_p if top_p >= 0 else float(own.get("top_p", 1.0)), f"{file} where not set")


def chat(config: ChatSettings) -> None:
    """Each line on standard input is a user turn; the answers go to standard output. An empty line
    or end of input quits."""
    tokenizer = config.tokenizer.load(config.checkpoint)
    template = chat_template(tokenizer)
    sampler = Sampler(load(config.checkpoint, config.param_dtype), tokenizer)
    stop_tokens, stop_strings = template.stop()
    messages = [{"role": "system", "content": config.system}] if config.system else []
    interactive = sys.stdin.isatty()
    temperature, top_p, source = sampling_defaults(config.checkpoint, config.temperature, config.top_p)
    print(f"temperature {temperature:g}{' (greedy)' if temperature == 0 else ''}, top_p {top_p:g} ({source})",
          file=sys.stderr)
    turn = 0
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line.strip():
            return
        messages.append({"role": "user", "content": line.strip()})
        params = SamplingParams(max_new_tokens=config.max_new_tokens, temperature=temperature,
                                top_p=top_p, stop=stop_strings, stop_tokens=stop_tokens, seed=config.seed + turn)
        reply = sampler.generate([template.prompt(messages)], params)[0][0].text.strip()
        messages.append({"role": "assistant", "content": reply})
        print(reply + "\n", flush=True)  # a blank line ends each answer (answers of many lines, piped)
        turn += 1
