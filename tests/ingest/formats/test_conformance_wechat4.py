"""The spec examples in ../shared/data/formats-spec: every export file is detected as its format
and parses to the same scenario (me wxid_me001; a private chat of 6 and a group of 8 messages,
2025-11-08 +08:00), whatever the writer's type numbers, system senders and time zones."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from twin.records import MessageKind
from twin.ingest import registry
from tests.conftest import SHARED, needs_shared, shared_files
from tests.ingest.formats.run_parser import run_parser

SPEC = SHARED / "data" / "formats-spec"
UTC8 = timezone(timedelta(hours=8))
EXPECTED = {  # file -> (format, messages)
    "chatlog/api_v1_chatlog_format_json.json": ("chatlog-json", 14),
    "chatlog/api_v1_chatlog_format_csv.csv": ("chatlog-csv", 14),
    "chatlog/webhook_post_body.json": ("chatlog-json", 3),
    "chatlab/group_v0.0.2.json": ("chatlab-json", 8),
    "chatlab/group_v0.0.2.jsonl": ("chatlab-jsonl", 8),
    "chatlab/private_v0.0.2.json": ("chatlab-json", 6),
    "weflow/export_json_private.json": ("weflow-json", 6),
    "weflow/export_json_group.json": ("weflow-json", 8),
    "weflow/api_v1_messages_group.json": ("weflow-api-json", 8),
    "weflow/api_v1_sessions_id_messages_chatlab_pull.json": ("chatlab-json", 8),
    "weflow/export_weclone_private.csv": ("weflow-weclone-csv", 5),  # the quote reply is not exported
    "weflow/export_txt_private.txt": ("weflow-txt", 6),
    "weclone/dataset/csv/alice/alice_0_6.csv": ("wechat-pywxdump-csv", 6),
}
# Not chat exports: the generator, the README, WeClone's users.json, and the SSE push stream,
# which carries display names but no sender ids and no own messages (a trigger to pull, not data).
NOT_EXPORTS = {"_gen.py", "README.md", "weclone/dataset/csv/alice/users.json", "weflow/api_v1_push_messages_sse.txt"}
CHATLOG_TEXT = "chatlog/api_v1_chatlog_format_text.txt"


def parse(rel: str, tmp_path: Path | None = None):
    path = SPEC / rel
    if rel == CHATLOG_TEXT:  # times only (a one-day request): the day comes from the file name
        path = tmp_path / "chatlog_2025-11-08.txt"
        shutil.copy(SPEC / rel, path)
    return run_parser(path, ids=["wxid_me001"], tz="Asia/Shanghai")


ALL = [*EXPECTED, CHATLOG_TEXT]


@needs_shared(SPEC)
def test_every_spec_file_is_covered():
    found = {str(p.relative_to(SPEC)) for p in shared_files(SPEC)}
    assert found == set(ALL) | NOT_EXPORTS


@needs_shared(SPEC)
@pytest.mark.parametrize("rel", list(EXPECTED))
def test_detected_and_counted(rel):
    fmt, count = EXPECTED[rel]
    assert registry.detect(SPEC / rel).name == fmt
    name, records, ctx = parse(rel)
    assert name == fmt and len(records) == count and not ctx.warnings


@needs_shared(SPEC)
def test_chatlog_text_needs_the_day_and_then_parses(tmp_path):
    assert registry.detect(SPEC / CHATLOG_TEXT).name == "chatlog-text"
    name, records, _ = parse(CHATLOG_TEXT, tmp_path)
    assert name == "chatlog-text" and len(records) == 14


@needs_shared(SPEC)
@pytest.mark.parametrize("rel", ALL)
def test_same_scenario_whatever_the_writer(rel, tmp_path):
    """Owner, times, recalls and system lines agree across writers (research §7: recall is 10000,
    10002, 80, 81 or 99; system rows are sent by 系统消息, the chat's id or nobody; times are
    local with an offset, local without one, UTC, or epochs)."""
    _, records, _ = parse(rel, tmp_path)
    by_text = {r.text: r for r in records}
    mine = {r.text for r in records if r.is_owner and r.kind is MessageKind.TEXT}
    assert mine <= {"Morning! Saturday works for me 🙂", "Yes，周六上午可以",
                    "周六早上8点在地铁站集合 / Meet at 8am Saturday at the metro station."}
    assert not any(r.is_owner for r in records if r.kind is MessageKind.SYSTEM)
    for r in records:
        if "撤回了一条消息" in r.text:
            assert r.kind is MessageKind.RECALLED, (rel, r)
        if "加入了群聊" in r.text:
            assert r.kind is MessageKind.SYSTEM and r.sender_id == "system", (rel, r)
    # one message in every export that has it: the same instant, whatever the writer's clock
    if "Morning! Saturday works for me 🙂" in by_text:
        morning = by_text["Morning! Saturday works for me 🙂"]
        assert morning.timestamp == datetime(2025, 11, 8, 10, 0, 40, tzinfo=UTC8) and morning.is_owner
    if "I'll bring snacks 🍫" in by_text:
        snacks = by_text["I'll bring snacks 🍫"]
        assert snacks.timestamp == datetime(2025, 11, 8, 18, 3, tzinfo=UTC8) and not snacks.is_owner
    images = [r for r in records if r.kind is MessageKind.IMAGE]
    assert images or rel == "chatlog/webhook_post_body.json"  # the webhook sample carries none
    assert all(r.text == "[图片]" for r in images)  # no URL, md5 or path kept


@needs_shared(SPEC)
def test_server_ids_are_shared_across_tools():
    """ChatLab, WeFlow JSON, WeFlow's API and its WeClone CSV name a message by its server id, so
    the same message from two tools is stored once; chatlog has no server id but its JSON,
    CSV and webhook agree with each other."""
    id_sets = {rel: {r.id for r in parse(rel)[1]} for rel in (
        "chatlab/group_v0.0.2.json", "chatlab/group_v0.0.2.jsonl", "weflow/export_json_group.json",
        "weflow/api_v1_messages_group.json")}
    source_ids = {rel: {r.source_id for r in parse(rel)[1]} for rel in id_sets}
    assert len({frozenset(s) for s in source_ids.values()}) == 1
    assert "wechat:7000000000000000204" in source_ids["chatlab/group_v0.0.2.json"]
    assert id_sets["chatlab/group_v0.0.2.json"] == id_sets["chatlab/group_v0.0.2.jsonl"]
    api_json = {r.source_id: r.id for r in parse("chatlog/api_v1_chatlog_format_json.json")[1]}
    webhook = {r.source_id: r.id for r in parse("chatlog/webhook_post_body.json")[1]}
    csv = {r.source_id: r.id for r in parse("chatlog/api_v1_chatlog_format_csv.csv")[1]}
    assert all(api_json[k] == v for k, v in webhook.items())  # the webhook's rendered quote is cut the same way
    assert csv == api_json  # CSV's rebuilt seq, typed media and owner give the JSON's ids
