"""Ingest end to end on the PyWxDump format: parsing, owners, time zones, PII, idempotency,
one transaction per file, and the CLI."""

from __future__ import annotations

import enum
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import build_app
from twin.config import load_config
from twin.errors import InputError
from twin.records import ChatKind, MessageKind
from twin.ingest.pipeline import ingest_paths
from twin.corpus import CorpusStore
from tests.conftest import FORMATS, needs_shared

FIXTURE = Path(__file__).parent.parent / "fixtures" / "ingest" / "wechat" / "pywxdump_sample.csv"
SHANGHAI = timezone(timedelta(hours=8))


def ingest(twin_dir, *paths, fmt=None):
    cfg = load_config()
    with CorpusStore(cfg.path("corpus")) as store:
        reports = ingest_paths(list(paths), cfg, store, fmt=fmt)
        return reports, list(store.messages()), store.stats()


def test_pywxdump_fixture_parses_to_expected_records(twin_dir):
    reports, messages, _ = ingest(twin_dir, FIXTURE)
    assert reports[0].format == "wechat-pywxdump-csv" and reports[0].ok
    assert len(messages) == 9
    by_id = {m.source_id: m for m in messages}
    first = by_id["wechat:7001000000000000001"]
    assert first.timestamp == datetime(2024, 9, 14, 9, 30, 5, tzinfo=SHANGHAI)
    assert not first.is_owner and first.chat_kind is ChatKind.PRIVATE
    assert by_id["wechat:7001000000000000002"].text == "好啊[旺柴] 几点"  # emoji token kept
    assert by_id["wechat:7001000000000000002"].is_owner
    assert by_id["wechat:7001000000000000003"].text == "我电话 <PHONE>\n到了打给我"  # multi-line, scrubbed
    assert by_id["wechat:7001000000000000004"].kind is MessageKind.STICKER
    assert by_id["wechat:7001000000000000005"].text == "八点吧"  # quoted part dropped
    assert by_id["wechat:7001000000000000006"].kind is MessageKind.RECALLED
    image = by_id["wechat:7001000000000000007"]
    assert image.kind is MessageKind.IMAGE and "FileStorage" not in image.text
    assert image.timestamp == datetime(2024, 9, 14, 9, 35, tzinfo=SHANGHAI)  # spreadsheet-style date
    group = by_id["wechat:7001000000000000009"]
    assert group.chat_kind is ChatKind.GROUP and group.conversation_id == "wechat:12345678@chatroom"
    assert group.text == "回！👨\u200d👩\u200d👧 一家人团聚"  # LRM removed, ZWJ family emoji kept
    assert reports[0].pii["<PHONE>"] == 1


@needs_shared(FORMATS / "wechat_weclone_pywxdump_csv")
def test_real_weclone_samples_conform(twin_dir):
    reports, messages, stats = ingest(twin_dir, FORMATS / "wechat_weclone_pywxdump_csv")
    assert [r.format for r in reports] == ["wechat-pywxdump-csv"] * 2
    assert all(r.ok for r in reports)
    person = [m for m in messages if m.conversation_id == "wechat:test_person"]
    assert len(person) == 96
    kinds = {k: sum(m.kind is k for m in person) for k in MessageKind}
    assert kinds[MessageKind.STICKER] == 23 and kinds[MessageKind.IMAGE] == 5 and kinds[MessageKind.RECALLED] == 2
    # Four rows have talker == the owner's id but is_sender=0: the flag is trusted.
    owner_rows = [m for m in person if m.is_owner]
    assert owner_rows and all(m.sender_id == "12345iru2zsmo22" for m in owner_rows)
    pii = next(r for r in reports if "PII" in r.path.name)
    assert pii.pii["<EMAIL>"] == 4 and pii.pii["<PHONE>"] >= 3 and pii.pii["<IP>"] >= 3
    texts = {m.text for m in messages}
    assert "zhang.wei@163.com" not in texts and "13812345678" not in texts


def test_ingesting_twice_stores_nothing_new(twin_dir):
    first, _, stats1 = ingest(twin_dir, FIXTURE)
    second, _, stats2 = ingest(twin_dir, FIXTURE)
    assert first[0].new == 9 and second[0].new == 0
    assert stats1["messages"] == stats2["messages"] == 9


def test_bad_file_is_rolled_back_and_others_still_go_in(twin_dir, tmp_path):
    bad = tmp_path / "bad.csv"
    good_rows = FIXTURE.read_text(encoding="utf-8").splitlines()
    # Valid rows first, then one with a broken is_sender: the whole file must be rolled back.
    bad.write_text("\n".join(good_rows[:3] + ["9,9,文本,maybe,x,y,hello,,2024-01-01 00:00:00"]), encoding="utf-8")
    reports, messages, _ = ingest(twin_dir, bad, FIXTURE)
    assert not reports[0].ok and reports[0].error.startswith(f"{bad}:")
    assert "is_sender" in reports[0].error and ":4" in reports[0].error
    assert reports[1].ok and len(messages) == 9  # only the good file's records


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "empty file"),
        (b"\x00\x01\x02binary\xff\xfe junk" * 20, "not recognised"),
        ("id,MsgSvrID,type_name,is_sender\n1,2,文本,1\n".encode(), "missing column"),
    ],
)
def test_bad_inputs_give_one_clear_line(twin_dir, tmp_path, content, expected):
    path = tmp_path / "input.csv"
    path.write_bytes(content)
    reports, messages, _ = ingest(twin_dir, path)
    assert reports[0].error and expected in reports[0].error and str(path) in reports[0].error
    assert messages == []


