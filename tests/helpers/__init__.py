"""What several test modules share: reference models and tokenizers, short training runs, tiny harness
tasks, polling with a deadline. Fixtures stay in `tests/conftest.py`; these are plain functions."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: configs/, examples/, notebooks/
