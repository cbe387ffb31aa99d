"""LinkedIn data export: Shares.csv (the owner's posts; also named Shares_<member id>.csv).

    Date,ShareLink,ShareCommentary,SharedUrl,MediaUrl,Visibility

Quirk of real exports: in a multi-line ShareCommentary every line after CSV parsing still carries
stray quotes (`first line"`, `"inner line"`, `"last line`); they are stripped when, and only
when, every line shows that pattern. Styled "mathematical bold" letters (𝗪𝗛𝗔𝗧) are kept as
written: they are part of the owner's style. Date has no offset; LinkedIn writes UTC (its
messages.csv says so explicitly), so it is read as UTC.
Source ids are `linkedin:<share id>` from the ShareLink URN, which stays the same across exports;
`linkedin:row<n>` only when a row has no URN.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timezone
from pathlib import Path

from twin.errors import InputError
from twin.records import Document, DocumentKind
from twin.ingest.base import ParseContext, Parser, Record
from twin.ingest.textio import clean, read_text
from twin.ingest.timestamps import parse_local

REQUIRED = ("Date", "ShareCommentary")
_URN_ID = re.compile(r"urn(?::|%3A)li(?::|%3A)(?:share|ugcPost|activity)(?::|%3A)(\d+)", re.IGNORECASE)


def unquote_lines(text: str) -> str:
    """Undo the export's per-line quoting of multi-line posts (see module docstring)."""
    lines = text.split("\n")
    if len(lines) < 2:
        return text
    inner_ok = all(len(line) >= 2 and line.startswith('"') and line.endswith('"') for line in lines[1:-1])
    if not (inner_ok and lines[0].endswith('"') and lines[-1].startswith('"')):
        return text
    fixed = [lines[0][:-1], *(line[1:-1] for line in lines[1:-1]), lines[-1][1:]]
    return "\n".join(fixed)


class LinkedInShares(Parser):
    name = "linkedin-shares"
    description = "LinkedIn export Shares.csv (Date,ShareLink,ShareCommentary,...)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        first = head.lstrip("\ufeff").split("\n", 1)[0]
        return "ShareCommentary" in first and "Date" in first

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        reader = csv.reader(io.StringIO(read_text(path), newline=""))
        header = [clean(h).strip() for h in next(reader, [])]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InputError(path, f"missing column(s) {', '.join(missing)}", line=1)
        col = {name: i for i, name in enumerate(header)}
        record = 0
        end = reader.line_num
        for row in reader:
            line, end = end + 1, reader.line_num  # where the row starts: multi-line posts span several
            if not row or row == [""]:
                continue
            record += 1
            if len(row) < len(header):
                raise InputError(path, f"expected {len(header)} columns, found {len(row)}", line=line)
            naive = parse_local(row[col["Date"]])
            if naive is None:
                raise InputError(path, f"unreadable date {row[col['Date']]!r}", line=line, field="Date")
            text = clean(unquote_lines(row[col["ShareCommentary"]].replace("\r\n", "\n"))).strip()
            if not text:
                ctx.skip("share without commentary (a repost)")
                continue
            link = row[col["ShareLink"]].strip() if "ShareLink" in col else ""
            urn = _URN_ID.search(link)
            yield Document(
                source="linkedin",
                source_id=f"linkedin:{urn.group(1)}" if urn else f"linkedin:row{record}",
                kind=DocumentKind.POST,
                title="",
                text=text,
                date=naive.replace(tzinfo=timezone.utc),
                url=link or None,
            )
