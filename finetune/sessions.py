"""Chats -> sessions -> turns.

A chat is cut into sessions where the silence between two messages (of any kind: a sticker
keeps a conversation alive) is longer than `sessions.gap_minutes`. Inside a session,
messages that carry no usable words are dropped, each drop counted by reason, and then
consecutive messages by the same sender are merged into one turn (`dataset.joiner`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import groupby

from twin.records import ChatKind, Message, MessageKind, stable_id
from twin.sessions import split_sessions

# Placeholders the ingest PII scrubber writes; a message holding one is not worth imitating.
PII_PLACEHOLDER = re.compile(r"<(?:PHONE|EMAIL|ID_CARD|BANK_CARD|IP|BLOCKED)>")


@dataclass
class Turn:
    sender_id: str
    sender_name: str
    is_owner: bool
    text: str
    source_ids: list[str] = field(default_factory=list)


@dataclass
class Session:
    conversation_id: str
    conversation_name: str
    chat_kind: ChatKind
    index: int  # position of the session in its chat
    first_source_id: str
    turns: list[Turn] = field(default_factory=list)

    @property
    def id(self) -> str:
        return stable_id("session", self.conversation_id, self.first_source_id)


class MessageFilter:
    """Decides which messages can become training text; counts every drop by reason."""

    def __init__(self, blocked_words: Iterable[str] = ()):
        words = sorted({w for w in blocked_words if w}, key=len, reverse=True)
        self._blocked = re.compile("|".join(map(re.escape, words)), re.IGNORECASE) if words else None
        self.dropped: Counter[str] = Counter()

    def reason(self, message: Message) -> str | None:
        if message.kind in (MessageKind.SYSTEM, MessageKind.RECALLED):
            return "system_or_recalled"
        if message.kind is not MessageKind.TEXT:
            return "non_text"
        if not message.text.strip():
            return "empty"
        return self.text_reason(message.text)

    def text_reason(self, text: str) -> str | None:
        if PII_PLACEHOLDER.search(text):
            return "pii_placeholder"
        if self._blocked is not None and self._blocked.search(text):
            return "blocked_word"
        return None

    def keep(self, message: Message) -> bool:
        why = self.reason(message)
        if why is not None:
            self.dropped[why] += 1
        return why is None


def merge_turns(messages: Iterable[Message], joiner: str) -> list[Turn]:
    """Consecutive messages by the same sender become one turn."""
    turns: list[Turn] = []
    for message in messages:
        text = message.text.strip()
        last = turns[-1] if turns else None
        if last is not None and last.sender_id == message.sender_id and last.is_owner == message.is_owner:
            last.text += joiner + text
            last.source_ids.append(message.source_id)
        else:
            turns.append(Turn(message.sender_id, message.sender_name, message.is_owner, text, [message.source_id]))
    return turns


def build_sessions(
    messages: Iterable[Message], gap_minutes: float, joiner: str, keep: MessageFilter
) -> Iterator[Session]:
    """Sessions of every chat, in corpus order (conversation, then time). Empty ones are skipped."""
    for conversation_id, chat in groupby(messages, key=lambda m: m.conversation_id):
        for index, raw in enumerate(split_sessions(chat, timedelta(minutes=gap_minutes))):
            first = raw[0]
            turns = merge_turns((m for m in raw if keep.keep(m)), joiner)
            if turns:
                yield Session(
                    conversation_id=conversation_id, conversation_name=first.conversation_name,
                    chat_kind=first.chat_kind, index=index, first_source_id=first.source_id, turns=turns,
                )
