"""QQ exports.

Message-manager TXT (classic QQ PC, "消息记录（此消息记录为文本格式，不支持重新导入）"): sections
opened by 64 '=' lines, '消息分组:<group>' and '消息对象:<chat>', then blocks of
    2013-06-23 15:52:32 Name(10001)      group member: the last bracket holds the QQ number
    2013-06-23 18:42:35 Name<a@b.com>    or an email
    2010-05-27 9:29:35 Name               private chats: the name only, so "me" comes from config
    <body lines up to a blank line>
Times are local with no offset. A full export repeats chats under '最近联系人'; a chat met a second
time under another group is skipped. Source ids are `qq:<chat>:<n>`, n the position in that chat.

QQ-Chat-Exporter (QCE) JSON: `chatInfo` (selfUid/selfUin = the owner) + `messages` with ids and
epoch-millisecond timestamps; recalled messages keep their text in the file, we drop it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from twin.errors import InputError
from twin.records import ChatKind, Message, MessageKind
from twin.ingest.base import ParseContext, Parser, Record
from twin.ingest.formats.chatkit import chat_kind_for, is_recall_notice, load_json, placeholder_kind, split_blocks
from twin.ingest.textio import clean, read_text
from twin.ingest.timestamps import from_epoch

_HEADER = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{2}):(\d{2})(?: ([AP]M))? (.+?)\s*$")
_SEPARATOR = re.compile(r"^={3,}\s*$")
_SECTION = re.compile(r"^(消息分组|消息对象)[:：](.*)$")
_NUMBER_TAIL = re.compile(r"^(.*?)[(（](\d{5,12})[)）]$")
_EMAIL_TAIL = re.compile(r"^(.*?)<([^<>\s@]+@[^<>\s]+)>$")
_TITLE_PREFIX = re.compile(r"^(?:【[^】]*】\s*)+")


def split_sender(raw: str) -> tuple[str | None, str]:
    """'【管理员】Alice(10001)' -> ('10001', 'Alice'); 'Bob<b@x.com>' -> ('b@x.com', 'Bob'); 'Bob' -> (None, 'Bob')."""
    for pattern in (_NUMBER_TAIL, _EMAIL_TAIL):
        match = pattern.match(raw)
        if match:
            name = _TITLE_PREFIX.sub("", match.group(1)).strip()
            return match.group(2), name or match.group(2)
    return None, _TITLE_PREFIX.sub("", raw).strip() or raw


def _header_time(match: re.Match) -> datetime | None:
    y, mo, d, h, mi, s, ampm = match.groups()[:7]
    hour = int(h)
    if ampm:
        hour = hour % 12 + (12 if ampm == "PM" else 0)
    try:
        return datetime(int(y), int(mo), int(d), hour, int(mi), int(s))
    except ValueError:
        return None


class QQTxt(Parser):
    name = "qq-txt"
    description = "QQ, message-manager TXT export (消息记录 ... 消息对象, 'YYYY-MM-DD H:MM:SS name(QQ)')"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        lines = [clean(l).strip() for l in head.split("\n")[:60]]
        body = [l for l in lines if l]
        if not body:
            return False
        if body[0].startswith("消息记录") or (
            _SEPARATOR.match(body[0]) and any(_HEADER.match(l) or _SECTION.match(l) for l in body[1:])
        ):
            return True
        # No header block (users are told to delete it): QQ writes the QQ number or email after
        # the name, and unpadded hours ('9:29:35'), which WeChat exports never do.
        match = _HEADER.match(body[0])
        if not match:
            return False
        sender_id, _ = split_sender(match.group(8))
        return sender_id is not None or len(match.group(4)) == 1 or match.group(7) is not None

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        lines = clean(read_text(path)).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        default_chat = path.stem
        chats: dict[str, list[dict]] = {}  # chat -> rows, in file order
        seen_group: dict[str, str | None] = {}
        group: str | None = None
        chat = default_chat
        start = 0
        for i in range(len(lines) + 1):
            at_end = i == len(lines)
            if not at_end:
                line = lines[i].strip()
                section = _SECTION.match(line)
                if section:
                    if section.group(1) == "消息分组":
                        group = section.group(2).strip()
                    else:
                        chat = section.group(2).strip() or default_chat
                    continue
                if not _SEPARATOR.match(line):
                    continue
            # lines[start:i] is one segment between separators
            blocks = list(split_blocks(lines[start:i], _HEADER.match, first_line=start + 1))
            start = i + 1
            if not blocks:
                continue
            if chat in seen_group and seen_group[chat] != group:
                ctx.skip("chat repeated in another group", len(blocks))
                continue
            seen_group[chat] = group
            rows = chats.setdefault(chat, [])
            for block in blocks:
                row = self._row(path, block, ctx)
                if row is not None:
                    rows.append(row)
        for chat_name, rows in chats.items():
            yield from self._messages(chat_name, rows)

    @staticmethod
    def _row(path: Path, block, ctx: ParseContext) -> dict | None:
        naive = _header_time(block.header)
        if naive is None:
            raise InputError(path, "unreadable time", line=block.line)
        sender_id, name = split_sender(block.header.group(8))
        text = block.text.strip("\n")
        if not text.strip():
            ctx.skip("empty message")
            return None
        if name.startswith("系统消息"):
            kind = MessageKind.RECALLED if is_recall_notice(text) else MessageKind.SYSTEM
            return dict(sender_id="system", name="system", owner=False, time=ctx.local(naive), text=text, kind=kind, id=None)
        if is_recall_notice(text) and "\n" not in text and len(text) < 40:
            kind = MessageKind.RECALLED
        else:
            kind = placeholder_kind(text) or MessageKind.TEXT
        owner = ctx.owner.is_owner(sender_id, name)
        return dict(sender_id=sender_id or name, name=name, owner=owner, time=ctx.local(naive), text=text, kind=kind, id=sender_id)

    @staticmethod
    def _messages(chat: str, rows: list[dict]) -> Iterator[Message]:
        people = [r["sender_id"] for r in rows if r["kind"] not in (MessageKind.SYSTEM, MessageKind.RECALLED)]
        # group members carry a QQ number/email; private chats only a name
        has_ids = any(r["id"] for r in rows if r["kind"] is not MessageKind.SYSTEM)
        kind = ChatKind.GROUP if has_ids else chat_kind_for(people)
        for n, r in enumerate(rows, start=1):
            yield Message(
                source="qq",
                source_id=f"qq:{chat}:{n}",
                conversation_id=f"qq:{chat}",
                conversation_name=chat,
                chat_kind=kind,
                sender_id=r["sender_id"],
                sender_name=r["name"],
                is_owner=r["owner"],
                timestamp=r["time"],
                text=r["text"],
                kind=r["kind"],
            )


# -- QQ-Chat-Exporter JSON ----------------------------------------------------------------------

QCE_ELEMENT_KINDS: dict[str, MessageKind] = {
    "image": MessageKind.IMAGE,
    "video": MessageKind.VIDEO,
    "audio": MessageKind.VOICE,
    "file": MessageKind.FILE,
    "market_face": MessageKind.STICKER,
    "location": MessageKind.LOCATION,
    "json": MessageKind.LINK,
    "forward": MessageKind.OTHER,
    "system": MessageKind.SYSTEM,
}
QCE_TEXT_ELEMENTS = {"text", "face", "at", "reply"}
QCE_LABELS: dict[MessageKind, str] = {
    MessageKind.IMAGE: "[图片]",
    MessageKind.VIDEO: "[视频]",
    MessageKind.VOICE: "[语音]",
    MessageKind.FILE: "[文件]",
    MessageKind.STICKER: "[表情]",
    MessageKind.LOCATION: "[位置]",
    MessageKind.LINK: "[卡片消息]",
    MessageKind.OTHER: "[聊天记录]",
}


class QQChatExporterJson(Parser):
    name = "qq-qce-json"
    description = "QQ, QQ-Chat-Exporter (QCE) JSON (chatInfo.selfUid = owner)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        start = head.lstrip()
        return start.startswith("{") and '"chatInfo"' in head and ("QQChatExporter" in head or '"selfUid"' in head)

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        data = load_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("chatInfo"), dict):
            raise InputError(path, "no chatInfo object: not a QQ-Chat-Exporter JSON file", field="chatInfo")
        info = data["chatInfo"]
        messages = data.get("messages")
        if not isinstance(messages, list):
            raise InputError(path, "expected a list of messages", field="messages")
        self_ids = {str(v) for v in (info.get("selfUid"), info.get("selfUin")) if v not in (None, "", "0")}
        chat_name = clean(str(info.get("name") or path.stem))
        chat_id = str(info.get("peerUin") or info.get("peerUid") or chat_name)
        chat_kind = ChatKind.GROUP if info.get("type") == "group" else ChatKind.PRIVATE
        for i, raw in enumerate(messages):
            where = f"messages[{i}]"
            if not isinstance(raw, dict):
                raise InputError(path, "expected an object", field=where)
            msg_id = raw.get("id") or raw.get("messageId") or raw.get("seq")
            if msg_id in (None, ""):
                raise InputError(path, "message has no id", field=f"{where}.id")
            when = _qce_time(path, raw, where, ctx)
            sender = raw.get("sender") if isinstance(raw.get("sender"), dict) else {}
            uid, uin = str(sender.get("uid") or ""), str(sender.get("uin") or "")
            name = clean(str(sender.get("name") or sender.get("nickname") or uin or uid)).strip()
            kind, text, reply = _qce_content(raw)
            if kind is MessageKind.SYSTEM:
                sender_id, name, is_owner = "system", "system", False
            else:
                sender_id = uin if uin not in ("", "0") else (uid or name or "unknown")
                flag = bool(self_ids & {uid, uin}) if self_ids else None
                is_owner = ctx.owner.is_owner(sender_id, name, flag)
            yield Message(
                source="qq",
                source_id=f"qq:{chat_id}:{msg_id}",
                conversation_id=f"qq:{chat_id}",
                conversation_name=chat_name,
                chat_kind=chat_kind,
                sender_id=sender_id,
                sender_name=name or sender_id,
                is_owner=is_owner,
                timestamp=when,
                text=text,
                kind=kind,
                reply_to=f"qq:{chat_id}:{reply}" if reply else None,
            )


def _qce_time(path: Path, raw: dict, where: str, ctx: ParseContext) -> datetime:
    value = raw.get("timestamp", raw.get("time"))
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
            number = float(value)
            return from_epoch(number / 1000 if number > 1e11 else number).astimezone(ctx.tz)  # V5: milliseconds
        if isinstance(value, str) and value.strip():
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else ctx.local(parsed)
    except (ValueError, OverflowError, OSError):
        pass
    raise InputError(path, f"unreadable timestamp {value!r}", field=f"{where}.timestamp")


def _qce_content(raw: dict) -> tuple[MessageKind, str, str | None]:
    content = raw.get("content") if isinstance(raw.get("content"), dict) else {}
    text = clean(str(content.get("text") or "")).strip()
    elements = [e for e in content.get("elements") or [] if isinstance(e, dict)]
    reply = None
    for element in elements:
        if element.get("type") == "reply" and isinstance(element.get("data"), dict):
            data = element["data"]
            reply = data.get("referencedMessageId") or data.get("messageId")
    legacy_reply = content.get("reply")
    if reply is None and isinstance(legacy_reply, dict):  # V4
        reply = legacy_reply.get("referencedMessageId") or legacy_reply.get("messageId")
    if raw.get("system") or raw.get("isSystemMessage"):
        return MessageKind.SYSTEM, text, None
    if raw.get("recalled") or raw.get("isRecalled"):
        return MessageKind.RECALLED, "[recalled]", None  # QCE keeps the text; the sender took it back
    types = [str(e.get("type")) for e in elements]
    if any(t in QCE_TEXT_ELEMENTS - {"reply"} for t in types) and text:
        return MessageKind.TEXT, text, _str_or_none(reply)
    media = next((QCE_ELEMENT_KINDS[t] for t in types if t in QCE_ELEMENT_KINDS), None)
    if media is None:
        resources = [r for r in content.get("resources") or [] if isinstance(r, dict)]
        media = next((QCE_ELEMENT_KINDS[r.get("type")] for r in resources if r.get("type") in QCE_ELEMENT_KINDS), None)
    if media is not None:
        return media, QCE_LABELS.get(media, text), _str_or_none(reply)
    return placeholder_kind(text) or MessageKind.TEXT, text, _str_or_none(reply)


def _str_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "", 0) else None
