"""Chats -> sessions -> turns.

A chat is cut into sessions where the silence between two messages (of any kind: a sticker
keeps a conversation alive) is longer than `sessions.gap_minutes`. Inside a session:

- system notices and recalls are dropped (never anyone's words); so are messages holding a
  blocked word, and, with `dataset.pii_messages = "drop"`, messages holding an ingest PII
  placeholder (`<PHONE>`...; kept with the placeholder by default, so the talk around it keeps
  its middle). Every drop is counted by reason.
- non-text messages become short typed placeholders in the chat's language (`[图片]`,
  `[photo]`, `[链接: title]`), never the raw XML or file path, so a reply to a photo stays
  next to the photo (`dataset.media = "drop"` drops them instead).
- consecutive messages of one sender at most `dataset.merge_minutes` apart are one turn
  (`dataset.joiner` between them); a longer pause starts a new turn.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby

from twin.prompt import conversation_language
from twin.records import ChatKind, Message, MessageKind, stable_id
from twin.sessions import split_sessions

# Placeholders the ingest PII scrubber writes.
PII_PLACEHOLDER = re.compile(r"<(?:PHONE|EMAIL|ID_CARD|BANK_CARD|IP|BLOCKED)>")
_LABEL_PREFIX = re.compile(r"^\s*\[[^\[\]]{1,12}\]\s*")  # "[链接] title" as some parsers write it
_RAW = re.compile(r"<[^>]*>|\w+://\S+|[A-Za-z]:\\\S*|\S*[\\/]\S*\.\w{2,4}\b")  # tags, URLs, paths
_TITLE_TAG = re.compile(r"<title>(.*?)</title>", re.S)
MAX_TITLE_CHARS = 40


@dataclass
class Turn:
    sender_id: str
    sender_name: str
    is_owner: bool
    text: str
    source_ids: list[str] = field(default_factory=list)
    start: datetime | None = None  # first message
    end: datetime | None = None  # last message
    quiet: timedelta | None = None  # silence in the chat before this turn (None: nothing earlier)


@dataclass
class Session:
    conversation_id: str
    conversation_name: str
    chat_kind: ChatKind
    index: int  # position of the session in its chat
    first_source_id: str
    turns: list[Turn] = field(default_factory=list)
    start: datetime | None = None  # first message of the session, of any kind
    language: str = "en"  # of the whole chat: "zh" | "en"
    source_ids: frozenset[str] = frozenset()  # every message of the session, kept or not

    @property
    def id(self) -> str:
        return stable_id("session", self.conversation_id, self.first_source_id)


def link_title(text: str) -> str:
    """A link's title, cleaned of markup, URLs and paths; empty when nothing readable is left."""
    found = _TITLE_TAG.search(text)
    text = found.group(1) if found else text
    text = _RAW.sub(" ", _LABEL_PREFIX.sub("", text))
    title = " ".join(text.split()[:40]).strip(" :：-")
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return title


def placeholder(message: Message, labels: Mapping[str, str]) -> str:
    """`[word]` for a non-text message; links keep their title: `[链接: 标题]`."""
    word = labels.get(message.kind.value) or labels.get("other") or message.kind.value
    if message.kind is MessageKind.LINK:
        title = link_title(message.text)
        if title:
            return f"[{word}: {title}]"
    return f"[{word}]"


