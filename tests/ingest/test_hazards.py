"""Hostile or careless inputs: symlink loops, absurdly nested JSON, zip bombs. Each input
succeeds or fails on its own; none hangs the run, aborts it, or eats the machine's memory."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import build_app
from twin.config import load_config
from twin.corpus import CorpusStore
from twin.ingest import pipeline, registry
from twin.ingest.formats import slack
from twin.ingest.pipeline import ingest_paths

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ingest"
WECHAT = FIXTURES / "wechat" / "pywxdump_sample.csv"  # 9 messages
SLACK = FIXTURES / "slack" / "export"


def ingest(*paths):
    cfg = load_config()
    with CorpusStore(cfg.path("corpus")) as store:
        reports = ingest_paths(list(paths), cfg, store)
        return reports, store.stats()


def export_folder(tmp_path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / WECHAT.name).write_bytes(WECHAT.read_bytes())
    return folder


# -- symlinks ---------------------------------------------------------------------------------

def test_a_symlink_loop_is_walked_once_and_reported(twin_dir, tmp_path):
    folder = export_folder(tmp_path)
    (folder / "loop").symlink_to(".")  # walked naively: export/loop/loop/... until ELOOP, 41 copies
    (folder / "deeper").mkdir()
    (folder / "deeper" / "up").symlink_to("..")
    reports, stats = ingest(folder)
    read = [r for r in reports if r.messages]
    assert [r.path.name for r in read] == [WECHAT.name] and read[0].new == 9
    loops = sorted((r for r in reports if r.skipped.get("symlink loop")), key=lambda r: r.path.name)
    assert [r.path.name for r in loops] == ["loop", "up"] and all(r.ok for r in loops)
    assert "links back to" in loops[0].warnings[0] and str(folder) in loops[0].warnings[0]
    assert len(reports) == 3 and stats["messages"] == 9


def test_each_real_file_is_read_once_however_many_links_reach_it(twin_dir, tmp_path):
    folder = export_folder(tmp_path)
    (folder / "again.csv").symlink_to(WECHAT.name)
    (folder / "alias").symlink_to(folder)  # a second way into the same folder
    (folder / "self").symlink_to("self")  # a link to itself
    (folder / "gone").symlink_to("nowhere")
    reports, _ = ingest(folder)
    notes = {r.path.name: next(iter(r.skipped)) for r in reports if not r.messages}
    assert notes == {"again.csv": "already taken", "alias": "symlink loop", "self": "symlink loop", "gone": "broken link"}
    assert sum(r.messages for r in reports) == 9


def test_cli_summary_names_the_loop(twin_dir, tmp_path):
    folder = export_folder(tmp_path)
    (folder / "loop").symlink_to(".")
    result = CliRunner().invoke(build_app(), ["ingest", str(folder)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "symlink loop 1" in result.output and "links back to" in result.output
    assert result.output.count(WECHAT.name) == 1 and "9 new records stored" in result.output


# -- deeply nested JSON ----------------------------------------------------------------------

def deep_telegram(path: Path, depth: int = 100_000, padding: int = 0) -> Path:
    """Looks like a Telegram export to detection; its messages nest `depth` levels down."""
    head = '{"name": "x", "type": "personal_chat", "id": 1, "messages": [{"from_id": "user1", "date_unixtime": "1", "x": '
    path.write_text(head + " " * padding + "[" * depth + "]" * depth + "}]}", encoding="utf-8")
    return path


@pytest.mark.parametrize("in_worker", [False, True], ids=["in-process", "forked-worker"])
def test_deep_json_fails_alone_and_good_files_are_stored(twin_dir, tmp_path, monkeypatch, in_worker):
    if in_worker:
        monkeypatch.setattr(pipeline, "WORKER_MIN_BYTES", 1)  # as a big file would be
    bad = deep_telegram(tmp_path / "result.json")
    reports, stats = ingest(bad, WECHAT)
    assert not reports[0].ok and reports[1].ok
    assert reports[0].error.startswith(f"{bad}: invalid JSON: nested too deeply")
    assert stats["messages"] == 9


def test_deep_json_in_a_worker_sized_file(twin_dir, tmp_path):
    bad = deep_telegram(tmp_path / "result.json", padding=pipeline.WORKER_MIN_BYTES)
    assert pipeline._worth_a_worker(bad)
    reports, stats = ingest(bad, WECHAT)
    assert "nested too deeply" in reports[0].error and reports[1].ok and stats["messages"] == 9


def test_nesting_that_parses_but_overflows_a_parser_fails_alone(twin_dir, tmp_path):
    # 600 levels load fine, but the Messenger parser's recursive text repair runs out of stack.
    thread = tmp_path / "message_1.json"
    thread.write_text('{"participants": [{"name": "A"}], "messages": [{"sender_name": "A", "timestamp_ms": 1, '
                      '"content": "hi", "x": ' + "[" * 600 + "]" * 600 + "}]}", encoding="utf-8")
    reports, stats = ingest(thread, WECHAT)
    assert reports[0].error == f"{thread}: nested too deeply to read (a hostile or broken file?)"
    assert reports[1].ok and stats["messages"] == 9


def test_an_unexpected_parser_bug_fails_only_its_file(twin_dir, tmp_path, monkeypatch):
    from twin.ingest.formats.telegram import TelegramJson

    def broken(self, path, ctx):
        raise KeyError("boom")
        yield

    monkeypatch.setattr(TelegramJson, "parse", broken)
    reports, stats = ingest(FIXTURES / "telegram" / "result.json", WECHAT)
    assert reports[0].error.endswith("unexpected KeyError while reading it: 'boom' (please report this)")
    assert reports[1].ok and stats["messages"] == 9


# -- zip bombs --------------------------------------------------------------------------------

def slack_zip(path: Path, users: bytes | None = None, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(SLACK.rglob("*.json")):
            name = file.relative_to(SLACK).as_posix()
            data = users if (name == "users.json" and users is not None) else file.read_bytes()
            archive.writestr(name, data, compress_type=method if name == "users.json" else zipfile.ZIP_DEFLATED)
    return path


def test_a_well_behaved_slack_zip_still_goes_in(twin_dir, tmp_path):
    reports, stats = ingest(slack_zip(tmp_path / "slack.zip"))
    assert reports[0].ok and reports[0].format == "slack-export" and stats["messages"] > 0


def test_a_zip_bomb_member_is_refused_before_it_is_read(twin_dir, tmp_path, monkeypatch):
    users = b"[" + b" " * (16 << 20) + b"]"  # 16 MiB that deflates about 1000x
    bomb = slack_zip(tmp_path / "bomb.zip", users)
    info = zipfile.ZipFile(bomb).getinfo("users.json")
    assert info.file_size / info.compress_size > 500
    read = []
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda self, name, pwd=None: read.append(name))
    reports, stats = ingest(bomb, WECHAT)
    assert read == []  # refused from the central directory alone
    assert reports[0].error.startswith(f"{bomb} (member users.json): unpacks 1")
    assert "zip bomb?" in reports[0].error
    assert reports[1].ok and stats["messages"] == 9


def test_member_and_total_size_caps(twin_dir, tmp_path, monkeypatch):
    archive = slack_zip(tmp_path / "slack.zip")
    sizes = {i.filename: i.file_size for i in zipfile.ZipFile(archive).infolist()}
    biggest = max(sizes, key=sizes.get)
    monkeypatch.setattr(slack, "MAX_MEMBER_BYTES", sizes[biggest] - 1)
    reports, _ = ingest(archive)
    assert reports[0].error.startswith(
        f"{archive} (member {biggest}): unpacks to {sizes[biggest]} bytes, over the {sizes[biggest] - 1} bytes")
    monkeypatch.setattr(slack, "MAX_MEMBER_BYTES", 1 << 30)
    monkeypatch.setattr(slack, "MAX_TOTAL_BYTES", sum(sizes.values()) - 1)
    reports, _ = ingest(archive)
    assert reports[0].error.startswith(f"{archive}: JSON members unpack to over {sum(sizes.values()) - 1} bytes in all")


def test_block_compressed_members_are_refused(twin_dir, tmp_path):
    archive = slack_zip(tmp_path / "slack.zip", method=zipfile.ZIP_BZIP2)
    reports, _ = ingest(archive)
    assert reports[0].error == (f"{archive} (member users.json): compression method 12 is not read "
                                "(Slack zips are deflated)")


def test_a_corrupt_member_is_an_input_error(twin_dir, tmp_path):
    archive = slack_zip(tmp_path / "slack.zip")
    raw = bytearray(archive.read_bytes())
    # Corrupt users.json's deflated bytes: the CRC check (or inflate) fails while reading.
    info = zipfile.ZipFile(archive).getinfo("users.json")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + 2: start + 12] = b"\xff" * 10
    archive.write_bytes(bytes(raw))
    reports, _ = ingest(archive)
    assert reports[0].error.startswith(f"{archive / 'users.json'}: unreadable zip member (")


def test_registry_expand_keeps_decisions_already_taken(tmp_path):
    item = registry.NotFollowed(tmp_path / "loop", "symlink loop", "loops")
    assert registry.expand([item]) == [item]
