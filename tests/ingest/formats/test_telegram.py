"""Telegram Desktop JSON: a full-account fixture (owner from personal_information, replies,
entities, media, service messages, left chats) and the real single/full-account samples."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from twin.errors import InputError
from twin.records import ChatKind, MessageKind
from twin.ingest.formats.telegram import TelegramJson
from twin.ingest.textio import head
from tests.conftest import FORMATS, needs_shared, shared_files
from tests.ingest.formats.run_parser import run_parser

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ingest" / "telegram"
SAMPLES = FORMATS / "telegram_desktop_json"
UTC8 = timezone(timedelta(hours=8))


def by_source_id(records):
    return {m.source_id: m for m in records}


def test_full_account_export():
    fmt, records, ctx = run_parser(FIXTURES / "result.json", tz="Asia/Shanghai")
    assert fmt == "telegram-json" and len(records) == 13 and not ctx.warnings
    m = by_source_id(records)
    call = m["telegram:222:10"]
    assert call.kind is MessageKind.SYSTEM and call.text == "Bob phone call 95s" and not call.is_owner
    assert call.timestamp == datetime(2023, 3, 1, 8, 0, tzinfo=UTC8)  # date_unixtime, shown in source_tz
    assert m["telegram:222:11"].text == "Did you see the **sunset**?" and m["telegram:222:11"].chat_kind is ChatKind.PRIVATE
    reply = m["telegram:222:12"]
    assert reply.is_owner  # from_id user111 == personal_information.user_id
    assert reply.text == "Yes! Photos here: https://example.com/sunset @bob"  # entities flattened
    assert reply.reply_to == "telegram:222:11"
    caption = m["telegram:222:13"]
    assert caption.kind is MessageKind.TEXT and caption.text == "from the hill 🌄"  # caption kept, LRM removed
    assert m["telegram:222:14"].kind is MessageKind.IMAGE and m["telegram:222:14"].text == "[photo]"
    sticker = m["telegram:222:15"]
    assert sticker.kind is MessageKind.STICKER and sticker.text == "😂"
    assert m["telegram:222:16"].kind is MessageKind.VOICE and m["telegram:222:16"].is_owner
    local_only = m["telegram:222:17"]  # no date_unixtime: the wall time gets source_tz
    assert local_only.timestamp == datetime(2023, 3, 1, 9, 0, tzinfo=UTC8)
    invite = m["telegram:333:1"]
    assert invite.kind is MessageKind.SYSTEM and invite.text == "Carol invite members Lin, Dave"
    assert invite.chat_kind is ChatKind.GROUP and invite.conversation_name == "Hiking club"
    deleted = m["telegram:333:3"]
    assert deleted.sender_name == "Deleted Account" and deleted.sender_id == "user555"
    assert m["telegram:999:5"].is_owner and m["telegram:999:5"].text == "bye all"  # left chats included


@needs_shared(SAMPLES)
def test_real_single_chat_sample():
    fmt, records, _ = run_parser(SAMPLES / "chat-analytics__DM_2A_7M.json", ids=["300000000"], tz="Asia/Shanghai")
    assert fmt == "telegram-json" and len(records) == 8
    m = by_source_id(records)
    assert {r.conversation_id for r in records} == {"telegram:700000000"}
    assert all(r.chat_kind is ChatKind.PRIVATE for r in records)
    joined = m["telegram:700000000:2675"]
    assert joined.kind is MessageKind.SYSTEM and joined.text == "Bob joined telegram"
    link = m["telegram:700000000:3644"]
    assert link.text == "https://google.com 👀" and not link.is_owner
    assert link.timestamp == datetime(2019, 7, 12, 16, 55, 32, tzinfo=UTC8)  # 'date' only: local
    hello = m["telegram:700000000:3645"]
    assert hello.is_owner and hello.sender_id == "user300000000" and hello.text == "hello world"  # configured id 300000000
    assert m["telegram:700000000:3662"].timestamp == datetime(2022, 5, 9, 22, 23, 53, tzinfo=timezone.utc)
    assert m["telegram:700000000:3672"].kind is MessageKind.IMAGE
    call = m["telegram:700000000:3674"]
    assert call.kind is MessageKind.SYSTEM and call.is_owner and call.text == "Alice phone call 56s"
    assert call.timestamp == datetime.fromtimestamp(1691719862, tz=timezone.utc)  # epoch wins over 'date'


@needs_shared(SAMPLES)
def test_real_minimal_samples_without_ids():
    _, single, ctx = run_parser(SAMPLES / "chat-miner__test_single_export.json", names=["Author 1"])
    assert [(m.source_id, m.sender_name, m.is_owner, m.text) for m in single] == [
        ("telegram:chat-miner__test_single_export:1", "Author 1", True, "Minimal Message"),
        ("telegram:chat-miner__test_single_export:2", "Author 2", False, "Link:https://telegram.org/"),
    ]
    assert ctx.warnings  # no chat id: said so
    _, batch, _ = run_parser(SAMPLES / "chat-miner__test_batch_export.json")
    assert [m.source_id for m in batch] == ["telegram:Chatname:1", "telegram:Chatname:2"]
    assert batch[0].timestamp == datetime(2018, 12, 5, 10, 39, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize("path", shared_files(SAMPLES, "*.json"), ids=lambda p: p.name)
def test_every_real_sample_is_detected_and_parsed(path):
    fmt, records, _ = run_parser(path)
    assert fmt == "telegram-json" and len(records) > 0


@needs_shared(FORMATS)
def test_never_claims_other_formats():
    for path in sorted(p for p in FORMATS.rglob("*") if p.is_file() and p.parent != SAMPLES and p.suffix != ".md"):
        assert not TelegramJson.detect(path, head(path)), path


def test_never_claims_the_qq_json_fixture():
    qce = FIXTURES.parent / "qq" / "qce_摄影交流群.json"
    assert not TelegramJson.detect(qce, head(qce))


def test_truncated_export_names_file_and_line():
    path = FIXTURES / "truncated.json"
    assert TelegramJson.detect(path, head(path))
    with pytest.raises(InputError) as err:
        run_parser(path)
    assert err.value.path == str(path) and err.value.line == 37 and "invalid JSON" in err.value.reason


def test_message_without_date_names_the_field(tmp_path):
    data = json.loads((FIXTURES / "result.json").read_text(encoding="utf-8"))
    del data["chats"]["list"][1]["messages"][2]["date_unixtime"]
    del data["chats"]["list"][1]["messages"][2]["date"]
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(path)
    assert err.value.field == "chats.list[1].messages[2].date"


def test_messages_must_be_a_list(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{"name": "x", "type": "personal_chat", "id": 1, "messages": {"text_entities": []}}', encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(path)
    assert err.value.field == "messages"
