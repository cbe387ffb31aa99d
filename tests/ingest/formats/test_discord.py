"""DiscordChatExporter JSON: our fixture (replies, media, system types, offsets) and the real samples."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from twin.errors import InputError
from twin.records import ChatKind, MessageKind
from tests.conftest import FORMATS, needs_shared
from tests.ingest.formats.run_parser import run_parser

FIXTURE = Path(__file__).parents[2] / "fixtures" / "ingest" / "discord" / "friends_food.json"
SAMPLES = FORMATS / "discord_chat_exporter_json"
UTC8 = timezone(timedelta(hours=8))


def test_fixture_kinds_replies_owner_and_offsets():
    fmt, records, ctx = run_parser(FIXTURE, ids=["111"])
    assert fmt == "discord-dce-json"
    by_id = {m.source_id: m for m in records}
    assert len(records) == 6 and ctx.skipped == {"empty message": 1}
    first = by_id["discord:900000000000000001"]
    assert first.kind is MessageKind.SYSTEM and first.text == "Joined the server."
    assert first.conversation_id == "discord:700" and first.conversation_name == "Friends #food"
    assert first.chat_kind is ChatKind.GROUP
    question = by_id["discord:900000000000000002"]
    assert question.text == "anyone up for hotpot tonight? 🍲"  # LRM removed, emoji kept
    assert question.sender_name == "Bo" and not question.is_owner
    assert question.timestamp == datetime(2024, 2, 10, 9, 1, 30, 250000, tzinfo=UTC8)
    reply = by_id["discord:900000000000000003"]
    assert reply.is_owner and reply.sender_id == "111" and reply.sender_name == "Lin"
    assert reply.reply_to == "discord:900000000000000002" and reply.kind is MessageKind.TEXT
    assert (by_id["discord:900000000000000004"].kind, by_id["discord:900000000000000004"].text) == (MessageKind.IMAGE, "[image]")
    sticker = by_id["discord:900000000000000005"]
    assert (sticker.kind, sticker.text) == (MessageKind.STICKER, "[sticker: Thumbs Up]")
    assert by_id["discord:900000000000000006"].kind is MessageKind.SYSTEM


def test_owner_matched_by_configured_name_when_no_id():
    _, records, _ = run_parser(FIXTURE, names=["lin"])  # the nickname, case-insensitive
    assert {m.source_id for m in records if m.is_owner} == {"discord:900000000000000003", "discord:900000000000000004"}


@needs_shared(SAMPLES)
def test_real_dm_sample():
    _, records, _ = run_parser(SAMPLES / "chat-analytics__DM_2A_2M.json", ids=["111111111111111111"])
    assert [m.source_id for m in records] == ["discord:530805779645595660", "discord:538148765782114306", "discord:100"]
    assert all(m.chat_kind is ChatKind.PRIVATE for m in records)
    assert records[0].is_owner and records[0].text == "blah" and records[0].sender_name == "mlomb"
    assert records[0].timestamp == datetime(2019, 1, 4, 17, 52, 39, 762000, tzinfo=timezone.utc)
    assert records[1].sender_name == "Someones nickname" and not records[1].is_owner
    assert records[2].kind is MessageKind.CALL and records[2].text == "Started a call that lasted 251 minutes."


@needs_shared(SAMPLES)
def test_real_group_sample_reply_and_system_types():
    _, records, _ = run_parser(SAMPLES / "chat-analytics__GC_3A_5M.json", ids=["111111111111111111"])
    assert len(records) == 6
    assert [m.kind for m in records].count(MessageKind.SYSTEM) == 2  # channel name and icon changes
    reply = next(m for m in records if m.text == "woah nice :custom_emoji:")
    assert reply.reply_to == "discord:1064990824305274930" and reply.is_owner
    assert next(m for m in records if m.sender_id == "333333333333333333").sender_name == "theplant"


@needs_shared(SAMPLES)
def test_real_server_sample_skips_repeated_message_and_keeps_text_over_attachments():
    _, records, ctx = run_parser(SAMPLES / "chat-analytics__SV_5A_5M.json", ids=["111111111111111111"])
    assert len(records) == 4 and ctx.skipped == {"duplicate message id": 1}
    assert records[0].conversation_name == "DefleMask #general-chiptune"
    with_files = next(m for m in records if m.source_id == "discord:447793085255123005")
    assert with_files.kind is MessageKind.TEXT and with_files.text == "This message has attachments and stickers."
    assert sum(m.is_owner for m in records) == 3


def test_truncated_json_names_file_and_line(tmp_path):
    broken = tmp_path / "cut.json"
    broken.write_text(FIXTURE.read_text(encoding="utf-8")[:900], encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(broken, fmt="discord-dce-json")
    assert err.value.path == str(broken) and err.value.line is not None and err.value.line > 10
    assert "invalid JSON" in str(err.value)


def test_bad_timestamp_names_the_field(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(FIXTURE.read_text(encoding="utf-8").replace("2024-02-10T09:02:00+08:00", "yesterday"), encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(bad)
    assert err.value.field == "messages[2].timestamp" and str(bad) in str(err.value)
