"""Evaluation through a served model: the prompts go to an OpenAI-compatible /completions server
(vLLM's wire format, replayed by the fake server) and the report must equal our own sampler's."""

import collections
import json
import socket
import sys

import pytest

from entigraph_jax.clients import Fatal
from entigraph_jax.data import load_source
from entigraph_jax.evaluate import __main__ as evaluate_main
from entigraph_jax.evaluate.quality import SamplingSettings
from entigraph_jax.evaluate.scores import items
from entigraph_jax.evaluate.served import ServedSampler, served_settings
from entigraph_jax.evaluate.summary import SummarySettings, write_summaries
from entigraph_jax.evaluate.task import Context, read_result
from entigraph_jax.evaluate.tasks.closed_book import ClosedBookSettings
from entigraph_jax.evaluate.tasks.closed_book import closed_book as closed_book_task
from entigraph_jax.models import load
from entigraph_jax.models.sampling import Sampler, SamplingParams
from entigraph_jax.testing import FakeLLMServer
from tests.helpers import ROOT
from tests.helpers.models import tiny_reference

QUALITY = [d for d in load_source("sample") if d.questions]


def openai_at(server, **changes):
    """`served.*` pointed at the fake server."""
    return served_settings().override({"backend": "openai", "base_url": server.base_url + "/v1", **changes})


def closed_book(sampler, docs, sampling: SamplingSettings, max_questions: int = 0):
    return closed_book_task(ClosedBookSettings(sampling=sampling, max_questions=max_questions),
                            Context(load_documents=lambda: docs, load_sampler=lambda: sampler))


