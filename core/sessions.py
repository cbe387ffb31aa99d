"""Where one chat session ends and the next begins: the same cut for the style dataset and for
the memory episodes, so "a session" means one thing across the project."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta

from twin.records import Message


def split_sessions(messages: Iterable[Message], gap: timedelta) -> Iterator[list[Message]]:
    """Cut one conversation's time-ordered messages where the silence between two exceeds `gap`."""
    current: list[Message] = []
    for message in messages:
        if current and message.timestamp - current[-1].timestamp > gap:
            yield current
            current = []
        current.append(message)
    if current:
        yield current