class MessageFilter:
    """Decides which messages become training text and how; counts every drop and every
    placeholder kept by reason."""

    def __init__(self, blocked_words: Iterable[str] = (), *, pii: str = "keep",
                 labels: Mapping[str, Mapping[str, str]] | None = None, media: str = "placeholder"):
        words = sorted({w for w in blocked_words if w}, key=len, reverse=True)
        self._blocked = re.compile("|".join(map(re.escape, words)), re.IGNORECASE) if words else None
        self.pii = pii
        self.labels = labels or {}
        self.media = media
        self.dropped: Counter[str] = Counter()
        self.kept: Counter[str] = Counter()  # "media_placeholders", "pii_messages_kept"

    def reason(self, message: Message) -> str | None:
        if message.kind in (MessageKind.SYSTEM, MessageKind.RECALLED):
            return "system_or_recalled"
        if message.kind is not MessageKind.TEXT:
            return "non_text" if self.media == "drop" else self.text_reason(message.text, pii_drop=False)
        if not message.text.strip():
            return "empty"
        return self.text_reason(message.text)

    def text_reason(self, text: str, *, pii_drop: bool | None = None) -> str | None:
        drop_pii = self.pii == "drop" if pii_drop is None else pii_drop
        if drop_pii and PII_PLACEHOLDER.search(text):
            return "pii_placeholder"
        if self._blocked is not None and self._blocked.search(text):
            return "blocked_word"
        return None

    def text_of(self, message: Message, language: str) -> str | None:
        """The words a kept message contributes to its turn, or None (dropped, counted)."""
        why = self.reason(message)
        if why is not None:
            self.dropped[why] += 1
            return None
        if message.kind is not MessageKind.TEXT:
            self.kept["media_placeholders"] += 1
            return placeholder(message, self.labels.get(language) or self.labels.get("en") or {})
        if PII_PLACEHOLDER.search(message.text):
            self.kept["pii_messages_kept"] += 1
        return message.text.strip()

    def keep(self, message: Message) -> bool:
        why = self.reason(message)
        if why is not None:
            self.dropped[why] += 1
        return why is None


def merge_turns(messages: Iterable[Message], joiner: str, merge_gap: timedelta | None = None,
                texts: Mapping[str, str] | None = None) -> list[Turn]:
    """Consecutive messages by the same sender become one turn, unless more than `merge_gap` apart.
    `texts` (source id -> text) gives each message's words; by default its own text."""
    turns: list[Turn] = []
    for message in messages:
        text = texts[message.source_id] if texts is not None else message.text.strip()
        last = turns[-1] if turns else None
        same = last is not None and last.sender_id == message.sender_id and last.is_owner == message.is_owner
        if same and (merge_gap is None or message.timestamp - last.end <= merge_gap):
            last.text += joiner + text
            last.source_ids.append(message.source_id)
            last.end = message.timestamp
        else:
            turns.append(Turn(message.sender_id, message.sender_name, message.is_owner, text, [message.source_id],
                              start=message.timestamp, end=message.timestamp))
    return turns


def build_sessions(
    messages: Iterable[Message], gap_minutes: float, joiner: str, keep: MessageFilter,
    merge_minutes: float | None = None,
) -> Iterator[Session]:
    """Sessions of every chat, in corpus order (conversation, then time). Empty ones are skipped."""
    merge_gap = timedelta(minutes=merge_minutes) if merge_minutes is not None else None
    for conversation_id, group in groupby(messages, key=lambda m: m.conversation_id):
        chat = list(group)
        language = conversation_language([m.text for m in chat if m.kind is MessageKind.TEXT][:500])
        previous: datetime | None = None  # the last message of the chat so far, of any kind
        for index, raw in enumerate(split_sessions(chat, timedelta(minutes=gap_minutes))):
            first = raw[0]
            texts: dict[str, str] = {}
            quiet: dict[str, timedelta | None] = {}
            for message in raw:
                text = keep.text_of(message, language)
                if text is not None:
                    texts[message.source_id] = text
                    quiet[message.source_id] = message.timestamp - previous if previous is not None else None
                previous = message.timestamp
            turns = merge_turns((m for m in raw if m.source_id in texts), joiner, merge_gap, texts)
            for turn in turns:
                turn.quiet = quiet[turn.source_ids[0]]
            if turns:
                yield Session(
                    conversation_id=conversation_id, conversation_name=first.conversation_name,
                    chat_kind=first.chat_kind, index=index, first_source_id=first.source_id, turns=turns,
                    start=first.timestamp, language=language, source_ids=frozenset(m.source_id for m in raw),
                )
