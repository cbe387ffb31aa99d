"""Messenger and Instagram JSON: mojibake repair, newest-first order, unsent, media kinds, real samples."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from twin.errors import InputError
from twin.records import ChatKind, MessageKind
from twin.ingest.formats.messenger import fix_mojibake
from tests.conftest import FORMATS
from tests.ingest.formats.run_parser import run_parser

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ingest"
MESSENGER = FIXTURES / "messenger" / "inbox" / "trip_planning_3xk2" / "message_1.json"
INSTAGRAM = FIXTURES / "instagram" / "your_instagram_activity" / "messages" / "inbox" / "bobchen_17845" / "message_1.json"


def test_fix_mojibake_only_touches_mojibake():
    assert fix_mojibake("Rados\u00c5\u0082aw") == "Radosław"
    assert fix_mojibake("\u00f0\u009f\u0098\u0080") == "😀"
    assert fix_mojibake("Radosław") == "Radosław"  # already right: not latin-1 encodable
    assert fix_mojibake("café") == "café"  # latin-1 bytes that are not UTF-8 stay as they are


def test_messenger_fixture():
    fmt, records, ctx = run_parser(MESSENGER, names=["Lin Wei"])
    assert fmt == "messenger-json" and not ctx.skipped
    assert [m.timestamp for m in records] == sorted(m.timestamp for m in records)  # oldest first
    assert len(records) == 8
    first, last = records[0], records[-1]
    assert first.kind is MessageKind.SYSTEM and first.is_owner
    assert last.text == "see you all at the station 😀" and last.is_owner
    assert last.timestamp == datetime(2023, 11, 14, 22, 18, 20, tzinfo=timezone.utc)
    assert last.conversation_id == "messenger:trip_planning_3xk2" and last.conversation_name == "Trip planning ✈️"
    assert all(m.chat_kind is ChatKind.GROUP for m in records)
    # two messages in the same millisecond: the one later in the (newest-first) file is older
    same = [m for m in records if m.source_id.startswith("messenger:trip_planning_3xk2:1700000050000")]
    assert [(m.source_id.rsplit(":", 1)[1], m.sender_name) for m in same] == [
        ("1700000050000", "Radosław Nowak"), ("1700000050000.1", "Bo Chen")]
    assert same[0].text == "Cześć wszystkim! Zażółć gęślą jaźń"
    kinds = {m.source_id.rsplit(":", 1)[1]: (m.kind, m.text) for m in records}
    assert kinds["1700000000000"] == (MessageKind.CALL, "Bo Chen started a call.")
    assert kinds["1700000100000"] == (MessageKind.TEXT, "this guesthouse looks great")
    assert kinds["1700000200000"] == (MessageKind.IMAGE, "[image]")
    assert kinds["1700000250000"] == (MessageKind.RECALLED, "")


def test_instagram_fixture_detected_by_folder():
    fmt, records, _ = run_parser(INSTAGRAM, names=["lin wei"])
    assert fmt == "instagram-json"
    assert [(m.source_id, m.kind, m.text, m.is_owner) for m in records] == [
        ("instagram:bobchen_17845:1710000000000", MessageKind.LINK, "[link]", False),
        ("instagram:bobchen_17845:1710000060000", MessageKind.TEXT, "haha that cat 😂", True),
    ]
    assert records[0].chat_kind is ChatKind.PRIVATE


def test_real_messenger_sample():
    fmt, records, _ = run_parser(FORMATS / "facebook_messenger_json" / "chat-analytics__2A_7M.json", names=["Alice"])
    assert fmt == "messenger-json" and len(records) == 7
    assert [m.kind for m in records] == [MessageKind.IMAGE, MessageKind.STICKER, MessageKind.VOICE, MessageKind.FILE,
                                         MessageKind.TEXT, MessageKind.TEXT, MessageKind.TEXT]
    assert records[-1].text == "Hello" and records[-1].is_owner
    assert records[-1].timestamp == datetime(2014, 11, 5, 0, 35, 32, 56000, tzinfo=timezone.utc)
    assert records[-1].source_id == "messenger:alice_aaaaaaaaaa:1415147732056"
    assert sum(m.is_owner for m in records) == 2


def test_real_instagram_sample():
    fmt, records, _ = run_parser(FORMATS / "instagram_json" / "chat-miner__test_export.json", names=["John Doe"])
    assert fmt == "instagram-json"
    assert [(m.sender_name, m.text, m.is_owner) for m in records] == [("Jane Doe", "Hello John!", False), ("John Doe", "Hello Jane!", True)]
    assert records[1].timestamp == datetime(2020, 1, 17, 20, 49, tzinfo=timezone.utc)


def test_missing_timestamp_names_the_field(tmp_path):
    data = json.loads(MESSENGER.read_text(encoding="utf-8"))
    del data["messages"][3]["timestamp_ms"]
    bad = tmp_path / "message_1.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(bad)
    assert err.value.field == "messages[3].timestamp_ms" and err.value.path == str(bad)


def test_truncated_file_names_the_line(tmp_path):
    bad = tmp_path / "message_1.json"
    bad.write_text(MESSENGER.read_text(encoding="utf-8")[:700], encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(bad, fmt="messenger-json")
    assert err.value.line is not None and err.value.line > 20
