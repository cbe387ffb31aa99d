"""Discord, DiscordChatExporter JSON (one channel per file; big channels in `[part N]` files).

    {guild:{id,name}, channel:{id,type,name,...}, messages:[{id, type, timestamp, content,
     author:{id,name,nickname}, attachments:[{fileName}], stickers:[{name}], reference?:{messageId}}]}

Timestamps are ISO 8601 with the exporter's offset. `content` is already plain text (mentions are
`@name`). There is no owner flag: the owner is whoever `[owner] ids/names` names. Message types
other than Default/Reply are notifications (joins, pins, renames) and become SYSTEM; calls CALL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from twin.errors import InputError
from twin.records import ChatKind, Message, MessageKind
from twin.ingest.base import ParseContext, Parser, Record
from twin.ingest.formats.jsonfile import Fields, expect, load_json
from twin.ingest.textio import clean

SPOKEN_TYPES = {"Default", "Reply"}  # message types whose content the author wrote
PRIVATE_CHANNELS = {"DirectTextChat"}

_EXTENSION_KINDS = {
    MessageKind.IMAGE: {"png", "jpg", "jpeg", "gif", "webp", "bmp", "heic", "avif"},
    MessageKind.VIDEO: {"mp4", "mov", "webm", "mkv", "avi"},
    MessageKind.VOICE: {"mp3", "ogg", "wav", "m4a", "opus", "flac"},
}


def attachment_kind(file_name: str) -> MessageKind:
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    for kind, extensions in _EXTENSION_KINDS.items():
        if extension in extensions:
            return kind
    return MessageKind.FILE


def iso_time(path: Path, value: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(path, f"unreadable time {value!r}", field=field) from None
    if moment.tzinfo is None:
        raise InputError(path, f"time {value!r} has no UTC offset", field=field)
    return moment


class DiscordChatExporterJson(Parser):
    name = "discord-dce-json"
    description = "Discord, DiscordChatExporter JSON (guild, channel, messages)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        start = head.lstrip()[:600]
        return start.startswith("{") and '"guild"' in start and '"channel"' in start

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        root = Fields(path, load_json(path), "")
        guild = root.sub("guild")
        channel = root.sub("channel")
        channel_id = channel.require("id")
        channel_name = clean(channel.get("name", default="") or channel_id)
        guild_name = clean(guild.get("name", default=""))
        private = channel.get("type", default="") in PRIVATE_CHANNELS
        if guild.get("id", default="0") not in ("0", "") and guild_name:
            conversation_name = f"{guild_name} #{channel_name}"
        else:
            conversation_name = channel_name
        seen: set[str] = set()
        for i, raw in enumerate(root.require("messages", list)):
            msg = Fields(path, raw, f"messages[{i}]")
            message_id = msg.require("id")
            if message_id in seen:  # DCE repeats a message when partitions overlap
                ctx.skip("duplicate message id")
                continue
            seen.add(message_id)
            author = msg.sub("author")
            author_id = author.require("id")
            name, nickname = clean(author.get("name", default="")), clean(author.get("nickname", default=""))
            kind, text = self._kind_and_text(path, msg)
            if kind is None:
                ctx.skip("empty message")
                continue
            reference = msg.sub("reference")
            reply_id = reference.get("messageId")
            yield Message(
                source="discord",
                source_id=f"discord:{message_id}",
                conversation_id=f"discord:{channel_id}",
                conversation_name=conversation_name,
                chat_kind=ChatKind.PRIVATE if private else ChatKind.GROUP,
                sender_id=author_id,
                sender_name=nickname or name or author_id,
                is_owner=ctx.owner.is_owner(author_id, name) or ctx.owner.is_owner(None, nickname),
                timestamp=iso_time(path, msg.require("timestamp"), msg.field("timestamp")),
                text=text,
                kind=kind,
                reply_to=f"discord:{reply_id}" if reply_id else None,
            )

    @staticmethod
    def _kind_and_text(path: Path, msg: Fields) -> tuple[MessageKind | None, str]:
        content = clean(msg.get("content", default="")).strip()
        message_type = msg.get("type", default="Default")
        if message_type == "Call":
            return MessageKind.CALL, content
        if message_type not in SPOKEN_TYPES:
            return MessageKind.SYSTEM, content or message_type
        if content:
            return MessageKind.TEXT, content
        # No text: a typed placeholder for what was sent instead (never a URL or file path).
        stickers = expect(path, msg.obj.get("stickers") or [], list, msg.field("stickers"))
        if stickers:
            sticker = Fields(path, stickers[0], msg.field("stickers[0]"))
            return MessageKind.STICKER, f"[sticker: {clean(sticker.get('name', default=''))}]"
        attachments = expect(path, msg.obj.get("attachments") or [], list, msg.field("attachments"))
        if attachments:
            attachment = Fields(path, attachments[0], msg.field("attachments[0]"))
            kind = attachment_kind(attachment.get("fileName", default=""))
            return kind, f"[{kind.value}]"
        if msg.obj.get("embeds"):
            return MessageKind.LINK, "[link]"
        return None, ""
