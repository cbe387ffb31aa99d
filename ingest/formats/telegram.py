"""Telegram Desktop JSON export (`result.json`).

Single chat: the root is the dialog `{"name", "type", "id", "messages": [...]}`. Full account:
`{"personal_information": {"user_id"}, "chats": {"list": [dialog...]}, "left_chats": {...}}`,
where `user_id` identifies the owner; for a single chat "me" comes from the configured ids/names.
`date_unixtime` (epoch) is used when present; `date` is the exporting PC's wall time, so it gets
the configured source timezone. `text` is a string or a list of strings and entity objects;
`text_entities` (always a list) is preferred. Media-only messages become typed placeholders; a
caption makes the message text. Service messages (joins, calls, pins) are SYSTEM.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from twin.errors import InputError
from twin.records import ChatKind, Message, MessageKind
from twin.ingest.base import ParseContext, Parser, Record
from twin.ingest.formats.chatkit import chat_kind_for, load_json
from twin.ingest.textio import clean
from twin.ingest.timestamps import from_epoch

PRIVATE_TYPES = {"personal_chat", "bot_chat", "saved_messages", "replies"}
GROUP_TYPES = {"private_group", "private_supergroup", "public_supergroup", "private_channel", "public_channel"}

MEDIA_KINDS: dict[str, MessageKind] = {
    "sticker": MessageKind.STICKER,
    "animation": MessageKind.STICKER,
    "voice_message": MessageKind.VOICE,
    "video_message": MessageKind.VIDEO,
    "video_file": MessageKind.VIDEO,
    "audio_file": MessageKind.FILE,
}
LABELS: dict[MessageKind, str] = {
    MessageKind.IMAGE: "[photo]",
    MessageKind.STICKER: "[sticker]",
    MessageKind.VOICE: "[voice message]",
    MessageKind.VIDEO: "[video]",
    MessageKind.FILE: "[file]",
    MessageKind.LOCATION: "[location]",
    MessageKind.OTHER: "[attachment]",
}
_MARKERS = ('"date_unixtime"', '"from_id"', '"text_entities"', '"personal_information"', '"actor_id"')


class TelegramJson(Parser):
    name = "telegram-json"
    description = "Telegram Desktop JSON export (one chat, or the whole account with personal_information)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        if not head.lstrip().startswith("{"):
            return False
        return any(marker in head for marker in _MARKERS) and (
            '"messages"' in head or '"chats"' in head or '"personal_information"' in head
        )

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        data = load_json(path)
        if not isinstance(data, dict):
            raise InputError(path, "expected a JSON object at the top level")
        owner_id = _owner_id(data)
        if "messages" in data:
            yield from self._dialog(path, data, "", owner_id, ctx)
            return
        found = False
        for section in ("chats", "left_chats"):
            block = data.get(section)
            if block is None:
                continue
            chats = block.get("list") if isinstance(block, dict) else None
            if not isinstance(chats, list):
                raise InputError(path, "expected a list of chats", field=f"{section}.list")
            found = True
            for i, dialog in enumerate(chats):
                if not isinstance(dialog, dict):
                    raise InputError(path, "expected a chat object", field=f"{section}.list[{i}]")
                yield from self._dialog(path, dialog, f"{section}.list[{i}].", owner_id, ctx)
        if not found:
            raise InputError(path, "no 'messages' or 'chats' in this Telegram export", field="messages")

    def _dialog(self, path: Path, dialog: dict, where: str, owner_id: str | None, ctx: ParseContext) -> Iterator[Message]:
        messages = dialog.get("messages")
        if not isinstance(messages, list):
            raise InputError(path, "expected a list of messages", field=f"{where}messages")
        name = clean(str(dialog.get("name") or dialog.get("type") or path.stem))
        chat_id = str(dialog.get("id") if dialog.get("id") is not None else name)
        if dialog.get("id") is None:
            ctx.warn(f"chat {name!r} has no id; message ids are derived from the chat name")
        chat_type = dialog.get("type")
        if chat_type in PRIVATE_TYPES:
            chat_kind = ChatKind.PRIVATE
        elif chat_type in GROUP_TYPES:
            chat_kind = ChatKind.GROUP
        else:
            chat_kind = chat_kind_for(str(m.get("from_id") or m.get("from")) for m in messages if isinstance(m, dict))
        for i, raw in enumerate(messages):
            field = f"{where}messages[{i}]"
            if not isinstance(raw, dict):
                raise InputError(path, "expected a message object", field=field)
            msg_id = raw.get("id", i + 1)  # minimal exports without ids: the position
            kind, text = _content(raw)
            if raw.get("type") == "service":
                sender_name = clean(str(raw.get("actor") or "system"))
                sender_id = str(raw.get("actor_id") or "system")
            else:
                sender_name = clean(str(raw.get("from") or "Deleted Account"))
                sender_id = str(raw.get("from_id") or raw.get("from") or "unknown")
            flag = None if owner_id is None else sender_id in (f"user{owner_id}", owner_id)
            reply = raw.get("reply_to_message_id")
            reply_chat = raw.get("reply_to_peer_id") or chat_id
            yield Message(
                source="telegram",
                source_id=f"telegram:{chat_id}:{msg_id}",
                conversation_id=f"telegram:{chat_id}",
                conversation_name=name,
                chat_kind=chat_kind,
                sender_id=sender_id,
                sender_name=sender_name,
                is_owner=ctx.owner.is_owner(sender_id, sender_name, flag),
                timestamp=_timestamp(path, raw, field, ctx),
                text=text,
                kind=kind,
                reply_to=f"telegram:{reply_chat}:{reply}" if reply is not None else None,
            )


def _owner_id(data: dict) -> str | None:
    info = data.get("personal_information")
    if isinstance(info, dict) and info.get("user_id") is not None:
        return str(info["user_id"])
    return None


def _timestamp(path: Path, raw: dict, field: str, ctx: ParseContext) -> datetime:
    epoch = raw.get("date_unixtime")
    if epoch is not None:
        try:
            return from_epoch(int(epoch)).astimezone(ctx.tz)
        except (TypeError, ValueError, OverflowError):
            raise InputError(path, f"unreadable epoch {epoch!r}", field=f"{field}.date_unixtime") from None
    local = raw.get("date")
    if isinstance(local, str):
        try:
            parsed = datetime.fromisoformat(local)
        except ValueError:
            raise InputError(path, f"unreadable date {local!r}", field=f"{field}.date") from None
        return parsed if parsed.tzinfo else ctx.local(parsed)
    raise InputError(path, "message has neither date_unixtime nor date", field=f"{field}.date")


def flatten_text(raw: dict) -> str:
    """Join the text parts; `text_entities` holds the same text as `text`, always as a list."""
    parts = raw.get("text_entities")
    if not isinstance(parts, list) or (not parts and raw.get("text")):
        parts = raw.get("text", "")
    if isinstance(parts, str):
        return clean(parts)
    if not isinstance(parts, list):
        return ""
    return clean("".join(p if isinstance(p, str) else str(p.get("text", "")) for p in parts if isinstance(p, (str, dict))))


def _content(raw: dict) -> tuple[MessageKind, str]:
    text = flatten_text(raw)
    if raw.get("type") == "service":
        return MessageKind.SYSTEM, _service_text(raw, text)
    media = _media_kind(raw)
    if media is None or text.strip():
        return MessageKind.TEXT, text  # a caption is the sender's own words
    if media is MessageKind.STICKER and raw.get("sticker_emoji"):
        return media, str(raw["sticker_emoji"])
    if media is MessageKind.OTHER and isinstance(raw.get("poll"), dict):
        return media, f"[poll] {raw['poll'].get('question', '')}".strip()
    return media, LABELS[media]


def _media_kind(raw: dict) -> MessageKind | None:
    if "photo" in raw:
        return MessageKind.IMAGE
    media_type = raw.get("media_type")
    if media_type in MEDIA_KINDS:
        return MEDIA_KINDS[media_type]
    if "file" in raw:
        return MessageKind.FILE
    if "location_information" in raw or "place_name" in raw:
        return MessageKind.LOCATION
    if any(key in raw for key in ("poll", "contact_information", "game_title", "invoice_information")):
        return MessageKind.OTHER
    return None


def _service_text(raw: dict, text: str) -> str:
    """A readable line for a service message ('Alice phone_call 56s'), since its text is empty."""
    if text.strip():
        return text
    parts: list[Any] = [raw.get("actor") or "", str(raw.get("action") or "service").replace("_", " ")]
    if raw.get("title"):
        parts.append(f'"{raw["title"]}"')
    members = raw.get("members")
    if isinstance(members, list) and members:
        parts.append(", ".join(str(m) for m in members))
    if raw.get("duration_seconds") is not None:
        parts.append(f"{raw['duration_seconds']}s")
    return clean(" ".join(str(p) for p in parts if p)).strip()
