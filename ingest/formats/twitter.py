"""X/Twitter archive: data/tweets.js (tweet.js in older archives, tweets-part1.js... when split).

The files are JavaScript, `window.YTD.tweets.part0 = [{"tweet": {...}}, ...]`: we cut off the
assignment and parse the array as JSON (never eval). Each own tweet becomes a POST document:
`full_text` with HTML entities undone, t.co links replaced by the link they stand for
(`entities.urls`) and t.co links to attached media removed (the media is not in the text).
Retweets ("RT @user: ...", someone else's words, cut off with "…") are skipped and counted.

Other files of the archive use the same `window.YTD.<name>` wrapper. like.js holds other
people's tweets that the owner liked: it is recognised and skipped with a clear reason, never
ingested as the owner's posts; so are the other non-post files.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from twin.errors import InputError
from twin.records import Document, DocumentKind
from twin.ingest.base import ParseContext, Parser, Record
from twin.ingest.formats.jsonfile import Fields, expect, parse_json
from twin.ingest.textio import clean, read_text

_WRAPPER = re.compile(r"^\s*window\.YTD\.(\w+)\.part\d+\s*=\s*")
POST_FILES = {"tweets", "tweet"}
_MONTHS = {m: i for i, m in enumerate(("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec").split(), 1)}
# "Wed Oct 19 20:07:25 +0000 2022"; parsed by hand so the result does not depend on the locale.
_CREATED_AT = re.compile(r"^\w{3} (\w{3}) (\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2}) (\d{4})$")


def created_at(value: str) -> datetime | None:
    match = _CREATED_AT.match(value.strip())
    if not match or match.group(1) not in _MONTHS:
        return None
    month, day, hh, mm, ss, sign, oh, om, year = match.groups()
    offset = timedelta(hours=int(oh), minutes=int(om)) * (1 if sign == "+" else -1)
    try:
        return datetime(int(year), _MONTHS[month], int(day), int(hh), int(mm), int(ss), tzinfo=timezone(offset))
    except ValueError:
        return None


def load_ytd(path: Path) -> tuple[str, list, int]:
    """(archive file kind, its entries, line where the array starts) of a window.YTD file."""
    text = read_text(path).lstrip("\ufeff")
    match = _WRAPPER.match(text)
    if not match:
        raise InputError(path, "not an X archive file: expected 'window.YTD.<name>.part0 = ['", line=1)
    body = text[match.end():].rstrip().removesuffix(";")
    first_line = text[: match.end()].count("\n") + 1
    entries = parse_json(path, body, first_line=first_line)
    return match.group(1), expect(path, entries, list, match.group(1)), first_line


def tweet_text(tweet: Fields) -> str:
    text = tweet.require("full_text")
    entities = tweet.sub("entities")
    for i, raw in enumerate(entities.get("urls", list, default=[])):
        url = Fields(tweet.path, raw, entities.field(f"urls[{i}]"))
        short, expanded = url.get("url", default=""), url.get("expanded_url", default="")
        if short and expanded:
            text = text.replace(short, expanded)
    media = entities.get("media", list, default=[]) + tweet.sub("extended_entities").get("media", list, default=[])
    for raw in media:
        short = raw.get("url") if isinstance(raw, dict) else None
        if short:
            text = text.replace(short, "")
    return clean(html.unescape(text)).strip()


class XArchive(Parser):
    name = "x-archive"
    description = "X/Twitter archive data/tweets.js (like.js and other files are recognised and skipped)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        return _WRAPPER.match(head.lstrip("\ufeff")) is not None

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        kind, entries, _ = load_ytd(path)
        if kind == "like":
            ctx.skip("likes are not your posts (like.js holds tweets you liked)", len(entries))
            ctx.warn("like.js holds other people's tweets that you liked, not your posts: nothing ingested; use data/tweets.js")
            return
        if kind not in POST_FILES:
            ctx.skip(f"X archive {kind}.js holds no posts", len(entries))
            return
        for i, entry in enumerate(entries):
            wrapper = Fields(path, entry, f"[{i}]")
            tweet = Fields(path, wrapper.obj.get("tweet", wrapper.obj), wrapper.field("tweet"))
            tweet_id = tweet.get("id_str", default="") or tweet.require("id")
            text = tweet_text(tweet)
            if text.startswith("RT @"):
                ctx.skip("retweet (not your words)")
                continue
            if not text:
                ctx.skip("tweet without text (media only)")
                continue
            date = created_at(tweet.require("created_at"))
            if date is None:
                raise InputError(path, f"unreadable created_at {tweet.obj['created_at']!r}", field=tweet.field("created_at"))
            yield Document(
                source="x",
                source_id=f"x:{tweet_id}",
                kind=DocumentKind.POST,
                title="",
                text=text,
                date=date,
                url=f"https://x.com/i/web/status/{tweet_id}",
            )