def test_encodings_utf16_and_gb18030(twin_dir, tmp_path):
    text = FIXTURE.read_text(encoding="utf-8").replace("\u200e", "")
    (tmp_path / "u16.csv").write_bytes(text.encode("utf-16"))
    gb = text.replace("👨\u200d👩\u200d👧 ", "")  # GB18030 round-trips emoji, but keep this plain
    (tmp_path / "gb.csv").write_bytes(gb.replace("7001", "7002").encode("gb18030"))
    reports, messages, _ = ingest(twin_dir, tmp_path / "u16.csv", tmp_path / "gb.csv")
    assert all(r.ok for r in reports), [r.error for r in reports]
    assert {m.text for m in messages} >= {"周末去爬山吗？", "大家春节回家吗"}
    assert len(messages) == 18


def test_owner_not_identified_is_reported(twin_dir, tmp_path):
    path = tmp_path / "others.csv"
    rows = FIXTURE.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([rows[0], rows[1]]), encoding="utf-8")
    reports, _, _ = ingest(twin_dir, path)
    assert any("none of these messages is the owner's" in w for w in reports[0].warnings)


def test_cli_init_ingest_and_stats_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    app = build_app()
    result = runner.invoke(app, ["init", "--owner", "wxid_me", "--tz", "Asia/Shanghai"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "twin.toml").is_file()
    result = runner.invoke(app, ["ingest", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    assert "9 new records" in result.output
    result = runner.invoke(app, ["ingest", str(FIXTURE)])
    assert "nothing new" in result.output
    result = runner.invoke(app, ["corpus", "stats", "--json"])
    data = json.loads(result.stdout)
    assert data["messages"] == 9 and data["by_source"] == {"wechat": 9}
    assert data["by_kind"]["text"] == 6 and data["owner_text_messages"] == 3


def test_missing_path_is_reported_not_raised(twin_dir, tmp_path):
    reports, messages, _ = ingest(twin_dir, tmp_path / "nope.csv", FIXTURE)
    assert reports[0].error == f"{tmp_path / 'nope.csv'}: no such file or folder"
    assert reports[1].ok and len(messages) == 9


def test_cli_exits_non_zero_only_when_nothing_could_be_ingested(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = build_app()
    runner = CliRunner()
    runner.invoke(app, ["init"])
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 100)
    assert runner.invoke(app, ["ingest", str(junk)]).exit_code == 1
    assert runner.invoke(app, ["ingest", str(junk), str(FIXTURE)]).exit_code == 0


def test_parse_worker_gives_the_same_corpus_and_errors(tmp_path, monkeypatch):
    """Big files are parsed in a forked worker process; results and errors must not change."""
    import twin.ingest.pipeline as pipeline
    from twin.config import TwinConfig

    def run(folder, worker: bool, *paths):
        monkeypatch.setattr(pipeline, "WORKER_MIN_BYTES", 0 if worker else 1 << 40)
        config = TwinConfig(root=folder)
        with CorpusStore(config.path("corpus")) as store:
            reports = ingest_paths(list(paths), config, store)
            return reports, store.content_hash(), store.stats()

    bad = tmp_path / "bad.csv"
    rows = FIXTURE.read_text(encoding="utf-8").splitlines()
    bad.write_text("\n".join(rows[:3] + ["9,9,文本,maybe,x,y,hello,,2024-01-01 00:00:00"]), encoding="utf-8")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    in_process = run(tmp_path / "a", False, FIXTURE, bad)
    in_worker = run(tmp_path / "b", True, FIXTURE, bad)
    assert in_process[1] == in_worker[1] and in_process[2] == in_worker[2]
    assert [r.new for r in in_process[0]] == [r.new for r in in_worker[0]] == [9, 0]
    assert in_worker[0][0].pii == in_process[0][0].pii
    assert in_worker[0][1].error == in_process[0][1].error and "is_sender" in in_worker[0][1].error


class _Tag(enum.StrEnum):  # at module level, so pickle can find it
    NOTE = "note"


def test_worker_batches_round_trip_plain_and_subclassed_values():
    """Row batches cross the pipe marshalled; a plugin's str subclass falls back to pickle intact."""
    import marshal
    import pickle

    import twin.ingest.pipeline as pipeline

    def unpacked(data: bytes):
        return ("rows", marshal.loads(data[1:])) if data[:1] == pipeline._MARSHALLED else pickle.loads(data[1:])

    plain = ([("wechat", "wechat:1", "c", "c", "private", "s", "s", 1, 1.5, "2024-01-01T00:00:00+08:00", "hi", "text", None)], [])
    assert pipeline._packed("rows", plain)[:1] == pipeline._MARSHALLED
    assert unpacked(pipeline._packed("rows", plain)) == ("rows", plain)
    odd = ([("wechat", _Tag.NOTE)], [])
    assert pipeline._packed("rows", odd)[:1] == pipeline._PICKLED
    kind, payload = unpacked(pipeline._packed("rows", odd))
    assert kind == "rows" and payload[0][0][1] is _Tag.NOTE
