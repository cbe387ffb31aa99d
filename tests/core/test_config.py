from pathlib import Path

import pytest

from twin.config import TwinConfig, load_config
from twin.errors import ConfigError
from twin.init_template import render


def test_init_template_parses_and_fills_owner_and_tz(tmp_path):
    path = tmp_path / "twin.toml"
    path.write_text(render(["wxid_abc", "小林", "12345"], "Asia/Shanghai"), encoding="utf-8")
    cfg = load_config(path, env={})
    assert cfg.owner.ids == ["wxid_abc", "12345"]
    assert cfg.owner.names == ["小林"]
    assert cfg.persona.name == "小林"
    assert cfg.ingest.source_tz == "Asia/Shanghai"
    assert cfg.path("corpus") == tmp_path / ".twin" / "corpus.sqlite"


def test_every_template_key_is_a_real_key(tmp_path):
    # The template is parsed with unknown keys forbidden, so a stale key would fail here.
    path = tmp_path / "twin.toml"
    path.write_text(render([], "UTC"), encoding="utf-8")
    assert isinstance(load_config(path, env={}), TwinConfig)


def test_unknown_key_is_rejected_with_its_name(tmp_path):
    path = tmp_path / "twin.toml"
    path.write_text("[memory]\nchunk_turn = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"memory\.chunk_turn: unknown key"):
        load_config(path, env={})


def test_environment_overrides_file(tmp_path):
    path = tmp_path / "twin.toml"
    path.write_text("[service]\nport = 8001\n", encoding="utf-8")
    cfg = load_config(path, env={"TWIN_SERVICE__PORT": "9009", "TWIN_OWNER__NAMES": '["a", "b"]'})
    assert cfg.service.port == 9009
    assert cfg.owner.names == ["a", "b"]


def test_bad_timezone_names_the_key(tmp_path):
    path = tmp_path / "twin.toml"
    path.write_text('[ingest]\nsource_tz = "Mars/Base"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"ingest\.source_tz.*Mars/Base"):
        load_config(path, env={})


def test_missing_config_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="twin init"):
        load_config(env={})


def test_records_reject_naive_timestamps():
    from datetime import datetime

    from twin.records import ChatKind, Message

    with pytest.raises(ValueError, match="no timezone"):
        Message("wechat", "wechat:1", "wechat:x", "x", ChatKind.PRIVATE, "a", "a", False, datetime(2024, 1, 1), "hi")


def test_every_module_imports_with_the_base_install():
    """Heavy libraries are imported inside functions: importing any module must not pull torch."""
    import importlib
    import pkgutil
    import subprocess
    import sys

    import twin

    repo = Path(__file__).resolve().parents[2]
    modules = ["twin"] + [info.name for info in pkgutil.walk_packages(twin.__path__, prefix="twin.")]
    for package in ("ingest", "finetune", "retrieval", "service", "eval"):
        sub = importlib.import_module(f"twin.{package}")
        modules.append(sub.__name__)
        modules += [info.name for info in pkgutil.walk_packages(sub.__path__, prefix=f"{sub.__name__}.")]
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'sentence_transformers', 'unstructured', 'matplotlib') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at module level: {out.stdout.strip()}"


def test_the_service_timezone_is_checked_and_names_the_key(tmp_path):
    path = tmp_path / "twin.toml"
    path.write_text('[service]\ntimezone = "Mars/Base"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"service\.timezone.*Mars/Base"):
        load_config(path, env={})
    path.write_text('[service]\ntimezone = "Asia/Shanghai"\n', encoding="utf-8")
    assert load_config(path, env={}).service.now().utcoffset().total_seconds() == 8 * 3600
