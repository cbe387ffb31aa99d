"""Fixtures: a small indexed twin (a Telegram chat + two posts) and the echo-backed server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the tests import service_helpers by name

from service_helpers import ingest_fixtures, serve, write_twin  # noqa: E402


@pytest.fixture(scope="module")
def indexed_twin(tmp_path_factory):
    """A twin folder with corpus and memory store built from the fixtures; returns its config."""
    from twin.config import load_config
    from twin.retrieval.memory import index_corpus

    config = load_config(write_twin(tmp_path_factory.mktemp("twin")))
    ingest_fixtures(config)
    report = index_corpus(config, progress=False)
    assert report["memories"] >= 4
    return config


@pytest.fixture(scope="module")
def echo_server(indexed_twin):
    """The twin served with the echo backend; yields (base_url, app)."""
    from twin.service.app import create_app

    app = create_app(indexed_twin)
    with serve(app) as url:
        yield url, app
