"""The parser interface every export format implements.

A parser recognises its files (`detect`, from the path and the first few KB of text) and turns
one input into `Message`/`Document` records (`parse`). Anything that cannot be read raises
`InputError` naming the file and line/field; rows it deliberately leaves out are counted with
`ctx.skip(reason)`. Parsers do not scrub PII or store anything: the pipeline does that.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

from twin.records import Document, Message
from twin.ingest.owner import OwnerResolver

Record = Message | Document

# Confidence levels for `Parser.detect`, so scores mean the same across parsers.
CERTAIN = 1.0  # a marker only this exporter writes
LIKELY = 0.8  # the shape fits, and a more specific exporter may claim the same file
FALLBACK = 0.1  # accepts anything of a file type (documents)


@dataclass
class ParseContext:
    path: Path
    tz: ZoneInfo  # for exports that write local time without an offset
    owner: OwnerResolver
    date_order: str = "auto"  # ingest.date_order: WhatsApp's d/m vs m/d when the user knows it
    skipped: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def local(self, naive: datetime) -> datetime:
        """Attach the configured source timezone to a naive local timestamp."""
        return naive.replace(tzinfo=self.tz)


class Parser(ABC):
    name: ClassVar[str]  # used by --format and in the summary table
    description: ClassVar[str]
    handles_directories: ClassVar[bool] = False  # a folder (e.g. a Slack export) is one input

    @classmethod
    @abstractmethod
    def detect(cls, path: Path, head: str) -> float:
        """How sure this parser is that it reads the input: 0 (no) to 1 (certain); True/False
        count as 1/0. `head` is its first KB decoded ("" for folders). The most confident
        parser wins, so a format that also matches a more specific one's files scores lower."""

    @abstractmethod
    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        """Yield the records of one input, in file order."""
