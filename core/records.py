"""The shared vocabulary: one record type per thing, for every source.

Every parser in `ingest/` produces `Message` and `Document` records; every later stage reads them
back from the corpus. `Memory` and `MemoryHit` are what the retrieval stage stores and returns.
Records are validated once, here, at construction: a timestamp without a timezone or an empty
source id is a bug in the parser that made it, so it fails loudly.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime

# Fixed namespace so ids are stable across machines and versions: same content -> same id.
TWIN_NAMESPACE = uuid.UUID("5b0f3f8e-6a43-4c1e-9d0a-2f5e1c7a9b11")


# sha1 already fed the namespace: each id copies it instead of hashing the namespace again.
_NAMESPACED_SHA1 = hashlib.sha1(TWIN_NAMESPACE.bytes)
# RFC 4122 variant bits 10xx on the 17th hex digit: 0-3 -> 8, 4-7 -> 9, 8-b -> a, c-f -> b.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def stable_id(*parts: str) -> str:
    """uuid5 of the parts joined by a unit separator; equal to `str(uuid.uuid5(TWIN_NAMESPACE, ...))`,
    computed on the hex digest without building a UUID object because ingest calls it once per message."""
    digest = _NAMESPACED_SHA1.copy()
    digest.update("\x1f".join(parts).encode("utf-8"))
    h = digest.hexdigest()
    # version 5 in the 13th digit, the variant in the 17th
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"


class MessageKind(enum.StrEnum):
    TEXT = "text"
    IMAGE = "image"
    STICKER = "sticker"
    VOICE = "voice"
    VIDEO = "video"
    FILE = "file"
    LINK = "link"
    LOCATION = "location"
    CALL = "call"
    TRANSFER = "transfer"  # money transfers, red packets
    SYSTEM = "system"  # joins, pats, notices: never the person's own words
    RECALLED = "recalled"  # "X recalled a message": the text is gone
    POLL = "poll"  # a poll: its question and options, not conversational text
    OTHER = "other"


class ChatKind(enum.StrEnum):
    PRIVATE = "private"
    GROUP = "group"


class DocumentKind(enum.StrEnum):
    ARTICLE = "article"  # a Markdown/HTML/PDF/DOCX/TXT file
    POST = "post"  # a social post: tweet, LinkedIn share


@dataclass(frozen=True, slots=True)
class Message:
    source: str  # "wechat", "telegram", ...
    source_id: str  # stable id eval sets refer to, e.g. "wechat:<MsgSvrID>"
    conversation_id: str  # e.g. "wechat:<room wxid>", "telegram:<chat id>"
    conversation_name: str
    chat_kind: ChatKind
    sender_id: str
    sender_name: str
    is_owner: bool
    timestamp: datetime  # timezone-aware
    text: str
    kind: MessageKind = MessageKind.TEXT
    reply_to: str | None = None  # source_id of the message replied to

    def __post_init__(self) -> None:
        if not self.source_id or ":" not in self.source_id:
            raise ValueError(f"source_id must look like '<source>:<id>', got {self.source_id!r}")
        if self.timestamp.tzinfo is None or self.timestamp.utcoffset() is None:
            raise ValueError(f"timestamp of {self.source_id} has no timezone")
        if not self.conversation_id:
            raise ValueError(f"conversation_id of {self.source_id} is empty")

    @property
    def id(self) -> str:
        return message_id(self.source_id, self.timestamp.isoformat(), self.sender_id, self.text)

    @property
    def is_text(self) -> bool:
        return self.kind is MessageKind.TEXT and bool(self.text.strip())


@dataclass(frozen=True, slots=True)
class Document:
    source: str  # "doc", "x", "linkedin"
    source_id: str  # "doc:<file name>", "x:<tweet id>", "linkedin:<n>"
    kind: DocumentKind
    title: str
    text: str
    date: datetime | None = None  # timezone-aware when known
    url: str | None = None

    def __post_init__(self) -> None:
        if not self.source_id or ":" not in self.source_id:
            raise ValueError(f"source_id must look like '<source>:<id>', got {self.source_id!r}")
        if self.date is not None and self.date.utcoffset() is None:
            raise ValueError(f"date of {self.source_id} has no timezone")

    @property
    def id(self) -> str:
        return stable_id(self.source_id, content_digest(self.text))


@dataclass(frozen=True, slots=True)
class Memory:
    """One retrievable unit: an episode of consecutive chat turns, or a section of a document."""

    text: str  # what is embedded and shown to the model (carries date, chat and names)
    source_ids: tuple[str, ...]  # the messages/documents it covers
    start: datetime | None
    end: datetime | None
    kind: str = "chat"  # "chat" | "document" | "note"
    conversation_id: str | None = None
    participants: tuple[str, ...] = ()
    source: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return stable_id("memory", self.kind, content_digest(self.text), *self.source_ids)


@dataclass(frozen=True, slots=True)
class MemoryHit:
    memory: Memory
    score: float
    id: str = ""  # the store's point id (equals memory.id for memories the store made)


def message_id(source_id: str, iso_time: str, sender_id: str, text: str) -> str:
    """A message's id: the same message from the same export always gets the same id."""
    return stable_id(source_id, iso_time, sender_id, text)


def content_digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()
