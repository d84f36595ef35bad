"""Chat records: the Llama 3.1 template against transformers, assistant-only loss, the chat command."""

import io
import json
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from entigraph_jax import cli
from entigraph_jax.config import load_config_file
from entigraph_jax.data import PackedRows, build_token_cache, load_source, load_tokenizer, subsample
from entigraph_jax.data.chat import ChatError, chat_template
from entigraph_jax.models import Llama, LlamaConfig, save_pretrained_hf
from entigraph_jax.models import __main__ as models_main
from entigraph_jax.train import TrainSettings, train
from entigraph_jax.train.step import loss_sums
from tests.helpers import ROOT
from tests.helpers.tokenizers import build_bpe_tokenizer

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
# Llama 3.1's chat template without its date and tool preamble
LLAMA3_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
                   "{{ m['content'] }}<|eot_id|>{% endfor %}"
                   "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}")
CONVERSATION = [{"role": "system", "content": "You know Quarrowmere."},
                {"role": "user", "content": "Which bell still holds salt?"},
                {"role": "assistant", "content": "The Gull, rung every March."},
                {"role": "user", "content": "Who cast it?"},
                {"role": "assistant", "content": "Hesper Dunmoyle's foundry."}]


@pytest.fixture(scope="module")
def llama3_tokenizer(tmp_path_factory):
    return build_bpe_tokenizer(tmp_path_factory.mktemp("llama3tok"), SPECIALS, 500).parent


@pytest.mark.torch
def test_llama3_template_matches_transformers(llama3_tokenizer):
    import transformers

    tok = load_tokenizer(llama3_tokenizer)
    template = chat_template(tok)
    assert template.name == "llama3"
    reference = transformers.PreTrainedTokenizerFast(tokenizer_file=str(llama3_tokenizer / "tokenizer.json"),
                                                     bos_token=SPECIALS[0], eos_token=SPECIALS[1],
                                                     chat_template=LLAMA3_TEMPLATE)
    ids, mask = template.encode(CONVERSATION)
    assert ids == reference.apply_chat_template(CONVERSATION, tokenize=True, return_dict=False)
    prompt = template.prompt(CONVERSATION[:4])
    assert prompt == reference.apply_chat_template(CONVERSATION[:4], tokenize=True, add_generation_prompt=True,
                                                   return_dict=False)
    learned = tok.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert learned == "The Gull, rung every March.<|eot_id|>Hesper Dunmoyle's foundry.<|eot_id|>"


# The chat templates of the families people bring, as their tokenizer_config.json files write them
# (tool and multimodal branches left out); each is rendered by us and by transformers.
CHATML = ("{%- if messages[0]['role'] == 'system' %}"
          "{{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}{%- else %}"
          "{{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.<|im_end|>\n' }}{%- endif %}\n"
          "{%- for message in messages %}{%- if message.role != 'system' or not loop.first %}"
          "{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}"
          "{%- endif %}{%- endfor %}\n"
          "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}\n")
CHATML_GENERATION = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' }}"
                     "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + '<|im_end|>' }}"
                     "{% endgeneration %}{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}{{ '\n' }}"
                     "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
GEMMA = ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
         "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
         "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
         "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
         "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
         "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}")
MISTRAL = ("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
           "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
           "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
           "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
           "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}")
LLAMA31 = ("{{- bos_token }}\n{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}\n"
           "{%- endif %}\n{%- if messages[0]['role'] == 'system' %}\n"
           "    {%- set system_message = messages[0]['content']|trim %}\n    {%- set messages = messages[1:] %}\n"
           "{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n"
           "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
           "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
           "{{- system_message }}\n{{- \"<|eot_id|>\" }}\n{%- for message in messages %}\n"
           "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim"
           " + '<|eot_id|>' }}\n{%- endfor %}\n{%- if add_generation_prompt %}\n"
           "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n")
NO_SYSTEM = CONVERSATION[1:]
FAMILIES = {  # name: (special tokens, BOS by the post-processor, template, conversation, what the assistant learns)
    "chatml": (["<|im_start|>", "<|im_end|>"], False, CHATML, CONVERSATION,
               "The Gull, rung every March.<|im_end|>Hesper Dunmoyle's foundry.<|im_end|>"),
    "chatml_generation": (["<|im_start|>", "<|im_end|>"], False, CHATML_GENERATION, CONVERSATION,
                          "The Gull, rung every March.<|im_end|>Hesper Dunmoyle's foundry.<|im_end|>"),
    "gemma": (["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"], True, GEMMA, NO_SYSTEM,
              "The Gull, rung every March.<end_of_turn>Hesper Dunmoyle's foundry.<end_of_turn>"),
    "mistral": (["<s>", "</s>", "[INST]", "[/INST]"], True, MISTRAL, NO_SYSTEM,
                "The Gull, rung every March.</s>Hesper Dunmoyle's foundry.</s>"),
    "llama3.1": (SPECIALS, True, LLAMA31, CONVERSATION,
                 "The Gull, rung every March.<|eot_id|>Hesper Dunmoyle's foundry.<|eot_id|>"),
}


