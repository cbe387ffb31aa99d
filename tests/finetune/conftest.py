"""Session fixtures for the finetune tests: one tiny base model folder, one tiny tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.finetune.tiny import build_tokenizer, save_tiny_base


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    return save_tiny_base(tmp_path_factory.mktemp("tiny_base"))


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tokenizer()
