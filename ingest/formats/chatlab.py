"""The ChatLab standard format (v0.0.1 and v0.0.2), written by WeFlow, CipherTalk and converters.

    JSON   {"chatlab": {version, exportedAt}, "meta": {name, platform, type, groupId?, ownerId?},
            "members": [...], "messages": [{sender, accountName, groupNickname?, timestamp, type,
            content, platformMessageId?, replyToMessageId?}]}
    JSONL  one object a line: `_type` header (chatlab + meta) / member / message; '#' lines are comments

WeFlow's pull endpoint (/api/v1/sessions/<id>/messages?format=chatlab) answers the same object
plus `sync`, so a pulled page and an exported file are read alike.
`timestamp` is Unix seconds. "Me" is `meta.ownerId` (v0.0.2, optional); without it, the
sender named `我` (what WeFlow's API and the spec's example write) or else the [owner] setting.
Message type numbers differ by writer for the same WeChat message (a recall is 80, 81 or 99),
so recalls and system lines are also recognised by their text.
Ids: a WeChat server id (`platformMessageId`) gives `wechat:<id>`, the same id as the other
WeChat exports of that message; other platforms `chatlab:<platform>:<chat>:<id>`; messages
without one `chatlab:<platform>:<chat>:<timestamp>:<sender>:<n>`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from twin.errors import InputError
from twin.records import ChatKind, Message, MessageKind
from twin.ingest.base import CERTAIN, ParseContext, Parser, Record
from twin.ingest.owner import OwnerResolver
from twin.ingest.formats.chatkit import placeholder_kind
from twin.ingest.formats.wechat import strip_markup
from twin.ingest.formats.wxtypes import Ordinals, epoch_time, is_recall, label
from twin.ingest.formats.jsonfile import load_json
from twin.ingest.textio import clean, read_text

CHATLAB_KINDS: dict[int, MessageKind] = {
    0: MessageKind.TEXT,
    1: MessageKind.IMAGE,
    2: MessageKind.VOICE,
    3: MessageKind.VIDEO,
    4: MessageKind.FILE,
    5: MessageKind.STICKER,
    7: MessageKind.LINK,
    8: MessageKind.LOCATION,
    20: MessageKind.TRANSFER,  # red packet
    21: MessageKind.TRANSFER,
    22: MessageKind.SYSTEM,  # poke / pat
    23: MessageKind.CALL,
    24: MessageKind.LINK,  # share
    25: MessageKind.TEXT,  # reply: the content is the reply's own text
    26: MessageKind.OTHER,  # merged forward
    27: MessageKind.OTHER,  # contact card
    80: MessageKind.SYSTEM,
    81: MessageKind.RECALLED,
    99: MessageKind.OTHER,
}
SELF_NAME = "我"
_MARKER = re.compile(r'"chatlab"\s*:\s*\{')


class _Chat:
    """The document-level facts every message needs: platform, chat id and name, the owner."""

    def __init__(self, path: Path, meta: Any, members: list[dict], senders: list[str], owner: OwnerResolver):
        if not isinstance(meta, dict):
            raise InputError(path, "missing meta object", field="meta")
        self.platform = _text(meta.get("platform")).strip().lower() or "chatlab"
        self.name = clean(_text(meta.get("name"))).strip()
        self.group_id = _text(meta.get("groupId")).strip()
        self.owner_id = _text(meta.get("ownerId")).strip()
        kind = _text(meta.get("type")).strip().lower()
        if kind not in ("group", "private"):
            raise InputError(path, f"meta.type must be 'group' or 'private', got {meta.get('type')!r}", field="meta.type")
        self.kind = ChatKind.GROUP if kind == "group" else ChatKind.PRIVATE
        self.key = self.group_id or self._private_key(members, senders, owner) or self.name or path.stem
        self.conversation_id = f"{self.platform}:{self.key}"
        self.wechat = self.platform == "wechat"
        self.chinese = self.platform in ("wechat", "qq")

    def _private_key(self, members: list[dict], senders: list[str], owner: OwnerResolver) -> str:
        """A private chat is keyed by the contact: the one member (or sender) who is not the owner."""
        mine = {self.owner_id} if self.owner_id else {
            _text(m.get("platformId")) for m in members
            if _text(m.get("accountName")) == SELF_NAME or owner.is_owner(_text(m.get("platformId")), _text(m.get("accountName")))}
        for pool in ([_text(m.get("platformId")) for m in members], senders):
            others = {p for p in pool if p and p not in mine}
            if len(others) == 1 and len(mine - {""}) == 1:
                return others.pop()
        return ""

    def source_id(self, message_id: str) -> str:
        return f"wechat:{message_id}" if self.wechat else f"chatlab:{self.platform}:{self.key}:{message_id}"

    def placeholder(self, kind: MessageKind) -> str:
        return label(kind) if self.chinese else f"[{kind.value}]"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else (str(value) if isinstance(value, int) and not isinstance(value, bool) else "")


class ChatLabJson(Parser):
    name = "chatlab-json"
    description = "ChatLab standard format JSON (v0.0.1/v0.0.2; WeFlow, CipherTalk; also WeFlow's pull API)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        return CERTAIN if head.lstrip().startswith("{") and _MARKER.search(head) else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        data = load_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("chatlab"), dict):
            raise InputError(path, "no chatlab object: not a ChatLab file", field="chatlab")
        messages = data.get("messages")
        if not isinstance(messages, list):
            raise InputError(path, "expected a list of messages", field="messages")
        members = [m for m in data.get("members") or [] if isinstance(m, dict)]
        items = [(None, f"messages[{i}]", raw) for i, raw in enumerate(messages)]
        yield from _records(path, ctx, data.get("meta"), members, items)


class ChatLabJsonl(Parser):
    name = "chatlab-jsonl"
    description = "ChatLab standard format JSONL (_type header/member/message lines)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        first = next((l for l in head.split("\n") if l.strip() and not l.lstrip().startswith("#")), "")
        return CERTAIN if '"_type"' in first and '"header"' in first and _MARKER.search(first) else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        header: dict | None = None
        members: list[dict] = []
        items: list[tuple[int, str, Any]] = []
        for number, line in enumerate(read_text(path).split("\n"), start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=number) from None
            kind = obj.get("_type") if isinstance(obj, dict) else None
            if kind == "header":
                header = obj
            elif header is None:
                raise InputError(path, "the first line must be the _type header", line=number)
            elif kind == "member":
                members.append(obj)
            elif kind == "message":
                items.append((number, "", obj))
            else:
                raise InputError(path, f"unknown _type {kind!r}", line=number, field="_type")
        if header is None:
            raise InputError(path, "no _type header line: not a ChatLab JSONL file")
        yield from _records(path, ctx, header.get("meta"), members, items)


def _records(path: Path, ctx: ParseContext, meta: Any, members: list[dict],
             items: list[tuple[int | None, str, Any]]) -> Iterator[Message]:
    for line, where, raw in items:
        if not isinstance(raw, dict):
            raise InputError(path, "expected an object", line=line, field=where or None)
    chat = _Chat(path, meta, members, [_text(raw.get("sender")) for _, _, raw in items], ctx.owner)
    ordinals = Ordinals()
    for line, where, raw in items:
        yield _message(path, ctx, chat, raw, line, where, ordinals)


def _message(path: Path, ctx: ParseContext, chat: _Chat, raw: dict, line: int | None, where: str,
             ordinals: Ordinals) -> Message:
    def fail(reason: str, key: str) -> InputError:
        return InputError(path, reason, line=line, field=f"{where}.{key}" if where else key)

    sender = _text(raw.get("sender")).strip()
    if not sender:
        raise fail("missing sender", "sender")
    stamp = raw.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
        raise fail(f"timestamp must be Unix seconds, got {stamp!r}", "timestamp")
    type_code = raw.get("type")
    if isinstance(type_code, bool) or not isinstance(type_code, int):
        raise fail(f"type must be an integer, got {type_code!r}", "type")
    content = raw.get("content")
    content = clean(content) if isinstance(content, str) else ""
    kind = _kind(type_code, content)
    name = clean(_text(raw.get("groupNickname")) or _text(raw.get("accountName"))).strip()
    system = kind is MessageKind.SYSTEM or _is_chat_itself(chat, sender)
    if system:
        sender_id, sender_name, is_owner = "system", "system", False
    else:
        if chat.owner_id:
            is_owner = sender == chat.owner_id
        elif _text(raw.get("accountName")).strip() == SELF_NAME:
            is_owner = True
        else:
            is_owner = ctx.owner.is_owner(sender, name)
        sender_id, sender_name = sender, name or sender
    message_id = _text(raw.get("platformMessageId")).strip()
    if not message_id:
        message_id = f"{int(stamp)}:{sender}:{ordinals.next(int(stamp), sender)}"
    reply = _text(raw.get("replyToMessageId")).strip()
    return Message(
        source=chat.platform,
        source_id=chat.source_id(message_id),
        conversation_id=chat.conversation_id,
        conversation_name=chat.name or chat.key,
        chat_kind=chat.kind,
        sender_id=sender_id,
        sender_name=sender_name,
        is_owner=is_owner,
        timestamp=epoch_time(stamp, ctx.tz),
        text=_stored_text(chat, kind, content),
        kind=kind,
        reply_to=chat.source_id(reply) if reply else None,
    )


def _kind(type_code: int, content: str) -> MessageKind:
    kind = CHATLAB_KINDS.get(type_code, MessageKind.OTHER)
    if kind in (MessageKind.SYSTEM, MessageKind.OTHER) and is_recall(content):
        return MessageKind.RECALLED  # WeFlow's file export writes recalls as 80, its API as 99
    if kind is MessageKind.OTHER and "<sysmsg" in content:
        return MessageKind.SYSTEM
    return kind


def _is_chat_itself(chat: _Chat, sender: str) -> bool:
    """WeFlow writes system rows under the group's own id (or `unknown_sender_<n>`)."""
    return (bool(chat.group_id) and sender == chat.group_id) or sender.endswith("@chatroom") \
        or sender.startswith("unknown_sender_")


def _stored_text(chat: _Chat, kind: MessageKind, content: str) -> str:
    if kind is MessageKind.TEXT:
        return content
    if kind in (MessageKind.SYSTEM, MessageKind.RECALLED):
        return (strip_markup(content) if "<" in content else content.strip()) or chat.placeholder(kind)
    title = content.strip()
    if kind in (MessageKind.LINK, MessageKind.FILE) and title and placeholder_kind(title) is None:
        return f"{chat.placeholder(kind)} {title}"
    return chat.placeholder(kind)