@pytest.mark.torch
@pytest.mark.parametrize("family", FAMILIES)
def test_tokenizer_chat_template_matches_transformers(family, tmp_path):
    import transformers

    specials, add_bos, template_text, conversation, learned_text = FAMILIES[family]
    json_file = build_bpe_tokenizer(tmp_path, specials, 500, add_bos=add_bos, chat_template=template_text)
    tok = load_tokenizer(tmp_path)
    template = chat_template(tok)
    assert template.name == "jinja" and tok.add_bos == add_bos
    reference = transformers.PreTrainedTokenizerFast(tokenizer_file=str(json_file), bos_token=specials[0],
                                                     eos_token=specials[1], chat_template=template_text)
    ids, mask = template.encode(conversation)
    assert ids == reference.apply_chat_template(conversation, tokenize=True, return_dict=False)
    assert template.prompt(conversation[:-1]) == reference.apply_chat_template(
        conversation[:-1], tokenize=True, add_generation_prompt=True, return_dict=False)
    assert tok.decode([i for i, m in zip(ids, mask, strict=True) if m]) == learned_text
    if family == "chatml_generation":  # transformers' own assistant mask agrees where the template marks it
        marked = reference.apply_chat_template(conversation, tokenize=True, return_dict=True,
                                               return_assistant_tokens_mask=True)["assistant_masks"]
        assert mask == list(marked)
    end = learned_text.split(".")[-1]
    assert template.stop()[0][0] == tok.token_id(end)
    assert reference.encode("Hi", add_special_tokens=True) == tok.bos() + tok.encode("Hi")


def test_chat_template_errors_are_one_line(tmp_path):
    build_bpe_tokenizer(tmp_path, FAMILIES["gemma"][0], 500, chat_template=GEMMA)
    template = chat_template(load_tokenizer(tmp_path))
    with pytest.raises(ChatError, match="the chat template refused the conversation: System role not supported"):
        template.encode(CONVERSATION)


@pytest.mark.parametrize("source, why", [
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     "its loops ran past 100000 steps of range()"),
    ("{% include 'secrets.txt' %}", "secrets.txt"),
    ("{% import 'macros.j2' as m %}", "macros.j2"),
])
def test_a_chat_template_that_loops_or_reads_files_is_one_line(tmp_path, source, why):
    build_bpe_tokenizer(tmp_path, FAMILIES["gemma"][0], 500, chat_template=source)
    template = chat_template(load_tokenizer(tmp_path))
    with pytest.raises(ChatError, match=rf"the chat template refused the conversation: .*{re.escape(why)}"):
        template.encode(CONVERSATION)


def test_chat_template_file_beside_the_tokenizer(tmp_path):
    build_bpe_tokenizer(tmp_path, ["<|im_start|>", "<|im_end|>"], 500, add_bos=False)
    (tmp_path / "chat_template.jinja").write_text(CHATML)
    tok = load_tokenizer(tmp_path)
    assert tok.chat_template == CHATML and tok.bos() == []
    assert load_tokenizer(tmp_path, add_bos="always").bos() == [tok.bos_id]


def chat_corpus(tmp_path):
    """Chat records from the sample corpus's questions: the user asks, the assistant answers."""
    lines = []
    for doc in load_source("sample"):
        for q in doc.questions:
            lines.append({"messages": [{"role": "user", "content": f"In {doc.title}: {q.question}"},
                                       {"role": "assistant", "content": q.options[q.gold_label - 1]}]})
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_packed_chat_rows_train_on_assistant_turns_only(llama3_tokenizer, tmp_path):
    tok = load_tokenizer(llama3_tokenizer)
    docs = load_source(f"jsonl:{chat_corpus(tmp_path)}")
    cache = build_token_cache(docs, tok, tmp_path / "cache")
    rows = PackedRows(cache, subsample(cache, 0), 64, mask_documents=True)
    template, order = chat_template(tok), subsample(cache, 0)
    stream_mask = np.concatenate([template.encode(docs[i].messages)[1] for i in order])
    learned = np.concatenate([rows[i]["loss_mask"] for i in range(len(rows))])
    np.testing.assert_array_equal(learned, stream_mask[1 : len(learned) + 1])
    assert 0 < learned.mean() < 0.5
    everything = PackedRows(cache, order, 64, mask_documents=True, loss_on_all=True)  # the paper's instruct loss
    assert all(everything[i]["loss_mask"].all() for i in range(len(everything)))
    np.testing.assert_array_equal(everything[3]["targets"], rows[3]["targets"])

    cfg = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2,
                      num_kv_heads=1, head_dim=16, dtype="float32")
    graphdef, params = nnx.split(Llama(cfg, rngs=nnx.Rngs(0)))
    batch = {k: jnp.asarray(np.stack([rows[i][k] for i in range(4)])) for k in rows[0]}
    loss = jax.jit(lambda b: loss_sums(graphdef, params, b, 0.0))
    base = loss(batch)
    not_learned = batch["loss_mask"] == 0
    scrambled = dict(batch, targets=jnp.where(not_learned, (batch["targets"] + 7) % tok.vocab_size, batch["targets"]))
    np.testing.assert_array_equal(np.asarray(loss(scrambled)), np.asarray(base))  # user turns do not count
    changed = dict(batch, targets=jnp.where(not_learned, batch["targets"], (batch["targets"] + 7) % tok.vocab_size))
    assert float(loss(changed)[0]) != float(base[0])


