"""Hugging Face checkpoints <-> our Llama: `config.json` plus `*.safetensors`, no torch, no pickle.

Import reads each tensor straight into its sharding: `jax.make_array_from_callback` asks for the
slice each device holds, and only that slice is read from the (memory-mapped) safetensors file, so
a checkpoint never has to fit on one host. Export writes the layout transformers writes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh, SingleDeviceSharding
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from entigraph_jax.data import Tokenizer, load_tokenizer
from entigraph_jax.data.chat import ChatError, chat_template
from entigraph_jax.outputs import staged

from .hub import CheckpointError, resolve
from .llama import Llama, LlamaConfig, RopeScaling
from .sharding import ShardingRules, param_sharding

# Our parameter -> (Hugging Face tensor name, layout). Layouts say how our array relates to theirs:
#   same:      identical.
#   linear:    theirs is torch's [out, in]; ours is [in, out].
#   heads_in:  theirs [heads * head_dim, embed]; ours [embed, heads, head_dim].
#   heads_out: theirs [embed, heads * head_dim]; ours [heads, head_dim, embed].
#   bias_heads: theirs [heads * head_dim]; ours [heads, head_dim].
LAYER_TENSORS = {
    "attn_norm": ("model.layers.{i}.input_layernorm.weight", "same"),
    "q": ("model.layers.{i}.self_attn.q_proj.weight", "heads_in"),
    "k": ("model.layers.{i}.self_attn.k_proj.weight", "heads_in"),
    "v": ("model.layers.{i}.self_attn.v_proj.weight", "heads_in"),
    "o": ("model.layers.{i}.self_attn.o_proj.weight", "heads_out"),
    "mlp_norm": ("model.layers.{i}.post_attention_layernorm.weight", "same"),
    "gate": ("model.layers.{i}.mlp.gate_proj.weight", "linear"),
    "up": ("model.layers.{i}.mlp.up_proj.weight", "linear"),
    "down": ("model.layers.{i}.mlp.down_proj.weight", "linear"),
    "q_bias": ("model.layers.{i}.self_attn.q_proj.bias", "bias_heads"),  # Qwen 2
    "k_bias": ("model.layers.{i}.self_attn.k_proj.bias", "bias_heads"),
    "v_bias": ("model.layers.{i}.self_attn.v_proj.bias", "bias_heads"),
    "q_norm": ("model.layers.{i}.self_attn.q_norm.weight", "same"),  # Qwen 3
    "k_norm": ("model.layers.{i}.self_attn.k_norm.weight", "same"),
}
ARCHITECTURES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
                 "qwen3": "Qwen3ForCausalLM", "gemma2": "Gemma2ForCausalLM", "gemma3_text": "Gemma3ForCausalLM"}
GEMMA_NORMS = {  # a Gemma layer has a norm before and after each of attention and MLP
    "mlp_norm": ("model.layers.{i}.pre_feedforward_layernorm.weight", "same"),
    "post_attn_norm": ("model.layers.{i}.post_attention_layernorm.weight", "same"),
    "post_mlp_norm": ("model.layers.{i}.post_feedforward_layernorm.weight", "same"),
}


def layer_tensors(cfg: LlamaConfig) -> dict[str, tuple[str, str]]:
    """LAYER_TENSORS for the config's family (Gemma names its norms differently)."""
    return LAYER_TENSORS | GEMMA_NORMS if cfg.gemma else LAYER_TENSORS
TOP_TENSORS = {
    "embed": ("model.embed_tokens.weight", "same"),
    "final_norm": ("model.norm.weight", "same"),
    "lm_head": ("lm_head.weight", "linear"),
}


def to_hf_layout(ours: np.ndarray, layout: str) -> np.ndarray:
    if layout == "linear":
        return ours.T
    if layout == "heads_in":
        return ours.reshape(ours.shape[0], -1).T
    if layout == "heads_out":
        return ours.reshape(-1, ours.shape[-1]).T
    if layout == "bias_heads":
        return ours.reshape(-1)
    return ours


