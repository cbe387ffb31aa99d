"""Facebook Messenger and Instagram, Meta "Download your information" JSON (message_N.json).

    {participants:[{name}], messages:[{sender_name, timestamp_ms, content?, photos?, videos?,
     audio_files?, files?, sticker?, share?, is_unsent?, call_duration?}], title, thread_path}

Both apps write the same layout. Quirks handled here:
- Mojibake: every string is UTF-8 bytes written as \\u00XX escapes ("Rados\\u00c5\\u0082aw");
  each string is repaired with encode('latin-1').decode('utf-8') when that round-trips.
- Messages are newest first, and a long thread is split over message_1.json, message_2.json...
  (message_1 holds the newest). Records are yielded oldest first.
- Senders are display names only; the owner is whoever `[owner] names` lists.
Source ids are `<app>:<thread>:<timestamp_ms>` (plus `.<k>` for a second message in the same
millisecond): a running number would collide between the message_N parts of one thread and shift
with every new export.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from twin.records import ChatKind, Message, MessageKind
from twin.ingest.base import CERTAIN, LIKELY, ParseContext, Parser, Record
from twin.ingest.formats.jsonfile import Fields, load_json
from twin.ingest.textio import clean
from twin.ingest.timestamps import from_epoch

# The first media field present decides the kind of a message without text.
MEDIA_FIELDS = (
    ("sticker", MessageKind.STICKER),
    ("gifs", MessageKind.STICKER),
    ("photos", MessageKind.IMAGE),
    ("videos", MessageKind.VIDEO),
    ("audio_files", MessageKind.VOICE),
    ("files", MessageKind.FILE),
    ("share", MessageKind.LINK),
)
SYSTEM_TYPES = {"Subscribe", "Unsubscribe"}  # joins and leaves in older exports
_PART_FILE = re.compile(r"^message_\d+\.json$")


def fix_mojibake(text: str) -> str:
    """Undo Meta's latin-1 view of UTF-8 bytes; text that is not mojibake is returned unchanged."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def repair(value: Any) -> Any:
    """fix_mojibake applied to every string of a parsed JSON value."""
    if isinstance(value, str):
        return fix_mojibake(value)
    if isinstance(value, list):
        return [repair(v) for v in value]
    if isinstance(value, dict):
        return {k: repair(v) for k, v in value.items()}
    return value


def looks_like_meta_thread(head: str) -> bool:
    start = head.lstrip()[:4096]
    return start.startswith("{") and '"sender_name"' in start and '"timestamp_ms"' in start


class MessengerJson(Parser):
    name = "messenger-json"
    description = "Facebook Messenger JSON (messages/inbox/<thread>/message_N.json)"
    source = "messenger"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        # Instagram writes the same layout; its parser is CERTAIN when the path says Instagram.
        return LIKELY if looks_like_meta_thread(head) else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        root = Fields(path, repair(load_json(path)), "")
        raw_messages = root.require("messages", list)
        thread = self._thread_id(path, root)
        title = clean(root.get("title", default="")) or thread
        participants = [
            clean(Fields(path, p, f"participants[{i}]").get("name", default=""))
            for i, p in enumerate(root.get("participants", list, default=[]))
        ]
        rows = []
        for i, raw in enumerate(raw_messages):
            msg = Fields(path, raw, f"messages[{i}]")
            ms = msg.require("timestamp_ms", int)
            rows.append((ms, i, msg))
        rows.sort(key=lambda row: (row[0], -row[1]))  # oldest first; file order is newest first
        senders = {clean(msg.get("sender_name", default="")) for _, _, msg in rows}
        group = len(set(participants) | senders) > 2 or "Group" in root.get("thread_type", default="")
        same_ms: Counter = Counter()
        for ms, _, msg in rows:
            sender = clean(msg.require("sender_name")).strip()
            kind, text = self._kind_and_text(msg)
            if kind is None:
                ctx.skip("empty message")
                continue
            same_ms[ms] += 1
            suffix = f".{same_ms[ms] - 1}" if same_ms[ms] > 1 else ""
            yield Message(
                source=self.source,
                source_id=f"{self.source}:{thread}:{ms}{suffix}",
                conversation_id=f"{self.source}:{thread}",
                conversation_name=title,
                chat_kind=ChatKind.GROUP if group else ChatKind.PRIVATE,
                sender_id=sender,
                sender_name=sender,
                is_owner=ctx.owner.is_owner(None, sender),
                timestamp=from_epoch(ms / 1000),
                text=text,
                kind=kind,
            )

    @staticmethod
    def _thread_id(path: Path, root: Fields) -> str:
        thread_path = root.get("thread_path", default="")
        if thread_path:
            return thread_path.rstrip("/").rsplit("/", 1)[-1]
        if _PART_FILE.match(path.name):  # .../inbox/<thread>/message_1.json
            return path.parent.name
        return path.stem

    @staticmethod
    def _kind_and_text(msg: Fields) -> tuple[MessageKind | None, str]:
        content = clean(msg.get("content", default="")).strip()
        if msg.obj.get("is_unsent"):
            return MessageKind.RECALLED, content
        if msg.get("type", default="") in SYSTEM_TYPES:
            return MessageKind.SYSTEM, content
        if "call_duration" in msg.obj:
            return MessageKind.CALL, content or "[call]"
        for field, kind in MEDIA_FIELDS:
            if msg.obj.get(field):
                if kind is MessageKind.LINK and content:
                    return MessageKind.TEXT, content  # the user's words around a shared link
                # Meta fills content with "X sent a photo." for media: not the person's words.
                return kind, f"[{kind.value}]"
        if content:
            return MessageKind.TEXT, content
        return None, ""


class InstagramJson(MessengerJson):
    """Same layout as Messenger, and no key in the file tells the two apps apart reliably
    (is_geoblocked_for_viewer and joinable_mode are reported in both). So it is recognised by the
    export's folder names (your_instagram_activity/..., instagram-<user>-<date>/...); a thread
    file moved elsewhere needs --format instagram-json."""

    name = "instagram-json"
    description = "Instagram DM JSON (your_instagram_activity/messages/inbox/<thread>/message_N.json)"
    source = "instagram"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        if not looks_like_meta_thread(head):
            return False
        return CERTAIN if any("instagram" in part.lower() for part in path.parts[-7:-1]) else 0.0

