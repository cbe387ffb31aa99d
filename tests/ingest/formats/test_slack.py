"""Slack export, as a folder and as a zip: users, channels and DMs, mrkdwn, subtypes, threads."""

from __future__ import annotations

import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from twin.errors import InputError
from twin.records import ChatKind, MessageKind
from twin.ingest import registry
from tests.conftest import FORMATS, needs_shared
from tests.ingest.formats.run_parser import run_parser

FIXTURE = Path(__file__).parents[2] / "fixtures" / "ingest" / "slack" / "export"
SAMPLE = FORMATS / "slack_export"


def zip_export(folder: Path, target: Path, top: str = "", replace: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for file in sorted(folder.rglob("*.json")):
            name = file.relative_to(folder).as_posix()
            text = (replace or {}).get(name, file.read_text(encoding="utf-8"))
            archive.writestr(top + name, text)
    return target


def check_fixture_records(records, skipped):
    assert skipped == {"bot message": 1}
    by_id = {m.source_id: m for m in records}
    assert len(records) == 7
    join = by_id["slack:C01GEN:1709280000.000100"]
    assert join.kind is MessageKind.SYSTEM and join.text == "@bochen has joined the channel"
    notes = by_id["slack:C01GEN:1709280060.000200"]
    assert notes.text == "@here release notes are up: notes & #general rules <3"
    assert notes.sender_name == "bochen" and not notes.is_owner
    assert notes.conversation_name == "#general" and notes.chat_kind is ChatKind.GROUP
    reply = by_id["slack:C01GEN:1709280120.000300"]
    assert reply.is_owner and reply.sender_name == "Lin Wei" and reply.text == "thanks @bochen! reading now 👀"
    assert reply.reply_to == "slack:C01GEN:1709280060.000200"
    assert reply.timestamp == datetime(2024, 3, 1, 8, 2, 0, 300, tzinfo=timezone.utc)
    upload = by_id["slack:C01GEN:1709280240.000500"]
    assert (upload.kind, upload.text) == (MessageKind.IMAGE, "[image]")
    assert by_id["slack:C01GEN:1709280300.000600"].kind is MessageKind.RECALLED
    dm = by_id["slack:D0DM00001:1709366460.000002"]
    assert dm.chat_kind is ChatKind.PRIVATE and dm.is_owner and dm.text == "sure, noon works"


def test_folder_export():
    fmt, records, ctx = run_parser(FIXTURE, ids=["U01LIN"])
    assert fmt == "slack-export"
    check_fixture_records(records, ctx.skipped)


def test_zip_export_with_top_folder(tmp_path):
    archive = zip_export(FIXTURE, tmp_path / "Acme Slack export.zip", top="Acme Slack export/")
    fmt, records, ctx = run_parser(archive, names=["Lin Wei"])
    assert fmt == "slack-export"
    check_fixture_records(records, ctx.skipped)


def test_owner_user_id_listed_under_names_still_matches():
    _, records, _ = run_parser(FIXTURE, names=["U01LIN"])
    assert sum(m.is_owner for m in records) == 3


def test_export_folder_is_one_input():
    assert registry.expand([FIXTURE]) == [FIXTURE]


@needs_shared(SAMPLE)
def test_real_sample_2016_workspace():
    fmt, records, ctx = run_parser(SAMPLE, ids=["U0BMQB6JE"])
    assert fmt == "slack-export"
    assert len(records) == 20 and ctx.skipped == {"bot message": 16}  # traveling-sailor has only bot posts
    assert {m.conversation_id for m in records} == {"slack:C0JGLMMNX"}
    assert sum(m.is_owner for m in records) == 18  # all but one message each from U0BMM2FEH and U0BMS113R
    first = records[0]
    assert first.source_id == "slack:C0JGLMMNX:1454884927.000002"
    assert first.timestamp == datetime(2016, 2, 7, 22, 42, 7, 2, tzinfo=timezone.utc)
    assert first.text.startswith("@abilinski: https://bitbucket.org/hfaran/security_a2/")
    quoted = next(m for m in records if m.sender_id == "U0BMM2FEH")
    assert quoted.text.startswith('>"Essentially') and quoted.sender_name == "heroeshannibal"


def test_truncated_day_file_in_zip_names_member_and_line(tmp_path):
    day = "general/2024-03-01.json"
    text = (FIXTURE / day).read_text(encoding="utf-8")
    archive = zip_export(FIXTURE, tmp_path / "export.zip", replace={day: text[: len(text) // 2]})
    with pytest.raises(InputError) as err:
        run_parser(archive)
    assert err.value.path.endswith("export.zip/general/2024-03-01.json") and err.value.line is not None


def test_message_without_ts_names_the_field(tmp_path):
    archive = zip_export(FIXTURE, tmp_path / "export.zip", replace={"D0DM00001/2024-03-02.json": '[{"type": "message", "user": "U02BO", "text": "hi"}]'})
    with pytest.raises(InputError) as err:
        run_parser(archive)
    assert err.value.field == "[0].ts" and "D0DM00001/2024-03-02.json" in err.value.path


def test_plain_zip_is_not_a_slack_export(tmp_path):
    other = tmp_path / "photos.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("a.json", "{}")
    from twin.ingest.formats.slack import SlackExport

    assert not SlackExport.detect(other, "")
