"""Facebook Messenger and Instagram, Meta "Download your information" JSON (message_N.json).

    {participants:[{name}], messages:[{sender_name, timestamp_ms, content?, photos?, videos?,
     audio_files?, files?, sticker?, share?, is_unsent?, call_duration?}], title, thread_path}

Both apps write the same layout. Quirks handled here:
- Mojibake: every string is UTF-8 bytes written as \\u00XX escapes ("Rados\\u00c5\\u0082aw");
  each string is repaired with encode('latin-1').decode('utf-8') when that round-trips.
- Messages are newest first, and a long thread is split over message_1.json, message_2.json...
  (message_1 holds the newest). Records are yielded oldest first.
- Senders are display names only; the owner is whoever `[owner] names` lists.
- Meta writes some `content` itself ("Anna sent an attachment.", "Reacted 😂 to your message",
  "You unsent a message."): matched after the mojibake repair and typed media/recalled/call/system
  (EXPORTER_TAILS), never stored as the person's words.
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

# Texts Meta writes into `content` itself (English exports; the account's language decides, and
# no other language's strings have been sourced yet). Each is "<actor> <tail>", the actor being
# the message's sender (or "You" for the owner's own); {} stands for a name, an emoji or a title.
# Reactions are typed SYSTEM like WeChat's pats: something the person did, not their words.
EXPORTER_TAILS: dict[MessageKind, tuple[str, ...]] = {
    MessageKind.FILE: ("sent an attachment.",),
    MessageKind.IMAGE: ("sent a photo.", "sent {} photos."),
    MessageKind.VIDEO: ("sent a video.", "sent {} videos."),
    MessageKind.VOICE: ("sent a voice message.", "sent an audio clip."),
    MessageKind.STICKER: ("sent a sticker.", "sent a GIF.", "sent a GIF from {}."),
    MessageKind.LINK: ("sent a link.", "shared a link.", "shared a story.", "shared a post.", "shared a reel."),
    MessageKind.LOCATION: ("sent a location.", "shared a location.", "shared their location."),
    MessageKind.RECALLED: ("unsent a message.",),
    MessageKind.CALL: (
        "missed a call.", "missed your call.", "missed a call from {}.", "missed a video chat.", "missed a video chat with {}.",
        "called you.", "called {}.", "started a call.", "started a video chat.", "started an audio call.",
        "joined the call.", "joined the video chat.", "ended the call.", "ended the video chat.",
    ),
    MessageKind.SYSTEM: (
        "liked a message", "liked your message", "reacted {} to your message", "reacted {} to {}'s message",
        "reacted {} to their own message", "named the group {}.", "changed the group name to {}.",
        "removed the group name.", "changed the group photo.", "added {} to the group.", "removed {} from the group.",
        "left the group.", "created the group.", "set the nickname for {} to {}.", "set your nickname to {}.",
        "set {} own nickname to {}.", "cleared the nickname for {}.", "cleared {} own nickname.",
        "cleared your nickname.", "changed the chat theme.", "changed the theme to {}.", "set the emoji to {}.",
        "set the quick reaction to {}.", "changed the chat colors.", "pinned a message.", "unpinned a message.",
        "mentioned you in their story", "made {} an admin.", "removed {} as an admin.",
    ),
}
# Whole texts without an actor (Instagram writes reactions so; calls end on their own).
ACTORLESS: dict[MessageKind, tuple[str, ...]] = {
    MessageKind.FILE: ("sent an attachment.",),
    MessageKind.RECALLED: ("unsent a message.",),
    MessageKind.CALL: ("the video chat ended.", "the call ended."),
    MessageKind.SYSTEM: ("liked a message", "reacted {} to your message", "mentioned you in their story"),
}
# Tails distinctive enough to accept whoever is named as the actor ('Anna B. sent an attachment.'
# where the sender is 'anna_b'): nobody types them about someone else in these exact words.
ANY_ACTOR = ("sent an attachment.", "unsent a message.", "reacted {} to your message", "liked a message")


def _tail_regex(tails) -> str:
    """Tails as one regex: {} matches any text on one line, the final full stop is optional,
    straight and curly apostrophes are the same."""
    def one(tail: str) -> str:
        body = re.escape(tail.rstrip(".")).replace(re.escape("{}"), "[^\\n]+?").replace("'", "['’]")
        return body + "\\.?"
    return "|".join(one(t) for t in sorted(tails, key=len, reverse=True))


def _kind_alternation(tails_by_kind: dict[MessageKind, tuple[str, ...]]) -> re.Pattern:
    groups = [f"(?P<{kind.value}>{_tail_regex(tails)})" for kind, tails in tails_by_kind.items() if tails]
    return re.compile("|".join(groups), re.IGNORECASE)


_TAILS = _kind_alternation(EXPORTER_TAILS)
_ACTORLESS = _kind_alternation(ACTORLESS)
_ANY_ACTOR = re.compile(r"(?P<actor>[^\n]{1,60}?) (?:" + _tail_regex(ANY_ACTOR) + ")", re.IGNORECASE)


def exporter_text_kind(content: str, sender: str) -> MessageKind | None:
    """The kind of a `content` that Meta wrote ('Anna sent an attachment.', 'Reacted 😂 to your
    message'), or None for the person's own words."""
    if len(content) > 300 or "\n" in content:
        return None
    match = _ACTORLESS.fullmatch(content)
    if match is None:
        for actor in (sender, "You", sender.split(" ", 1)[0]):
            if actor and content.startswith(actor + " "):
                match = _TAILS.fullmatch(content, len(actor) + 1)
                if match is not None:
                    break
    if match is None and content.rstrip(".").endswith(("attachment", "message")) and (named := _ANY_ACTOR.fullmatch(content)):
        match = _TAILS.fullmatch(content, named.end("actor") + 1)
    return MessageKind(match.lastgroup) if match is not None else None


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
            kind = exporter_text_kind(content, clean(msg.get("sender_name", default="")).strip())
            if kind is None:
                return MessageKind.TEXT, content
            if kind in (MessageKind.SYSTEM, MessageKind.CALL, MessageKind.RECALLED):
                return kind, content
            return kind, f"[{kind.value}]"  # 'X sent a photo.' with the photo not in the export
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

