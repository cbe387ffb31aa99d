"""Ingest files into the corpus: detect -> parse -> scrub PII -> store, one transaction per file."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.config import TwinConfig
from core.errors import InputError, TwinError
from core.manifest import file_sha256
from core.records import Document, Message
from ingest import registry
from ingest.base import ParseContext, Parser
from ingest.owner import OwnerResolver
from ingest.pii import Scrubber
from ingest.store import CorpusStore

BATCH = 5000


@dataclass
class FileReport:
    path: Path
    format: str = "-"
    messages: int = 0  # parsed
    documents: int = 0
    new: int = 0  # of those, not already in the corpus
    skipped: Counter = field(default_factory=Counter)
    pii: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def ingest_paths(
    paths: list[Path],
    config: TwinConfig,
    store: CorpusStore,
    *,
    fmt: str | None = None,
    on_progress: Callable[[Path, int], None] | None = None,
) -> list[FileReport]:
    """Ingest every input; a bad file is reported and rolled back, the others still go in."""
    owner = OwnerResolver(config.owner)
    reports = []
    for path in registry.expand(paths):
        report = FileReport(path)
        try:
            parser_cls = registry.get_parser(fmt) if fmt else registry.detect(path)
            report.format = parser_cls.name
            if not path.exists():
                raise InputError(path, "no such file or folder")
            _ingest_one(path, parser_cls(), config, store, owner, report, on_progress)
        except TwinError as exc:
            report.error = str(exc)
        reports.append(report)
    return reports


def _ingest_one(path, parser: Parser, config, store, owner, report: FileReport, on_progress) -> None:
    ctx = ParseContext(path=path, tz=config.ingest.tz, owner=owner)
    scrub = Scrubber(config.ingest.pii)
    owners_seen: dict[str, bool] = {}
    messages: list[Message] = []
    documents: list[Document] = []

    def flush() -> None:
        report.new += store.add_messages(messages) + store.add_documents(documents)
        messages.clear()
        documents.clear()
        if on_progress:
            on_progress(path, report.messages + report.documents)

    with store.transaction():  # all of the file or none of it
        for record in parser.parse(path, ctx):
            text = scrub(record.text)
            if text is not record.text and text != record.text:
                record = dataclasses.replace(record, text=text)
            if isinstance(record, Message):
                messages.append(record)
                report.messages += 1
                owners_seen[record.conversation_id] = owners_seen.get(record.conversation_id, False) or record.is_owner
            else:
                if record.title:
                    record = dataclasses.replace(record, title=scrub(record.title))
                documents.append(record)
                report.documents += 1
            if len(messages) + len(documents) >= BATCH:
                flush()
        flush()
        if report.messages + report.documents == 0 and not ctx.skipped:
            raise InputError(path, "no messages or documents found")
        store.record_file(path, file_sha256(path) if path.is_file() else "-", parser.name, report.messages, report.documents)
    report.skipped = ctx.skipped
    report.pii = scrub.counts
    report.warnings = ctx.warnings
    for conversation, seen in owners_seen.items():
        if not seen:
            report.warnings.append(
                f"{conversation}: none of these messages is the owner's; set [owner] ids/names in twin.toml"
            )