def hf_shape(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    return to_hf_layout(np.empty(shape, np.int8), layout).shape


def read_slice(tensor, layout: str, index: tuple[slice, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Our-layout slice `index` of a safetensors tensor, reading only the rows and columns it needs."""
    ranges = [range(*s.indices(n)) for s, n in zip(index, shape, strict=True)]
    if layout == "same":
        return tensor[index]
    if layout == "linear":
        return tensor[index[1], index[0]].T
    if layout == "bias_heads":  # ours (heads, head_dim)
        heads = ranges[0]
        block = tensor[heads.start * shape[1] : heads.stop * shape[1]].reshape(len(heads), shape[1])
        return block[:, index[1]]
    if layout == "heads_in":  # ours (embed, heads, head_dim)
        embed, heads, head_dim = ranges
        rows = slice(heads.start * shape[2], heads.stop * shape[2])
        block = tensor[rows, index[0]].reshape(len(heads), shape[2], len(embed))
        return block.transpose(2, 0, 1)[:, :, index[2]]
    heads, head_dim, embed = ranges  # heads_out: ours (heads, head_dim, embed)
    cols = slice(heads.start * shape[1], heads.stop * shape[1])
    block = tensor[index[2], cols].reshape(len(embed), len(heads), shape[1])
    return block.transpose(1, 2, 0)[:, index[1], :]


def config_from_hf(path: str | os.PathLike, **runtime) -> LlamaConfig:
    """A LlamaConfig from a Hugging Face config.json (legacy rope keys and transformers 5's
    `rope_parameters` both), with runtime fields (dtypes, remat) from `runtime`."""
    file = resolve(path) / "config.json"
    if not file.is_file():
        raise CheckpointError(f"{file}: no config.json in the checkpoint folder")
    try:
        hf = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{file}: not valid JSON ({e})") from e
    family = hf.get("model_type")
    if family not in ARCHITECTURES:
        raise CheckpointError(
            f"{file}: unsupported architecture model_type={family!r} "
            f"({hf.get('architectures')}); supported: {', '.join(ARCHITECTURES)}"
        )
    gemma = family.startswith("gemma")
    activation = ("hidden_activation", "gelu_pytorch_tanh") if gemma else ("hidden_act", "silu")
    for key, ok in (activation, ("mlp_bias", False)) + ((("attention_bias", False),) if family in (
            "llama", "mistral", "gemma2", "gemma3_text") else ()):
        if hf.get(key, ok) != ok:
            raise CheckpointError(f"{file}: unsupported {key}={hf[key]!r} (supported: {ok!r})")
    rope = dict(hf.get("rope_parameters") or hf.get("rope_scaling") or {})
    local_theta = hf.get("rope_local_base_freq", 0.0) if family == "gemma3_text" else 0.0
    if "full_attention" in rope:  # per layer type (Gemma 3 in transformers 5)
        local_theta = (rope.get("sliding_attention") or {}).get("rope_theta", local_theta)
        rope = dict(rope["full_attention"] or {})
    rope_theta = rope.pop("rope_theta", hf.get("rope_theta", 10000.0))
    rope_type = rope.pop("rope_type", rope.pop("type", "default"))
    scaling = None
    if rope_type != "default":
        fields = {f.name for f in dataclasses.fields(RopeScaling)}
        scaling = RopeScaling(rope_type=rope_type, **{k: v for k, v in rope.items() if k in fields})
    heads = hf["num_attention_heads"]
    layer_types = _layer_types(hf)
    try:
        return LlamaConfig(
            vocab_size=hf["vocab_size"],
            hidden_size=hf["hidden_size"],
            intermediate_size=hf["intermediate_size"],
            num_layers=hf["num_hidden_layers"],
            num_heads=heads,
            num_kv_heads=hf.get("num_key_value_heads") or heads,
            head_dim=hf.get("head_dim") or hf["hidden_size"] // heads,
            rms_norm_eps=hf.get("rms_norm_eps", 1e-5),
            rope_theta=rope_theta,
            rope_scaling=scaling,
            tie_word_embeddings=hf.get("tie_word_embeddings", False),
            max_position_embeddings=hf.get("max_position_embeddings", 4096),
            bos_token_id=hf.get("bos_token_id"),
            eos_token_id=hf.get("eos_token_id"),
            model_type=family,
            attention_bias=family == "qwen2" or bool(family == "qwen3" and hf.get("attention_bias")),
            qk_norm=family in ("qwen3", "gemma3_text"),
            gemma=gemma,
            query_pre_attn_scalar=hf.get("query_pre_attn_scalar") or 0.0 if gemma else 0.0,
            attn_softcap=hf.get("attn_logit_softcapping") or 0.0,
            final_softcap=hf.get("final_logit_softcapping") or 0.0,
            local_rope_theta=local_theta or 0.0,
            sliding_window=(hf.get("sliding_window") or 0) if "sliding_attention" in layer_types else 0,
            layer_types=layer_types,
            **runtime,
        )
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{file}: {e}") from e


def _layer_types(hf: dict) -> tuple[str, ...]:
    """Which layers attend within a sliding window: the config's `layer_types` (transformers 5),
    else Mistral's rule (every layer, when `sliding_window` is set) or Qwen's (`use_sliding_window`
    from layer `max_window_layers` on)."""
    if hf.get("layer_types"):
        return tuple(hf["layer_types"])
    n = hf["num_hidden_layers"]
    if hf.get("model_type") == "mistral" and hf.get("sliding_window"):
        return ("sliding_attention",) * n
    if hf.get("model_type") == "gemma2":  # before transformers 5: every other layer, from the first
        return tuple("sliding_attention" if i % 2 == 0 else "full_attention" for i in range(n))
    if hf.get("model_type") == "gemma3_text":
        pattern = hf.get("sliding_window_pattern", 6)
        return tuple("sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(n))
    if hf.get("use_sliding_window") and hf.get("sliding_window"):
        start = hf.get("max_window_layers", n)
        return tuple("sliding_attention" if i >= start else "full_attention" for i in range(n))
    return ()


def config_to_hf(cfg: LlamaConfig, dtype: str) -> dict:
    """The config.json transformers (v4 and v5) and vLLM read for this architecture."""
    rope = {"rope_type": "default", "rope_theta": cfg.rope_theta}
    if cfg.rope_scaling:
        rope.update(dataclasses.asdict(cfg.rope_scaling))
    sliding = "sliding_attention" in cfg.layer_types
    family = {}
    if cfg.model_type == "mistral":
        family = {"sliding_window": cfg.sliding_window or None}
    elif cfg.model_type in ("qwen2", "qwen3"):
        family = {"use_sliding_window": sliding, "sliding_window": cfg.sliding_window or None,
                  "layer_types": list(cfg.layer_types or ("full_attention",) * cfg.num_layers)}
    elif cfg.gemma:
        family = {"hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": cfg.query_pre_attn_scalar or None,
                  "attn_logit_softcapping": cfg.attn_softcap or None,
                  "final_logit_softcapping": cfg.final_softcap or None, "sliding_window": cfg.sliding_window or None,
                  "layer_types": list(cfg.layer_types or ("full_attention",) * cfg.num_layers)}
    return family | {
        "architectures": [ARCHITECTURES[cfg.model_type]],
        "model_type": cfg.model_type,
        "hidden_act": "silu",
        "attention_bias": cfg.attention_bias,
        "mlp_bias": False,
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "num_key_value_heads": cfg.num_kv_heads,
        "head_dim": cfg.head_dim,
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_scaling": rope if cfg.rope_scaling else None,
        "rope_parameters": {"full_attention": rope, "sliding_attention": {
            "rope_type": "default", "rope_theta": cfg.local_rope_theta}} if cfg.local_rope_theta else rope,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        "max_position_embeddings": cfg.max_position_embeddings,
        "bos_token_id": cfg.bos_token_id,
        "eos_token_id": cfg.eos_token_id,
        "torch_dtype": dtype,
        "dtype": dtype,
    }


class SafetensorsFolder:
    """The tensors of a checkpoint folder, by name, across one file or an index of shards."""

    def __init__(self, path: Path):
        self.path = path
        self._handles = {}
        index = path / "model.safetensors.index.json"
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
                shards = {Path(f) for f in weight_map.values()}
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
                raise CheckpointError(f"{index}: not a safetensors index ({e!r})") from e
            outside = sorted(str(f) for f in shards if f.is_absolute() or ".." in f.parts)
            if outside:
                raise CheckpointError(f"{index}: names shards outside the checkpoint folder ({', '.join(outside[:3])})")
            self.files = {name: path / file for name, file in weight_map.items()}
            return
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise CheckpointError(f"{path}: no *.safetensors files in the checkpoint folder")
        self.files = {name: file for file in files for name in self._handle(file).keys()}

    def _handle(self, file: Path):
        if file not in self._handles:
            if not file.is_file():
                raise CheckpointError(f"{file}: listed in the index but not found")
            try:
                self._handles[file] = safe_open(file, framework="flax")
            except (SafetensorError, OSError) as e:
                raise CheckpointError(f"{file}: not a readable safetensors file ({e})") from e
        return self._handles[file]

    def get(self, name: str, expected_shape: tuple[int, ...]):
        """A lazily sliceable tensor, after checking it exists and has the expected shape. A base model
        saved without its LM head (an embedding checkpoint: `embed_tokens.weight`, `layers.0...`) names its
        tensors without the `model.` prefix."""
        if name not in self.files and name.startswith("model.") and name[len("model."):] in self.files:
            name = name[len("model."):]
        if name not in self.files:
            raise CheckpointError(f"{self.path}: tensor {name!r} is missing from the checkpoint")
        file = self.files[name]
        tensor = self._handle(file).get_slice(name)
        if tuple(tensor.get_shape()) != tuple(expected_shape):
            raise CheckpointError(
                f"{file}: tensor {name!r} has shape {tuple(tensor.get_shape())}, "
                f"expected {tuple(expected_shape)}"
            )
        return tensor


def from_pretrained_hf(
    path: str | os.PathLike,
    dtype: str = "float32",
    *,
    mesh: Mesh | None = None,
    rules: ShardingRules = ShardingRules(),
    compute_dtype: str | None = None,
    remat: str = "none",
) -> Llama:
    """Load a Hugging Face Llama folder (or Hub name, `org/name`) as our NNX module, in `dtype`,
    sharded over `mesh` if given."""
    path = resolve(path)
    cfg = config_from_hf(path, param_dtype=dtype, dtype=compute_dtype or dtype, remat=remat)
    graphdef, abstract = nnx.split(nnx.eval_shape(lambda: Llama(cfg, rngs=nnx.Rngs(0))))
    tensors = SafetensorsFolder(path)
    cpu = jax.local_devices(backend="cpu")[0]  # safetensors yields jax arrays; keep them on this host

    def load(key_path, var):
        name = key_path[-1]
        sharding = param_sharding(var, mesh, rules) if mesh else SingleDeviceSharding(jax.devices()[0])
        shape, target = var.get_value().shape, jnp.dtype(dtype)
        if key_path[0] == "layers":
            template, layout = layer_tensors(cfg)[name]
            per_layer = [
                tensors.get(template.format(i=i), hf_shape(shape[1:], layout))
                for i in range(cfg.num_layers)
            ]

            def callback(index):
                rows = [read_slice(per_layer[i], layout, index[1:], shape[1:])
                        for i in range(*index[0].indices(shape[0]))]
                return np.stack([np.asarray(r) for r in rows]).astype(target)
        else:
            hf_name, layout = TOP_TENSORS[name]
            tensor = tensors.get(hf_name, hf_shape(shape, layout))

            def callback(index):
                return np.asarray(read_slice(tensor, layout, index, shape)).astype(target)

        with jax.default_device(cpu):
            return var.replace(jax.make_array_from_callback(shape, sharding, callback))

    state = nnx.from_flat_state([(key, load(key, var)) for key, var in nnx.to_flat_state(abstract)])
    return nnx.merge(graphdef, state)


def hf_tensors(model: Llama, dtype: str | None = None) -> dict[str, np.ndarray]:
    """Every parameter as a host numpy array, named and laid out as Hugging Face does.

    Sharded arrays are gathered from every process, so each process gets the whole tensor."""
    out = {}
    for key_path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        name = key_path[-1]
        array = np.asarray(multihost_utils.process_allgather(var[...], tiled=True))
        if dtype is not None:
            array = array.astype(jnp.dtype(dtype))
        if key_path[0] == "layers":
            template, layout = layer_tensors(model.config)[name]
            for i, layer in enumerate(array):
                out[template.format(i=i)] = np.ascontiguousarray(to_hf_layout(layer, layout))
        else:
            hf_name, layout = TOP_TENSORS[name]
            out[hf_name] = np.ascontiguousarray(to_hf_layout(array, layout))
    return out


def refuse_non_empty(path: Path) -> None:
    """Writers of checkpoint folders never overwrite: the folder must not exist or be empty."""
    if path.exists() and any(path.iterdir()):
        raise CheckpointError(f"{path}: exists and is not empty; refusing to overwrite it")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "tokenizer.model")


def copy_tokenizer(source: str | os.PathLike, folder: Path) -> None:
    """The tokenizer files of `source` (a tokenizer file, or the folder holding it) into `folder`, so
    transformers and vLLM load the exported folder alone; a lone SentencePiece file as tokenizer.model."""
    source, folder = Path(source), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if source.is_file() and source.suffix == ".model":
        shutil.copy(source, folder / "tokenizer.model")
        return
    root = source if source.is_dir() else source.parent
    for name in TOKENIZER_FILES:
        if (root / name).is_file() and not (source.is_file() and name.startswith("tokenizer.")):
            shutil.copy(root / name, folder / name)
    if source.is_file():  # a tokenizer.json by any name
        shutil.copy(source, folder / "tokenizer.json")


def generation_config(tokenizer: Tokenizer) -> dict:
    """generation_config.json for an export: its BOS, and as EOS every token that ends an assistant turn
    under the tokenizer's chat template (`<|eot_id|>`, `<|im_end|>`, ...) besides EOS, so vLLM and
    transformers' `generate` stop where our sampler does; sampling at our chat's defaults (0.7, 0.9)."""
    try:
        stops = list(chat_template(tokenizer).stop()[0])
    except ChatError:  # no chat tokens and no EOS: nothing to stop on
        stops = []
    config = {"do_sample": True, "temperature": 0.7, "top_p": 0.9}
    if tokenizer.bos_id is not None:
        config["bos_token_id"] = tokenizer.bos_id
    if stops:
        config["eos_token_id"] = stops if len(stops) > 1 else stops[0]
    return config


def save_pretrained_hf(
    model: Llama, path: str | os.PathLike, *, dtype: str | None = None, max_shard_bytes: int = 5 << 30,
    tokenizer: str | os.PathLike | None = None,
) -> Path:
    """Write `config.json` and safetensors (sharded with an index past `max_shard_bytes`), and the
    files of `tokenizer` (a tokenizer file or folder) beside them with a generation_config.json that
    stops at the chat template's end of turn.

    The folder must not exist or be empty: nothing already there is overwritten. Files are written
    to a temporary folder beside it and moved into place at the end. With several processes every
    one must call this (the tensors are gathered collectively) and process 0 writes.
    """
    path = Path(path)
    refuse_non_empty(path)
    tensors = hf_tensors(model, dtype)
    if jax.process_index() != 0:
        return path
    dtype = dtype or str(next(iter(tensors.values())).dtype)
    shards, current, size = [], {}, 0
    for name in sorted(tensors):
        if current and size + tensors[name].nbytes > max_shard_bytes:
            shards.append(current)
            current, size = {}, 0
        current[name] = tensors[name]
        size += tensors[name].nbytes
    shards.append(current)

    with staged(path) as tmp:
        (tmp / "config.json").write_text(json.dumps(config_to_hf(model.config, dtype), indent=2))
        if len(shards) == 1:
            save_file(shards[0], tmp / "model.safetensors", metadata={"format": "pt"})
        else:
            weight_map = {}
            for i, shard in enumerate(shards, 1):
                file = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
                save_file(shard, tmp / file, metadata={"format": "pt"})
                weight_map.update(dict.fromkeys(shard, file))
            total = sum(t.nbytes for t in tensors.values())
            index = {"metadata": {"total_size": total}, "weight_map": weight_map}
            (tmp / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
        if tokenizer is not None:
            copy_tokenizer(tokenizer, tmp)
            (tmp / "generation_config.json").write_text(json.dumps(generation_config(load_tokenizer(tmp)), indent=2))
    return path
