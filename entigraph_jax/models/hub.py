"""Checkpoints by Hugging Face Hub name: `org/name` resolves through `huggingface_hub.snapshot_download`
(weights, config and tokenizer files only; the user's cache is used and filled), local folders as they are.

Offline (`HF_HUB_OFFLINE=1`, or no network) a name loads if it is in the cache, otherwise it is one
clear error. Gated models need a token (`HF_TOKEN` or `hf auth login`), which never leaves huggingface_hub.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from entigraph_jax.errors import UserError


class CheckpointError(UserError):
    """A checkpoint folder that cannot be read as a supported model, or one that must not be overwritten."""


HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
WANTED = ["config.json", "generation_config.json", "*.safetensors", "model.safetensors.index.json",
          "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
          "tokenizer.model"]


def resolve(path: str | os.PathLike) -> Path:
    """A local folder or file as it is; an `org/name` that is not a local path, from the Hub (cache first)."""
    local = Path(path)
    if local.exists() or not HUB_NAME.match(str(path)):
        return local
    import huggingface_hub
    from huggingface_hub import errors

    try:
        return Path(huggingface_hub.snapshot_download(str(path), allow_patterns=WANTED))
    except errors.LocalEntryNotFoundError as e:
        raise CheckpointError(f"{path}: not a local folder, not in the Hugging Face cache "
                              f"({huggingface_hub.constants.HF_HUB_CACHE}), and the Hub cannot be reached "
                              "(offline?)") from e
    except (errors.RepositoryNotFoundError, errors.GatedRepoError, errors.RevisionNotFoundError) as e:
        raise CheckpointError(f"{path}: the Hugging Face Hub refused it ({type(e).__name__}; a private or "
                              "gated model needs HF_TOKEN)") from e
    except (errors.HfHubHTTPError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: downloading from the Hugging Face Hub failed ({e})") from e
