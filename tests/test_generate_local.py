"""The `local` backend: our own model and sampler generate the synthetic corpus."""

from pathlib import Path

from entigraph_jax.config import apply_override, load_config_file
from entigraph_jax.data import load_source, load_tokenizer, read_records
from entigraph_jax.data.chat import chat_template
from entigraph_jax.generate.plan import PlanSettings, messages, rephrase_requests
from entigraph_jax.generate.run import generate
from entigraph_jax.models import from_pretrained_hf
from entigraph_jax.models.sampling import Sampler, SamplingParams

ROOT = Path(__file__).parent.parent


def test_local_backend_generates_what_the_sampler_does(quickstart_run, tmp_path):
    run = quickstart_run
    tokenizer_path = run / "tokenizer" / "sp.model"
    config = load_config_file(ROOT / "configs" / "entigraph_sample.py")
    for key, value in {"method": "rephrase", "rephrase.styles": "('easy', 'qa')", "output_dir": tmp_path / "out",
                       "llm.backend": "local", "llm.model": run / "hf", "llm.tokenizer": tokenizer_path,
                       "llm.local_dtype": "float32", "llm.temperature": 0.0, "llm.max_output_tokens": 12,
                       "llm.max_concurrency": 8, "llm.timeout_s": 0.001}.items():  # local requests are untimed
        apply_override(config, key, str(value))
    summary = generate(config)
    assert summary.status == "complete", summary
    records = list(read_records(tmp_path / "out" / "records"))
    assert len(records) == 20 and {r["kind"] for r in records} == {"rephrase"}

    # reference: the sampler alone, one prompt at a time, greedy
    tokenizer = load_tokenizer(tokenizer_path)
    template, sampler = chat_template(tokenizer), Sampler(from_pretrained_hf(run / "hf"), tokenizer)
    stop_tokens, stop_strings = template.stop()
    docs = {d.doc_id: d for d in load_source("sample")}
    settings = PlanSettings(model=str(run / "hf"), rephrase_styles=("easy", "qa"))
    expected = {}
    for request in rephrase_requests(list(docs.values()), settings):
        system, prompt = messages(request, docs[request.doc_id], config.prompt_version)
        ids = template.prompt([{"role": "system", "content": system}, {"role": "user", "content": prompt}])
        sample = sampler.generate([ids], SamplingParams(max_new_tokens=12, temperature=0, stop=stop_strings,
                                                        stop_tokens=stop_tokens))[0][0]
        expected[request.request_id] = sample.text.strip()
    same = sum(r["text"] == expected[r["request_id"]] for r in records)
    assert same >= 18, f"{same}/20 equal to unbatched greedy decoding"  # batching may flip a near-tie
