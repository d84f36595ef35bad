"""`python -m entigraph_jax.models {convert,chat} ...`"""

import sys

from entigraph_jax.cli import Command, Flag, main, required

from .run import chat, convert
from .settings import ChatSettings, ConvertSettings


def _convert(config, invocation):
    required(config, "src", "dst")
    return convert(config)


def _chat(config, invocation):
    required(config, "checkpoint")
    return chat(config)


COMMANDS = {
    "convert": Command(
        name="models convert",
        purpose="""Convert a checkpoint between Hugging Face safetensors and Orbax parameters, or a GGUF file
(llama.cpp, Ollama) to Hugging Face. Hugging Face is what transformers and vLLM load, Orbax what a TPU job reads
fastest. The format of SRC is detected; DST must not exist or be empty, so nothing is overwritten.""",
        settings=ConvertSettings,
        run=_convert,
        flags=(Flag("src", "the checkpoint to read", key="src", positional=True),
               Flag("dst", "the folder to write", key="dst", positional=True),
               Flag("to", "hf or orbax (default: the other format)", key="to", metavar="FORMAT"),
               Flag("dtype", "dtype of the written parameters", key="dtype", metavar="DTYPE")),
    ),
    "chat": Command(
        name="models chat",
        purpose="""A terminal chat with a checkpoint over the KV-cache sampler. Each line typed is a user turn,
answered with the tokenizer's own chat template (or Llama 3.1's, or a plain one when it has
none); an empty line or end of input quits.""",
        settings=ChatSettings,
        run=_chat,
        flags=(Flag("checkpoint", "a Hugging Face or Orbax folder", key="checkpoint", metavar="DIR"),
               Flag("tokenizer", "its tokenizer (default: the checkpoint folder's)", key="tokenizer.path",
                    metavar="PATH"),
               Flag("system", "a system message", key="system", metavar="TEXT")),
    ),
}

if __name__ == "__main__":
    sys.exit(main(COMMANDS))
