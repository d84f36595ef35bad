"""`python -m entigraph_jax.testing [--port 8123] [--latency 0.2] [--mode world]`: serve the fake LLM until
Ctrl-C."""

import asyncio
import dataclasses
import os
import sys

from entigraph_jax.cli import Command, Flag, main
from entigraph_jax.errors import UserError
from entigraph_jax.settings import Settings, at_least, positive, setting

from .fake_llm import FakeLLMServer, fake_answer
from .world import world_answer


@dataclasses.dataclass(frozen=True)
class ServerSettings(Settings):
    host: str = setting("127.0.0.1", "the address to listen on")
    port: int = setting(8123, "the port to listen on (0: any free one)", check=at_least(0))
    latency_s: float = setting(0.0, "seconds before each answer, to imitate a real server", check=at_least(0))
    batch_polls: int = setting(1, "status requests a batch takes to finish", check=positive)
    mode: str = setting("default", "default: the answers the tests script | world: a generator that restates the "
                        "facts of the prompt's document, in other phrasings, and no other (testing/world.py: the "
                        "EntiGraph miniature's)", choices=("default", "world"))


def serve(config, invocation) -> None:
    answer = world_answer if config.mode == "world" else fake_answer
    server = FakeLLMServer(latency_s=config.latency_s, batch_polls=config.batch_polls, answer=answer)

    async def run():
        try:
            await server.serve(config.host, config.port)
        except OSError as e:  # the port is taken, or the address is not this machine's
            why = os.strerror(e.errno) if e.errno else str(e)
            raise UserError(f"cannot listen on {config.host}:{config.port} ({why}); choose another with --port (0: "
                            "any free one)") from e
        print(f"fake LLM server on http://{config.host}:{server.port} (OpenAI: add /v1)", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


COMMAND = Command(
    name="testing",
    purpose="""A fake LLM server speaking the OpenAI and Gemini wire formats, to try the generator offline:
add --config.llm.base_url=http://127.0.0.1:8123/v1 --config.llm.model=fake to a generate command.""",
    settings=ServerSettings,
    run=serve,
    flags=(Flag("port", "the port to listen on", key="port", metavar="PORT"),
           Flag("latency", "seconds before each answer", key="latency_s", metavar="SECONDS"),
           Flag("batch_polls", "status requests a batch takes to finish", key="batch_polls", metavar="N"),
           Flag("mode", "default | world", key="mode", metavar="MODE")),
)

if __name__ == "__main__":
    sys.exit(main(COMMAND))
