"""Shared test helpers: paths to the shared samples and a fresh twin folder per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FORMATS = SHARED / "data" / "formats"
LOCOMO = SHARED / "data" / "locomo" / "locomo10.json"


@pytest.fixture
def twin_dir(tmp_path, monkeypatch):
    """An empty folder with a twin.toml (owner 'me_wxid', Asia/Shanghai), as the current folder."""
    from twin.init_template import render

    (tmp_path / "twin.toml").write_text(render(["me_wxid", "Lin"], "Asia/Shanghai"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("TWIN_")]:
        monkeypatch.delenv(key)
    return tmp_path
