"""Fast, strict timestamp parsing for the common export layouts."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache

_LOOSE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$")


@lru_cache(maxsize=65536)  # exports repeat the same minute many times over
def parse_local(value: str) -> datetime | None:
    """'2024-10-04 11:43:05', '2024/10/4 11:43' and ISO forms -> naive datetime, or None."""
    value = value.strip()
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    match = _LOOSE.match(value)
    if not match:
        return None
    y, mo, d, h, mi, s = match.groups()
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0))
    except ValueError:
        return None


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)
