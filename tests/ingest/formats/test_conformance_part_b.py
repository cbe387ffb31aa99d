"""Every real sample of the Discord/Slack/Messenger/Instagram/X/LinkedIn formats is detected as its
format and parses to records; these parsers claim no other format's sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.ingest import registry
from tests.conftest import FORMATS, needs_shared, no_shared_files
from tests.ingest.formats.run_parser import run_parser

EXPECTED = {  # sample folder -> (format, file pattern)
    "discord_chat_exporter_json": ("discord-dce-json", "*.json"),
    "facebook_messenger_json": ("messenger-json", "*.json"),
    "instagram_json": ("instagram-json", "*.json"),
    "twitter_archive": ("x-archive", "*.js"),
    "linkedin_export": ("linkedin-shares", "*Shares*.csv"),
}
OURS = ("discord-dce-json", "slack-export", "instagram-json", "messenger-json", "x-archive", "linkedin-shares")


def samples() -> list[tuple[Path, str]]:
    found = [(path, fmt) for folder, (fmt, pattern) in EXPECTED.items() for path in sorted((FORMATS / folder).glob(pattern))]
    slack = FORMATS / "slack_export"
    return [*found, (slack, "slack-export")] if slack.is_dir() else found


@pytest.mark.parametrize(("path", "fmt"), samples() or no_shared_files(FORMATS, arity=2),
                         ids=lambda v: v.name if isinstance(v, Path) else v)
def test_sample_detected_and_parsed(path, fmt):
    assert registry.detect(path).name == fmt
    name, records, ctx = run_parser(path)
    assert name == fmt
    assert records or ctx.skipped  # like.js: every entry skipped with a reason, nothing stored
    if path.name != "smithjd__like_excerpt.js":
        assert len(records) > 0
    assert all(getattr(r, "timestamp", None) is None or r.timestamp.utcoffset() is not None for r in records)


@needs_shared(FORMATS)
def test_there_are_samples_for_every_format():
    assert {fmt for _, fmt in samples()} == set(OURS)


def other_samples() -> list[Path]:
    mine = set(EXPECTED) | {"slack_export"}
    return sorted(p for p in FORMATS.rglob("*") if p.is_file() and p.parts[-2] not in mine and p.name != "SOURCES.md")


@pytest.mark.parametrize("path", other_samples() or no_shared_files(FORMATS, "other formats' samples"), ids=lambda p: p.name)
def test_other_formats_not_claimed(path):
    from twin.ingest.textio import head

    text = head(path)
    claimed = [name for name in OURS if registry.get_parser(name).detect(path, text)]
    assert claimed == []


@needs_shared(FORMATS / "linkedin_export")
def test_linkedin_comments_are_not_taken_for_shares():
    from twin.ingest.textio import head

    comments = FORMATS / "linkedin_export" / "sanand0__Comments_excerpt.csv"
    assert not registry.get_parser("linkedin-shares").detect(comments, head(comments))
