"""`backend = "vllm"`: an open model served by vLLM for the run, spoken to as any OpenAI-compatible
server. If a server already answers `GET /health` at `base_url` it is used as it is; otherwise
`vllm serve MODEL --port P --enable-prefix-caching [vllm.args]` is started (its log beside the
run's output), waited for until healthy, and stopped when the run ends. Prefix caching is what makes
EntiGraph cheap to serve: every prompt begins with its document (prompt versions from v3 on), and the
run sends a document's requests together, so they share the document's cached prefix. On a TPU VM
the same command runs vLLM's TPU build; `vllm.args` carries the rest (`--tensor-parallel-size 8`,
`--max-model-len 8192`, ...).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import time
import urllib.parse
from pathlib import Path

import aiohttp

from .llm import Fatal
from .openai import OpenAIBackend


class VLLMBackend(OpenAIBackend):
    name = "vllm"
    timed = False  # a request may queue behind the server's batch; the server, not the client, is the judge

    def __init__(self, llm, log_path: Path):
        self.settings, self.log_path = llm.vllm, log_path
        self.process: subprocess.Popen | None = None
        super().__init__(llm.base_url, llm.model, None, llm.timeout_s, llm.max_concurrency, llm.json_mode,
                         llm.json_schema)

    async def _healthy(self, root: str) -> bool:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                async with session.get(f"{root}/health") as response:
                    return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def start(self) -> None:
        parts = urllib.parse.urlsplit(self.base_url)
        root = f"{parts.scheme}://{parts.netloc}"
        if await self._healthy(root):
            return  # a server is already there: attach
        if parts.hostname not in ("localhost", "127.0.0.1"):
            raise Fatal(f"no vLLM server answers at {root}/health, and one can be started only on this machine "
                        "(base_url http://localhost:PORT/v1)")
        command = [*shlex.split(self.settings.command), "serve", self.model, "--port", str(parts.port or 80),
                   "--enable-prefix-caching", *self.settings.args]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            try:
                self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as e:
                raise Fatal(f"cannot start {shlex.join(command)}: {e} (pip install vllm, or set "
                            "vllm.command)") from e
        deadline = time.monotonic() + self.settings.startup_s
        while not await self._healthy(root):
            if self.process.poll() is not None:
                raise Fatal(f"{shlex.join(command)} exited with status {self.process.returncode} before it was "
                            f"healthy; the end of {self.log_path}:\n{_tail(self.log_path)}")
            if time.monotonic() > deadline:
                await self.aclose()
                raise Fatal(f"vLLM was not healthy within vllm.startup_s={self.settings.startup_s}; "
                            f"see {self.log_path}")
            await asyncio.sleep(1.0)

    async def aclose(self) -> None:
        await super().aclose()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)  # the server and the workers it started
            try:
                await asyncio.to_thread(self.process.wait, 60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
        self.process = None


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
