"""LinkedIn Shares.csv: multi-line posts with the export's stray quotes, URN ids, UTC dates."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from twin.errors import InputError
from twin.records import DocumentKind
from twin.ingest.formats.linkedin import unquote_lines
from tests.conftest import FORMATS, needs_shared
from tests.ingest.formats.run_parser import run_parser

FIXTURE = Path(__file__).parents[2] / "fixtures" / "ingest" / "linkedin" / "Shares.csv"
SAMPLE = FORMATS / "linkedin_export" / "sanand0__Shares_excerpt.csv"


def test_unquote_lines_only_when_every_line_has_the_quirk():
    assert unquote_lines('one"\n""\n"two "quoted""\n"three') == 'one\n\ntwo "quoted"\nthree'
    assert unquote_lines('plain\nlines "here"') == 'plain\nlines "here"'
    assert unquote_lines('"single line"') == '"single line"'


def test_fixture_posts():
    fmt, docs, ctx = run_parser(FIXTURE)
    assert fmt == "linkedin-shares"
    assert ctx.skipped == {"share without commentary (a repost)": 1}
    assert [d.source_id for d in docs] == ["linkedin:7180000000000000001", "linkedin:7170000000000000002"]
    assert docs[0].text == (
        "Three things I learned shipping our first on-device model:\n\n"
        "𝗦𝗺𝗮𝗹𝗹 wins. Latency beats accuracy.\nMeasure on the slowest phone you own 📱\n\nWhat would you add?"
    )
    assert docs[0].date == datetime(2024, 4, 2, 18, 5, tzinfo=timezone.utc)
    assert docs[0].kind is DocumentKind.POST and docs[0].url.endswith("share%3A7180000000000000001")
    assert docs[1].text == 'We\'re hiring! Say "hi" if you like Rust.'


@needs_shared(SAMPLE)
def test_real_sample():
    fmt, docs, ctx = run_parser(SAMPLE)
    assert fmt == "linkedin-shares" and len(docs) == 4 and not ctx.skipped
    first = docs[0]
    assert first.source_id == "linkedin:7345821826846990338"
    assert first.date == datetime(2025, 7, 1, 14, 33, 22, tzinfo=timezone.utc)
    assert first.text.startswith("I'm off for a 10-day Vipassana meditation program.\n\n𝗪𝗛𝗔𝗧? A 10-day residential")
    assert first.text.endswith("But I won't be replying.")
    assert not any(line.startswith('"') or line.endswith('"') for d in docs for line in d.text.split("\n"))
    assert '𝘮𝘢𝘯𝘺 ways:' in docs[2].text and 'evaluate "smarter" outputs' in docs[2].text


def test_wrong_columns_name_line_one(tmp_path):
    bad = tmp_path / "Shares.csv"
    bad.write_text("Date,ShareLink,Commentary\n2024-01-01 00:00:00,x,hello\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(bad, fmt="linkedin-shares")
    assert err.value.line == 1 and "ShareCommentary" in str(err.value)


def test_bad_date_names_the_line_the_row_starts_on(tmp_path):
    bad = tmp_path / "Shares.csv"
    bad.write_text(FIXTURE.read_text(encoding="utf-8").replace("2024-03-15 09:00:00", "15/03/2024"), encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(bad)
    assert (err.value.line, err.value.field) == (8, "Date")  # the first post spans lines 2-7
