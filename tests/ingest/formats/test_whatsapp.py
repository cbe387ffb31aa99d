"""WhatsApp TXT: Android and iOS layouts, day/month inference, 12/24 h, localised placeholders,
system lines, multi-line bodies; the real locale-variant samples agree with each other."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from twin.config import DatasetConfig
from twin.errors import InputError
from twin.finetune.sessions import placeholder
from twin.records import ChatKind, MessageKind
from twin.ingest.formats.whatsapp import WhatsAppTxt, chat_name
from twin.ingest.textio import head
from tests.conftest import FORMATS, needs_shared, shared_files
from tests.ingest.formats.run_parser import run_parser

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ingest" / "whatsapp"
ANDROID = FIXTURES / "WhatsApp Chat with Alice.txt"
IOS = FIXTURES / "WhatsApp Chat - Reise 2021" / "_chat.txt"
SAMPLES = FORMATS / "whatsapp_txt"
UTC8 = timezone(timedelta(hours=8))
CHAT_MINER = sorted(SAMPLES.glob("chat-miner__*.txt"))


def test_android_us_layout():
    fmt, records, ctx = run_parser(ANDROID, names=["Lin"], tz="Asia/Shanghai")
    assert fmt == "whatsapp-txt" and len(records) == 8
    assert ctx.warnings == ["dates are ambiguous (no day above 12); read as month/day (12-hour clock: US month/day); "
                            "set ingest.date_order to 'dmy' or 'mdy' if that is wrong"]
    assert all(r.conversation_id == "whatsapp:Alice" and r.chat_kind is ChatKind.PRIVATE for r in records)
    assert [r.source_id for r in records] == [f"whatsapp:Alice:{n}" for n in range(1, 9)]
    notice, hi, reply, media, deleted, photo, place, edited = records
    assert notice.kind is MessageKind.SYSTEM and notice.sender_id == "system"
    assert hi.timestamp == datetime(2020, 12, 3, 21, 42, tzinfo=UTC8)  # 9:42 PM behind a U+202F space
    assert not hi.is_owner and hi.sender_name == "Alice"
    assert reply.is_owner and reply.text == "Sure: 7pm?\nfirst line continues\n\n12/3/20 is also just text here"
    assert media.kind is MessageKind.OTHER and media.timestamp == datetime(2020, 12, 4, 8, 5, tzinfo=UTC8)
    assert deleted.kind is MessageKind.RECALLED
    assert photo.kind is MessageKind.IMAGE and photo.timestamp == datetime(2020, 12, 5, 0, 15, tzinfo=UTC8)  # 12:15 AM
    assert place.kind is MessageKind.LOCATION and place.timestamp.hour == 12  # 12:30 PM
    assert edited.text == "see you 👩🏻\u200d⚖️"  # edit marker dropped, ZWJ emoji intact


def test_ios_layout_with_direction_marks():
    fmt, records, ctx = run_parser(IOS, names=["Lin"], tz="Asia/Shanghai")
    assert fmt == "whatsapp-txt" and len(records) == 7 and not ctx.warnings  # 31/12 decides day-first
    assert {r.conversation_id for r in records} == {"whatsapp:Reise 2021"}  # the folder names the chat
    assert all(r.chat_kind is ChatKind.GROUP for r in records)  # Bob, Lin, Carol
    notice = records[0]  # iOS puts the group name in front of the encryption notice
    assert notice.kind is MessageKind.SYSTEM and notice.text.startswith("Messages and calls are end-to-end")
    assert records[1].text == "Guten Rutsch! 🎆" and records[1].timestamp == datetime(2020, 12, 31, 21, 41, 30, tzinfo=UTC8)
    assert records[2].is_owner and records[2].text == "Danke, euch auch"
    assert (records[3].kind, records[3].text) == (MessageKind.IMAGE, "image omitted")  # LRM removed
    assert records[4].kind is MessageKind.OTHER  # <Medien ausgeschlossen>
    assert records[5].kind is MessageKind.IMAGE  # <attached: ...-PHOTO-...jpg>
    assert records[6].kind is MessageKind.SYSTEM and records[6].text == "Carol added Dave"


def test_ambiguous_dates_resolved_by_sequence():
    _, records, ctx = run_parser(FIXTURES / "Ana.txt")
    assert [r.timestamp.date().isoformat() for r in records] == ["2021-01-05", "2021-01-06", "2021-02-01"]
    assert "day/month" in ctx.warnings[0] and "in sequence" in ctx.warnings[0]


def test_configured_date_order_settles_ambiguous_files_only():
    # Ana.txt reads in sequence as day/month; the owner says month/day and is obeyed, silently
    _, records, ctx = run_parser(FIXTURES / "Ana.txt", date_order="mdy")
    assert [r.timestamp.date().isoformat() for r in records] == ["2021-05-01", "2021-06-01", "2021-01-02"]
    assert not ctx.warnings
    # a file whose numbers decide (31/12) keeps its own order whatever the setting
    _, records, _ = run_parser(IOS, names=["Lin"], date_order="mdy")
    assert records[1].timestamp.date().isoformat() == "2020-12-31"


def test_impossible_date_names_line_and_field():
    path = FIXTURES / "bad_date.txt"
    with pytest.raises(InputError) as err:
        run_parser(path)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), 2, "date")


def test_text_before_the_first_message_is_refused(tmp_path):
    path = tmp_path / "chat.txt"
    path.write_text("hello\n12/31/20, 9:41 PM - A: hi\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(path, fmt="whatsapp-txt")
    assert err.value.line == 1


@needs_shared(SAMPLES)
def test_real_group_sample():
    fmt, records, ctx = run_parser(SAMPLES / "chat-analytics__4A_11M.txt", names=["Alice"])
    assert fmt == "whatsapp-txt" and len(records) == 14
    assert [r.kind for r in records[:3]] == [MessageKind.SYSTEM] * 3
    assert records[1].text == 'Alice created group "Some cool group chat"'
    assert records[3].sender_name == "Bob" and records[3].text == "hello"
    assert records[3].timestamp == datetime(2020, 9, 12, 23, 55, tzinfo=timezone.utc)  # 12/9/20 read day-first
    assert sum(r.is_owner for r in records) == 3 and all(r.chat_kind is ChatKind.GROUP for r in records)
    assert records[11].text == "👩🏻\u200d⚖️"
    assert ctx.warnings and "day/month" in ctx.warnings[0]


@needs_shared(SAMPLES)
def test_real_private_sample_keeps_file_order():
    _, records, ctx = run_parser(SAMPLES / "chat-analytics__2A_5M.txt")
    assert [(r.sender_name, r.text) for r in records][3:] == [("B", "<media omitted>"), ("A", "This message should be reordered")]
    assert records[3].kind is MessageKind.OTHER and records[0].chat_kind is ChatKind.PRIVATE
    assert records[4].source_id == "whatsapp:chat-analytics__2A_5M:5" and records[4].timestamp.minute == 2
    assert not ctx.warnings  # every date is 1/1/21: both orders agree


@needs_shared(SAMPLES)
def test_real_locale_variants_agree():
    """Five layouts of one chat (m/d, d/m, y/m/d, bracketed, Spanish 12 h) give the same messages."""
    parsed = {p.name: run_parser(p, names=["John Doe"])[1] for p in CHAT_MINER}
    views = {name: [(r.timestamp, r.sender_name, r.text, r.kind, r.is_owner) for r in recs] for name, recs in parsed.items()}
    reference = views["chat-miner__test_yyyymmdd_24hrs.txt"]
    assert all(view == reference for view in views.values())
    assert len(reference) == 9
    assert reference[1][1:3] == ("John Doe", ".")  # 'John Doe:.' with no space after the colon
    assert reference[2][2] == "Lorem ipsum dolor sit amet,\nconsectetur adipiscing elit. Duis libero."
    assert reference[3][1:3] == ("John-John Doe", "Lorem ipsum : dolor sit amet.")
    assert reference[4][0] == datetime(2020, 6, 20, 0, 8, tzinfo=timezone.utc)  # '00:08 a. m.'
    assert reference[4][3] is MessageKind.SYSTEM and reference[5][2] == "You were added"
    assert reference[7][0] == datetime(2021, 12, 20, 12, 10, tzinfo=timezone.utc)  # '12:10 p. m.'
    assert reference[7][1] == "🤓"


@needs_shared(SAMPLES)
def test_real_whatstk_samples():
    _, lorem, ctx = run_parser(SAMPLES / "whatstk__lorem_first60lines.txt", names=["Mary"])
    assert len(lorem) == 60 and not ctx.warnings  # 15-01-20: day-first
    assert lorem[0].timestamp == datetime(2020, 1, 15, 2, 22, 56, tzinfo=timezone.utc)
    assert lorem[2].sender_id == "+1 123 456 789" and lorem[0].is_owner
    _, pokemon, _ = run_parser(SAMPLES / "whatstk__pokemon.txt")
    assert len(pokemon) == 20
    assert [r.kind for r in pokemon[:2]] == [MessageKind.SYSTEM, MessageKind.SYSTEM]  # 'Pokemon Chat: Messages...'
    assert pokemon[12].sender_name == "Jessie & James" and pokemon[-1].text == "Wo-bbu-ffet"
    assert pokemon[-1].timestamp == datetime(2016, 10, 31, 12, 23, tzinfo=timezone.utc)


@pytest.mark.parametrize("path", shared_files(SAMPLES, "*.txt"), ids=lambda p: p.name)
def test_every_real_sample_is_detected_and_parsed(path):
    fmt, records, _ = run_parser(path)
    assert fmt == "whatsapp-txt" and len(records) > 0


def test_never_claims_other_fixtures():
    others = [p for p in FIXTURES.parent.rglob("*") if p.is_file() and "whatsapp" not in p.parts]
    for path in sorted(others):
        assert not WhatsAppTxt.detect(path, head(path)), path


@needs_shared(FORMATS)
def test_never_claims_other_real_samples():
    others = [p for p in FORMATS.rglob("*") if p.is_file() and p.parent != SAMPLES and p.suffix != ".md"]
    for path in sorted(others):
        assert not WhatsAppTxt.detect(path, head(path)), path


def test_chat_names_from_file_names():
    assert chat_name(Path("WhatsApp Chat with Bob Smith.txt")) == "Bob Smith"
    assert chat_name(Path("与小王的 WhatsApp 聊天.txt")) == "小王"
    assert chat_name(Path("exports/WhatsApp Chat - Team/_chat.txt")) == "Team"
    assert chat_name(Path("notes.txt")) == "notes"


@pytest.mark.parametrize(
    "line, expected",
    [
        ("2020/6/13 下午9:41 - 小王: 到了吗", datetime(2020, 6, 13, 21, 41)),  # Chinese 下午 before the time
        ("13.06.18, 21.25 - Jan: hallo", datetime(2018, 6, 13, 21, 25)),  # dots in date and time
        ("[3/6/18, 1:55:00\u202fPM] Ann: hi", datetime(2018, 3, 6, 13, 55)),  # iOS US with U+202F
        ("\u200e[13/6/2018 21:25:15] Ann: hi", datetime(2018, 6, 13, 21, 25, 15)),  # no comma, LRM
    ],
)
def test_more_header_layouts(tmp_path, line, expected):
    path = tmp_path / "chat.txt"
    path.write_text(line + "\n", encoding="utf-8")
    fmt, records, _ = run_parser(path)
    assert fmt == "whatsapp-txt" and records[0].timestamp.replace(tzinfo=None) == expected
    assert records[0].kind is MessageKind.TEXT and records[0].sender_name in {"小王", "Jan", "Ann"}


def test_android_attachments_by_file_name(tmp_path):
    path = tmp_path / "chat.txt"
    path.write_text(
        "13/06/2018, 21:25 - Jan: VID-20180613-WA0002.mp4 (Datei angehängt)\n"
        "13/06/2018, 21:26 - Jan: PTT-20180613-WA0003.opus (file attached)\n"
        "13/06/2018, 21:27 - Jan: Rechnung.pdf (file attached)\n"
        "13/06/2018, 21:28 - Jan: <Media omitted>\n",
        encoding="utf-8",
    )
    _, records, _ = run_parser(path)
    assert [r.kind for r in records] == [MessageKind.VIDEO, MessageKind.VOICE, MessageKind.FILE, MessageKind.OTHER]


def test_polls_are_one_message_of_kind_poll(tmp_path):
    path = tmp_path / "chat.txt"
    path.write_text(
        "08/12/22, 7:16 pm - Ravi: POLL:\n"
        "Are you ready for the trip?\n"
        "OPTION: Yes (35 votes)\n"
        "OPTION: No (0 votes)\n"
        "\n"
        "08/12/22, 7:17 pm - Lin: yes!\n"
        "\u200e[08/12/22, 19:18:00] Ravi: \u200ePOLL:\n"  # iOS marks each line
        "\u200eWhere: station or cafe?\n"
        "\u200eOPTION: station (1 vote)\n"
        "\u200eOPTION: cafe (2 votes)\n"
        "08/12/22, 7:19 pm - Lin: POLL: is not a poll without options\n",
        encoding="utf-8",
    )
    _, records, _ = run_parser(path, names=["Lin"])
    assert [(r.kind, r.sender_name) for r in records] == [
        (MessageKind.POLL, "Ravi"), (MessageKind.TEXT, "Lin"), (MessageKind.POLL, "Ravi"), (MessageKind.TEXT, "Lin")]
    assert records[0].text == "Are you ready for the trip?\n- Yes (35 votes)\n- No (0 votes)"
    assert records[2].text == "Where: station or cafe?\n- station (1 vote)\n- cafe (2 votes)"
    assert not records[0].is_text and records[3].text == "POLL: is not a poll without options"
    labels = DatasetConfig().placeholder_labels
    assert placeholder(records[0], labels["en"]) == "[poll]" and placeholder(records[0], labels["zh"]) == "[投票]"