class Recorder(Sampler):
    """Our sampler, keeping every prompt's samples as vLLM would answer them (the stop string cut off
    the text and named in `stop_reason`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.answers: dict[str, list[dict]] = {}

    def generate(self, prompts, params):
        generations = super().generate(prompts, params)
        for prompt, samples in zip(prompts, generations, strict=True):
            self.answers[str(prompt)] = [{"text": s.text, "stop_reason": s.stop_string,
                                     "finish_reason": "length" if s.finish_reason == "length" else "stop"}
                                    for s in samples]
        return generations


def replay(answers: dict[str, list[dict]], per_request: int):
    """A /completions handler answering each prompt with its recorded samples in order, at most
    `per_request` choices a request (as a server capping n does)."""
    served = collections.Counter()

    def complete(body):
        prompt = str(body["prompt"])  # text, or token ids (a chat template's)
        first = served[prompt]
        count = min(body["n"], per_request)
        served[prompt] += count
        return [{"index": i, **answer} for i, answer in enumerate(answers[prompt][first : first + count])]

    return complete


@pytest.mark.torch
def test_a_served_closed_book_equals_our_samplers_report(tmp_path):
    tokenizer, _, folder = tiny_reference(tmp_path)
    settings = SamplingSettings(samples=3, max_new_tokens=40, temperature=1.0, batch_questions=4, shots=1, seed=1)
    recorder = Recorder(load(folder, "float32"), tokenizer)
    ours = closed_book(recorder, QUALITY, settings, max_questions=6)
    kinds = collections.Counter(a["finish_reason"] for answers in recorder.answers.values() for a in answers)
    assert len(recorder.answers) == 6 and kinds["length"] and kinds["stop"]  # EOS and full-length samples
    server = FakeLLMServer(completions=replay(recorder.answers, per_request=2)).start()
    served = served_settings().override({"backend": "openai", "model": "tiny", "base_url": server.base_url + "/v1"})
    with ServedSampler(served, str(folder), tmp_path / "journal.sqlite") as sampler:
        theirs = closed_book(sampler, QUALITY, settings, max_questions=6)
    assert theirs == ours
    requests = [r["body"] for r in server.requests if r["path"] == "/v1/completions"]
    assert sorted(r["n"] for r in requests) == [1] * 6 + [3] * 6  # 2 of 3 answered, then the last asked again
    first = requests[0]
    assert (first["model"], first["temperature"], first["max_tokens"], first["top_p"]) == ("tiny", 1.0, 40, 1.0)
    assert len(first["stop"]) == 64 and "Answer: B.\n" in first["stop"]
    assert len({r["seed"] for r in requests}) == 12  # every request its own seed, the same on a rerun


@pytest.mark.torch
def test_served_summaries_equal_our_samplers(tmp_path):
    """Summaries go as the chat template's token ids, with its stop tokens as vLLM's stop_token_ids."""
    tokenizer, _, folder = tiny_reference(tmp_path)
    settings = SummarySettings(max_new_tokens=24, temperature=1.0, batch=2)
    docs = QUALITY[:3]
    recorder = Recorder(load(folder, "float32"), tokenizer)
    ours = write_summaries(recorder, tokenizer, str(folder), docs, settings)
    server = FakeLLMServer(completions=replay(recorder.answers, per_request=1)).start()
    with ServedSampler(openai_at(server), str(folder), tmp_path / "journal.sqlite") as sampler:
        assert write_summaries(sampler, tokenizer, str(folder), docs, settings) == ours
    first = next(r["body"] for r in server.requests if r["path"] == "/v1/completions")
    assert isinstance(first["prompt"], list) and first["stop_token_ids"] == [tokenizer.eos_id]


def test_stop_strings_come_from_vllms_stop_reason(tmp_path):
    """vLLM cuts the answer line off the text and names it in stop_reason: the answer is parsed from
    it; a sample cut at max_tokens or ended by EOS is no attempt."""
    doc = QUALITY[0]
    gold = "ABCD"[sorted(doc.questions, key=lambda q: q.question)[0].gold_label - 1]
    wrong = "D" if gold != "D" else "A"

    def complete(body):
        return [{"index": 0, "text": " It is clear.", "finish_reason": "stop", "stop_reason": f"Answer: {gold}.\n"},
                {"index": 1, "text": f" Answer: {wrong} or", "finish_reason": "length", "stop_reason": None},
                {"index": 2, "text": f" Answer: {wrong}.", "finish_reason": "stop", "stop_reason": None}]

    server = FakeLLMServer(completions=complete).start()
    settings = SamplingSettings(samples=3, selection="majority")
    with ServedSampler(openai_at(server), "m", tmp_path / "journal.sqlite") as s:
        result = closed_book(s, [doc], settings, max_questions=1).details["results"][0]
    assert result["answers"] == [gold, None, None] and result["selected"] == gold and result["correct"]
    assert result["samples"][0] == f" It is clear.Answer: {gold}.\n"


@pytest.fixture
def evaluate_command(run_command):
    return lambda *args: run_command(evaluate_main.COMMAND, ["--config", ROOT / "configs/eval_quality.py",
                                                             "--config.source=sample", *args])


STAND_IN = """#!{python}
import asyncio, json, sys
from pathlib import Path
from entigraph_jax.testing import FakeLLMServer
Path({argv!r}).write_text(json.dumps(sys.argv[1:]))
answer = {{"text": " The text says so.", "finish_reason": "stop", "stop_reason": "Answer: B.\\n"}}
server = FakeLLMServer(completions=lambda body: [dict(answer, index=i) for i in range(body["n"])])
async def main():
    await server.serve("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1]))
    await asyncio.Event().wait()
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_vllm_backend_serves_the_checkpoint_for_the_evaluation_and_stops_it(tmp_path, evaluate_command):
    stand_in, port = tmp_path / "vllm", free_port()
    stand_in.write_text(STAND_IN.format(python=sys.executable, argv=str(tmp_path / "argv.json")))
    stand_in.chmod(0o755)
    output = tmp_path / "report.json"
    done = evaluate_command("--config.model.path=/models/cpt-8b", f"--config.output={output}",
                            "--config.served.backend=vllm", f"--config.served.base_url=http://127.0.0.1:{port}/v1",
                            f"--config.served.vllm.command={stand_in}", "--config.served.vllm.startup_s=60",
                            "--config.tasks.closed_book.sampling.samples=2")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "argv.json").read_text()) == ["serve", "/models/cpt-8b", "--port", str(port),
                                                               "--enable-prefix-caching"]
    report = read_result(output)
    gold = [r["gold"] for r in report.details["results"]]
    assert all(r["selected"] == "B" and r["answers"] == ["B", "B"] for r in report.details["results"])
    overall = report.splits["all"].overall
    assert overall.total == len(items(QUALITY)) and overall.correct == gold.count("B") and overall.attempt_rate == 1
    with pytest.raises(OSError):  # the server was stopped with the evaluation
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_served_failures_are_one_line(tmp_path, evaluate_command):
    silent = FakeLLMServer(completions=lambda body: [{"index": 0, "text": " B", "finish_reason": "stop"}]).start()
    common = ["--config.model.path=m", "--config.served.backend=openai",
              "--config.tasks.closed_book.sampling.samples=1"]
    done = evaluate_command(*common, f"--config.served.base_url={silent.base_url}/v1",
                            f"--config.output={tmp_path / 'a.json'}")
    assert done.returncode == 1 and "does not say which stop string ended a sample" in done.stderr
    done = evaluate_command(*common, f"--config.served.base_url=http://127.0.0.1:{free_port()}/v1",
                            f"--config.output={tmp_path / 'b.json'}")
    assert done.returncode == 1 and "cannot reach" in done.stderr
    chat_only = FakeLLMServer().start()
    done = evaluate_command(*common, f"--config.served.base_url={chat_only.base_url}/v1",
                            f"--config.output={tmp_path / 'c.json'}")
    assert done.returncode == 1 and "HTTP 404 (this server has no text completions)" in done.stderr
    done = evaluate_command(*common, "--config.task=loglik", f"--config.output={tmp_path / 'd.json'}")
    assert done.returncode == 1 and "task=loglik scores with the model itself" in done.stderr
    assert not any((tmp_path / name).exists() for name in ("a.json", "b.json", "c.json", "d.json"))


def test_request_seeds_depend_on_the_call_the_prompt_and_the_samples_had_and_a_rerun_asks_nothing(tmp_path):
    seen = []
    server = FakeLLMServer(completions=lambda body: seen.append(body["seed"]) or [
        {"index": 0, "text": body["prompt"] + str(body["seed"]), "finish_reason": "length"}]).start()
    journal = tmp_path / "journal.sqlite"
    with ServedSampler(openai_at(server, max_concurrency=1), "m", journal) as sampler:
        first = sampler.generate(["p", "q"], SamplingParams(n=2, seed=0))
        assert len(seen) == 4 and sampler.generate(["p", "q"], SamplingParams(n=2, seed=0)) == first
        sampler.generate(["p", "q"], SamplingParams(n=2, seed=1))
    assert len(seen) == 8 and len(set(seen)) == 8  # every request its own seed; the same call asked nothing again
    with ServedSampler(openai_at(server), "m", journal) as sampler:  # a rerun after a crash: from the journal
        assert sampler.generate(["p", "q"], SamplingParams(n=2, seed=0)) == first and len(seen) == 8


def test_a_refused_key_names_the_served_section(tmp_path):
    server = FakeLLMServer(completions=lambda body: []).start()
    server.fail_always("echo401")
    with ServedSampler(openai_at(server), "m", tmp_path / "journal.sqlite") as sampler:
        with pytest.raises(Fatal, match=r"^served: http://127.0.0.1:\d+/v1: HTTP 401 .*check the key"):
            sampler.generate(["p"], SamplingParams(n=1))
