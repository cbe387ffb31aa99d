"""Messenger and Instagram JSON: mojibake repair, newest-first order, unsent, media kinds, real samples."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from twin.errors import InputError
from twin.records import ChatKind, MessageKind
from twin.ingest.formats.messenger import fix_mojibake
from tests.conftest import FORMATS, needs_shared
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


@needs_shared(FORMATS / "facebook_messenger_json")
def test_real_messenger_sample():
    fmt, records, _ = run_parser(FORMATS / "facebook_messenger_json" / "chat-analytics__2A_7M.json", names=["Alice"])
    assert fmt == "messenger-json" and len(records) == 7
    assert [m.kind for m in records] == [MessageKind.IMAGE, MessageKind.STICKER, MessageKind.VOICE, MessageKind.FILE,
                                         MessageKind.TEXT, MessageKind.TEXT, MessageKind.TEXT]
    assert records[-1].text == "Hello" and records[-1].is_owner
    assert records[-1].timestamp == datetime(2014, 11, 5, 0, 35, 32, 56000, tzinfo=timezone.utc)
    assert records[-1].source_id == "messenger:alice_aaaaaaaaaa:1415147732056"
    assert sum(m.is_owner for m in records) == 2


@needs_shared(FORMATS / "instagram_json")
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


def meta_export(path: Path, messages: list[tuple[str, str]]) -> Path:
    """A thread file as Meta writes it: newest first, every string UTF-8 bytes seen as latin-1."""
    def mojibake(text: str) -> str:
        return text.encode("utf-8").decode("latin-1")

    rows = [{"sender_name": mojibake(sender), "timestamp_ms": 1710000000000 + 1000 * i, "content": mojibake(content)}
            for i, (sender, content) in enumerate(messages)]
    names = sorted({sender for sender, _ in messages})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"participants": [{"name": mojibake(n)} for n in names],
                               "messages": rows[::-1], "title": "t"}), encoding="utf-8")
    return path


EXPORTER_WRITTEN = [
    ("Anna Weber", "Reacted 😂 to your message", MessageKind.SYSTEM),
    ("Anna Weber", "Liked a message", MessageKind.SYSTEM),
    ("Anna Weber", "Anna Weber reacted ❤️ to your message", MessageKind.SYSTEM),
    ("Anna Weber", "Anna Weber sent an attachment.", MessageKind.FILE),
    ("Lin Wei", "You sent an attachment.", MessageKind.FILE),
    ("Anna Weber", "Anna Weber sent a photo.", MessageKind.IMAGE),  # no photos field: media not exported
    ("Anna Weber", "Anna Weber sent 3 photos.", MessageKind.IMAGE),
    ("Anna Weber", "Anna Weber sent a voice message.", MessageKind.VOICE),
    ("Anna Weber", "Anna unsent a message", MessageKind.RECALLED),  # first name, no full stop
    ("Lin Wei", "You unsent a message.", MessageKind.RECALLED),
    ("Bo Chen", "Bo Chen missed a call.", MessageKind.CALL),
    ("Bo Chen", "Bo Chen started a video chat.", MessageKind.CALL),
    ("Bo Chen", "The video chat ended.", MessageKind.CALL),
    ("Bo Chen", "Bo Chen named the group Kraków ✈️.", MessageKind.SYSTEM),
    ("Bo Chen", "Bo Chen set the nickname for Anna Weber to Annie.", MessageKind.SYSTEM),
    ("Bo Chen", "Bo Chen left the group.", MessageKind.SYSTEM),
]
PERSON_WRITTEN = [
    ("Bo Chen", "I missed a call."),  # the person's words about themselves
    ("Bo Chen", "Anna left the group."),  # about someone else, sent by Bo: not Meta's notice
    ("Bo Chen", "my sister sent a photo."),
    ("Bo Chen", "sent an attachment. did you get it?"),
    ("Bo Chen", "liked a message lol"),
    ("Bo Chen", "Reacted to your message? no"),
    ("Bo Chen", "Bo Chen started a video chat.\nJoin!"),
]


@pytest.mark.parametrize("app_path", ["messenger/inbox/t_1/message_1.json",
                                      "instagram/your_instagram_activity/messages/inbox/t_1/message_1.json"])
def test_exporter_written_texts_are_typed(tmp_path, app_path):
    rows = [(s, c) for s, c, _ in EXPORTER_WRITTEN] + PERSON_WRITTEN
    fmt, records, _ = run_parser(meta_export(tmp_path / app_path, rows), names=["Lin Wei"])
    assert fmt == ("instagram-json" if "instagram" in app_path else "messenger-json")
    expected = [kind for _, _, kind in EXPORTER_WRITTEN] + [MessageKind.TEXT] * len(PERSON_WRITTEN)
    got = [r.kind for r in records]
    assert got == expected, [(r.text, g, e) for r, g, e in zip(records, got, expected) if g is not e]
    by_text = {r.text: r for r in records}
    assert "Reacted 😂 to your message" in by_text  # mojibake repaired before matching
    assert by_text["[file]"].sender_name in {"Anna Weber", "Lin Wei"}  # media placeholders, not Meta's sentence
    assert [r.text for r in records if r.kind is MessageKind.TEXT] == [c for _, c in PERSON_WRITTEN]
