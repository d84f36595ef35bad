"""The `local` backend: our own model and sampler generate the synthetic corpus."""


import pytest

from entigraph_jax.config import load_config_file
from entigraph_jax.data import load_source, load_tokenizer, read_records
from entigraph_jax.data.chat import chat_template
from entigraph_jax.generate.requests import messages, rephrase_requests
from entigraph_jax.generate.run import generate
from entigraph_jax.generate.settings import GenerateSettings
from entigraph_jax.models import from_pretrained_hf
from entigraph_jax.models.sampling import Sampler, SamplingParams
from tests.helpers import ROOT


@pytest.mark.slow
def test_local_backend_generates_what_the_sampler_does(quickstart_run, tmp_path):
    run = quickstart_run.run  # its export carries its tokenizer
    config = GenerateSettings.from_config(load_config_file(ROOT / "configs" / "entigraph_sample.py")).override({
        "method": "rephrase", "rephrase.styles": ("easy", "qa"), "output_dir": str(tmp_path / "out"),
        "llm.backend": "local", "llm.model": str(run.export), "llm.local.param_dtype": "float32",
        "llm.temperature": 0.0, "llm.max_output_tokens": 12, "llm.max_concurrency": 8,
        "llm.timeout_s": 0.001})  # local requests are untimed
    summary = generate(config)
    assert summary.status == "complete", summary
    records = list(read_records(config.corpus().records))
    assert len(records) == 20 and {r["kind"] for r in records} == {"rephrase"}

    # reference: the sampler alone, one prompt at a time, greedy
    tokenizer = load_tokenizer(run.tokenizer.path)
    template, sampler = chat_template(tokenizer), Sampler(from_pretrained_hf(run.export), tokenizer)
    stop_tokens, stop_strings = template.stop()
    docs = {d.doc_id: d for d in load_source("sample")}
    expected = {}
    for request in rephrase_requests(list(docs.values()), config):
        system, prompt = messages(request, docs[request.doc_id], config.prompt_version)
        ids = template.prompt([{"role": "system", "content": system}, {"role": "user", "content": prompt}])
        sample = sampler.generate([ids], SamplingParams(max_new_tokens=12, temperature=0, stop=stop_strings,
                                                        stop_tokens=stop_tokens))[0][0]
        expected[request.request_id] = sample.text.strip()
    same = sum(r["text"] == expected[r["request_id"]] for r in records)
    assert same >= 18, f"{same}/20 equal to unbatched greedy decoding"  # batching may flip a near-tie
