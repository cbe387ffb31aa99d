"""Run one parser the way the pipeline does (detection, context, owner settings) without a corpus."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from twin.config import OwnerConfig
from twin.ingest import registry
from twin.ingest.base import ParseContext
from twin.ingest.owner import OwnerResolver


def run_parser(path: Path, *, ids=(), names=(), tz: str = "UTC", fmt: str | None = None, date_order: str = "auto"):
    """(format name, records, context) for one input."""
    parser_cls = registry.get_parser(fmt) if fmt else registry.detect(path)
    owner = OwnerResolver(OwnerConfig(ids=list(ids), names=list(names)))
    ctx = ParseContext(path=path, tz=ZoneInfo(tz), owner=owner, date_order=date_order)
    records = list(parser_cls().parse(path, ctx))
    return parser_cls.name, records, ctx
