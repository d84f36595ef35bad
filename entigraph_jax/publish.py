"""Publishing to the Hugging Face Hub: a prepared folder (a model export with its card, a corpus as
parquet with its card) uploaded to a repository in one commit, through `huggingface_hub`.

A repository this creates is private unless asked otherwise; an existing one keeps its visibility. The
token is huggingface_hub's own (`HF_TOKEN` or `hf auth login`); it is never read, logged or written here.
"""

from __future__ import annotations

import os
from pathlib import Path

import huggingface_hub
from huggingface_hub.errors import HfHubHTTPError

from .errors import UserError


class PublishError(UserError):
    """An upload the Hub refused or could not be reached for."""


def push(folder: str | os.PathLike, repo: str, *, repo_type: str, private: bool, message: str,
         api: huggingface_hub.HfApi | None = None) -> str:
    """Create `repo` (a `model` or `dataset` repository) if it does not exist and commit every file of
    `folder` to it; returns the repository's URL."""
    api = api or huggingface_hub.HfApi()
    try:
        url = api.create_repo(repo, repo_type=repo_type, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo, folder_path=Path(folder), repo_type=repo_type, commit_message=message)
    except HfHubHTTPError as e:
        raise PublishError(f"{repo}: the Hub refused the upload of {folder}: {str(e).splitlines()[0]}") from e
    except Exception as e:
        if not _transport_error(e):
            raise
        raise PublishError(f"{repo}: could not reach the Hub at {api.endpoint} to upload {folder}: {e}") from e
    return str(url)


def _transport_error(error: Exception) -> bool:
    """A connection that failed: the OS's errors, or those of huggingface_hub's HTTP client (httpx, or
    its successor httpx2, by version), which it does not wrap."""
    return isinstance(error, OSError) or type(error).__module__.partition(".")[0] in ("httpx", "httpx2")
