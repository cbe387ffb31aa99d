"""X archive tweets.js: entity unescaping, t.co handling, retweets skipped; like.js refused as posts."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from twin.errors import InputError
from twin.records import DocumentKind
from twin.ingest.formats.twitter import created_at
from tests.conftest import FORMATS, needs_shared
from tests.ingest.formats.run_parser import run_parser

FIXTURE = Path(__file__).parents[2] / "fixtures" / "ingest" / "twitter" / "tweets.js"
SAMPLES = FORMATS / "twitter_archive"


def test_created_at_keeps_offset():
    assert created_at("Wed Oct 19 20:07:25 +0000 2022") == datetime(2022, 10, 19, 20, 7, 25, tzinfo=timezone.utc)
    assert created_at("Wed Oct 19 20:07:25 +0530 2022").utcoffset().total_seconds() == 5.5 * 3600
    assert created_at("2022-10-19") is None


def test_fixture_posts():
    fmt, docs, ctx = run_parser(FIXTURE)
    assert fmt == "x-archive"
    assert ctx.skipped == {"retweet (not your words)": 1, "tweet without text (media only)": 1}
    assert [d.source_id for d in docs] == ["x:1700000000000000001", "x:1700000000000000002", "x:1700000000000000003"]
    assert all(d.kind is DocumentKind.POST and d.source == "x" for d in docs)
    assert docs[0].text == "Shipping day > meeting day. Q&A at 3pm 🚀"
    assert docs[0].date == datetime(2024, 3, 1, 8, 15, tzinfo=timezone.utc)
    assert docs[0].url == "https://x.com/i/web/status/1700000000000000001"
    assert docs[1].text == "New post on slow travel: https://example.org/slow-travel"  # t.co expanded
    assert docs[2].text == "Sunset over the harbour"  # the t.co link to the photo is dropped


@needs_shared(SAMPLES)
def test_real_tweets_sample():
    fmt, docs, ctx = run_parser(SAMPLES / "smithjd__tweets_excerpt.js")
    assert fmt == "x-archive" and len(docs) == 6
    assert ctx.skipped == {"retweet (not your words)": 1}
    first = docs[0]
    assert first.source_id == "x:1582825767519809536"
    assert first.text == "@sharon000 @lorenzwalthert @krlmlr Does it work OK with .qmd files?"
    assert first.date == datetime(2022, 10, 19, 20, 7, 25, tzinfo=timezone.utc)
    musings = next(d for d in docs if d.source_id == "x:1552312824818458627")
    assert musings.text.endswith("https://learningalliances.net/2022/07/musing-about-data-analytics-in-faith-based-organizations/")
    assert not any("t.co/" in d.text for d in docs)


@needs_shared(SAMPLES)
def test_real_likes_are_not_ingested_as_posts():
    fmt, docs, ctx = run_parser(SAMPLES / "smithjd__like_excerpt.js")
    assert fmt == "x-archive" and docs == []
    assert ctx.skipped == {"likes are not your posts (like.js holds tweets you liked)": 4}
    assert any("not your posts" in w for w in ctx.warnings)


def test_truncated_archive_names_the_line(tmp_path):
    bad = tmp_path / "tweets.js"
    bad.write_text(FIXTURE.read_text(encoding="utf-8")[:1500], encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(bad)
    assert err.value.path == str(bad) and err.value.line is not None and err.value.line > 30


def test_missing_created_at_names_the_field(tmp_path):
    bad = tmp_path / "tweets.js"
    bad.write_text(FIXTURE.read_text(encoding="utf-8").replace('"created_at": "Sat Mar 02 21:40:10 +0000 2024"', '"created_at": "2 March"'), encoding="utf-8")
    with pytest.raises(InputError) as err:
        run_parser(bad)
    assert err.value.field == "[1].tweet.created_at"