def test_chat_command(tmp_path, capsys, monkeypatch):
    config = TrainSettings.from_config(load_config_file(ROOT / "configs/quickstart.py"))
    run = train(config.override({"workdir": str(tmp_path / "run"), "data.source": f"jsonl:{chat_corpus(tmp_path)}",
                                 "data.epochs": 2, "log.tensorboard": False}))
    def answers(*flags):
        monkeypatch.setattr(sys, "stdin", io.StringIO("Which bell still holds salt?\nWho cast it?\n\n"))
        capsys.readouterr()
        assert cli.main(models_main.COMMANDS, ["chat", "--checkpoint", str(run.export), "--config.max_new_tokens=12",
                                               "--system", "Answer briefly.", *flags]) == 0  # the export's tokenizer
        out, err = capsys.readouterr()
        assert out.endswith("\n\n") and out.count("\n\n") >= 2, out  # a blank line after each answer
        return out, err.splitlines()[0]

    own = run.export / "generation_config.json"  # the export's: our chat's defaults, its turns' stop tokens
    assert answers()[1] == f"temperature 0.7, top_p 0.9 ({own} where not set)"
    own.unlink()
    assert answers()[1] == "temperature 0.7, top_p 0.9 (the settings)"
    (run.export / "generation_config.json").write_text(json.dumps({"do_sample": False, "bos_token_id": 1}))
    greedy = answers()
    assert greedy[1] == f"temperature 0 (greedy), top_p 1 ({run.export / 'generation_config.json'} where not set)"
    assert answers("--config.seed=5") == greedy  # greedy: the seed changes nothing
    assert answers("--config.temperature=0.7")[1].startswith("temperature 0.7, top_p 1 (")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert cli.main(models_main.COMMANDS, ["chat", "--checkpoint", str(tmp_path / "none"),
                                           "--tokenizer", run.tokenizer.path]) == 1
    assert capsys.readouterr().err.startswith("models chat: error:")
    assert cli.main(models_main.COMMANDS, ["chat", "--checkpoint", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err == (f"models chat: error: {tmp_path / 'none'}: not a checkpoint "
                                       "(no such folder)\n")


@pytest.mark.torch
def test_the_local_backend_folds_a_system_text_into_the_user_turn_where_the_template_has_no_system(tmp_path):
    import transformers

    from entigraph_jax.llm.local import LocalBackend

    json_file = build_bpe_tokenizer(tmp_path, FAMILIES["gemma"][0], 500, chat_template=GEMMA)
    backend = LocalBackend.__new__(LocalBackend)  # only its template: no model needed
    backend.template = chat_template(load_tokenizer(tmp_path))
    reference = transformers.PreTrainedTokenizerFast(tokenizer_file=str(json_file), bos_token="<bos>",
                                                     eos_token="<eos>", chat_template=GEMMA)
    expected = reference.apply_chat_template([{"role": "user", "content": "Be brief.\n\nWhich bell?"}],
                                             tokenize=True, add_generation_prompt=True, return_dict=False)
    assert backend.prompt("Be brief.", "Which bell?") == expected


@pytest.mark.torch
def test_an_export_stops_where_its_chat_template_ends_a_turn(tmp_path):
    """generation_config.json as transformers reads it: EOS is the template's end of turn and EOS itself."""
    import transformers

    specials, add_bos, template_text, _, _ = FAMILIES["llama3.1"]
    (tmp_path / "tok").mkdir()
    build_bpe_tokenizer(tmp_path / "tok", specials, 500, add_bos=add_bos, chat_template=template_text)
    tok = load_tokenizer(tmp_path / "tok")
    model = Llama(LlamaConfig(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=64, num_layers=1,
                              num_heads=2, num_kv_heads=1, head_dim=16, dtype="float32"), rngs=nnx.Rngs(0))
    save_pretrained_hf(model, tmp_path / "export", tokenizer=tmp_path / "tok")
    config = transformers.GenerationConfig.from_pretrained(tmp_path / "export")
    assert config.eos_token_id == [tok.token_id("<|eot_id|>"), tok.token_id("<|end_of_text|>")]
    assert config.bos_token_id == tok.token_id("<|begin_of_text|>") and config.do_sample
