"""WeFlow (WeChat 4.x) exports, and EchoTrace's JSON, which has the same shape without a header.

    JSON      {"weflow": {...}, "session": {wxid, displayName, type: 群聊|私聊, ...}, "messages": [
               {localId, createTime, formattedTime, type (Chinese name), localType, content,
                isSend, senderUsername, senderDisplayName, platformMessageId?, replyToMessageId?...}]}
    API JSON  GET /api/v1/messages: {"success", "talker", "messages": [{serverId, localType,
               createTime, isSend, senderUsername, content, ...}]}
    "WeClone" CSV  id,MsgSvrID,type_name,is_sender,talker,msg,src,CreateTime  (UTF-8 BOM, CRLF)
    TXT       'YYYY-MM-DD HH:mm:ss '<sender>'' + content blocks; the owner is '我'

Times: `createTime` is Unix seconds (used; `formattedTime` is the exporter's local clock); the
CSV writes UTC ISO strings ('2025-11-08T02:00:05.000Z'); the TXT local time without an offset.
"Me" is `isSend` / `is_sender` (1); in TXT the sender '我'. Ids: the server id when the export
has one (`wechat:<id>`, as every WeChat export), else the chat, time, sender and n-th occurrence.
The CSV writes English type names, and system lines and recalls with type_name 'text': they
are recognised by their wording. Quote replies carry the quoted message after the reply
('reply[引用 name：quoted]'), which is cut off: those are someone else's words.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from twin.errors import InputError
from twin.records import ChatKind, Message, MessageKind
from twin.ingest.base import CERTAIN, LIKELY, ParseContext, Parser, Record
from twin.ingest.formats.chatkit import chat_kind_for, csv_rows, file_chat_name, placeholder_kind, split_blocks
from twin.ingest.formats.wechat import strip_markup
from twin.ingest.formats.wxtypes import (
    QUOTE_SUBTYPE, Ordinals, epoch_time, is_recall, label, sentence_kind, split_local_type, wx_kind,
)
from twin.ingest.formats.jsonfile import load_json
from twin.ingest.textio import clean, read_text
from twin.ingest.timestamps import parse_local

# WeFlow's Chinese type names (getMessageTypeName); anything with <sysmsg is 系统消息.
TYPE_NAME_KINDS: dict[str, MessageKind] = {
    "文本消息": MessageKind.TEXT,
    "引用消息": MessageKind.TEXT,
    "图片消息": MessageKind.IMAGE,
    "语音消息": MessageKind.VOICE,
    "名片消息": MessageKind.OTHER,
    "视频消息": MessageKind.VIDEO,
    "动画表情": MessageKind.STICKER,
    "位置消息": MessageKind.LOCATION,
    "链接消息": MessageKind.LINK,
    "通话消息": MessageKind.CALL,
    "系统消息": MessageKind.SYSTEM,
    "音乐消息": MessageKind.LINK,
    "群公告": MessageKind.SYSTEM,
    "转账消息": MessageKind.TRANSFER,
    "文件消息": MessageKind.FILE,
    "聊天记录": MessageKind.OTHER,
    "小程序消息": MessageKind.LINK,
    "其他消息": MessageKind.OTHER,
}
# The WeClone CSV's English type_name values.
ENGLISH_KINDS: dict[str, MessageKind] = {
    "text": MessageKind.TEXT,
    "image": MessageKind.IMAGE,
    "sticker": MessageKind.STICKER,
    "video": MessageKind.VIDEO,
    "voice": MessageKind.VOICE,
    "location": MessageKind.LOCATION,
    "file": MessageKind.FILE,
}
_QUOTE_TAIL = re.compile(r"\[引用 [^\]：:]*[：:].*\]\s*\Z", re.S)


def without_quote(text: str) -> str:
    """'reply[引用 爱丽丝：quoted]' -> 'reply'."""
    return _QUOTE_TAIL.sub("", text).rstrip()


def _content_text(kind: MessageKind, content: str) -> str:
    """Stored text of a non-text message: system text as written, media as a typed placeholder
    ('[链接] title' keeps a link's title, a voice keeps WeFlow's transcript after its label)."""
    content = content.strip()
    if kind in (MessageKind.SYSTEM, MessageKind.RECALLED):
        return (strip_markup(content) if "<" in content else content) or "[系统消息]"
    if kind in (MessageKind.LINK, MessageKind.FILE) and content.startswith(("[链接]", "[文件]", "[小程序]")):
        return content  # WeFlow's '[链接] title'
    return content if content and placeholder_kind(content) is kind else label(kind)


def _people(records: list[dict]) -> set[str]:
    return {r["sender_id"] for r in records if r["kind"] not in (MessageKind.SYSTEM, MessageKind.RECALLED)}


# -- native JSON and EchoTrace ---------------------------------------------------------------------


class WeFlowJson(Parser):
    name = "weflow-json"
    description = "WeChat, WeFlow JSON export (or EchoTrace's JSON without the weflow header)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        if not head.lstrip().startswith("{") or '"messages"' not in head and '"session"' not in head:
            return 0.0
        if re.search(r'"weflow"\s*:\s*\{', head):
            return CERTAIN
        # EchoTrace: the same session/messages layout, no header
        return LIKELY if '"session"' in head and '"createTime"' in head and '"isSend"' in head else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        data = load_json(path)
        if not isinstance(data, dict):
            raise InputError(path, "expected a JSON object with session and messages")
        session = data.get("session")
        if not isinstance(session, dict):
            raise InputError(path, "missing session object", field="session")
        messages = data.get("messages")
        if not isinstance(messages, list):
            raise InputError(path, "expected a list of messages", field="messages")
        chat_id = _str(session.get("wxid")).strip()
        if not chat_id:
            raise InputError(path, "missing session id", field="session.wxid")
        chat_name = clean(_str(session.get("displayName")) or _str(session.get("remark"))
                          or _str(session.get("nickname")) or chat_id).strip()
        group = _str(session.get("type")) == "群聊" or chat_id.endswith("@chatroom")
        ordinals = Ordinals()
        for i, raw in enumerate(messages):
            yield self._message(path, ctx, raw, f"messages[{i}]", chat_id, chat_name, group, ordinals)

    @staticmethod
    def _message(path: Path, ctx: ParseContext, raw: Any, where: str, chat_id: str, chat_name: str, group: bool,
                 ordinals: Ordinals) -> Message:
        if not isinstance(raw, dict):
            raise InputError(path, "expected an object", field=where)
        stamp = raw.get("createTime")
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
            raise InputError(path, f"createTime must be Unix seconds, got {stamp!r}", field=f"{where}.createTime")
        content = clean(_str(raw.get("content")))
        type_name = _str(raw.get("type")).strip()
        kind = TYPE_NAME_KINDS.get(type_name)
        if kind is None:  # no Chinese name: fall back on WeChat's number (less trusted)
            local_type = raw.get("localType")
            code, sub = split_local_type(local_type) if isinstance(local_type, int) else (0, 0)
            kind = wx_kind(code, sub, content)
        if "<sysmsg" in content:
            kind = MessageKind.SYSTEM
        if kind is MessageKind.SYSTEM and is_recall(content):
            kind = MessageKind.RECALLED
        sender = _str(raw.get("senderUsername")).strip()
        is_send = raw.get("isSend")
        if kind is MessageKind.SYSTEM or is_send is None or (sender == chat_id and group):
            sender_id, sender_name, is_owner = "system", "system", False  # isSend null: EchoTrace's system rows
        else:
            if is_send not in (0, 1):
                raise InputError(path, f"isSend must be 0 or 1, got {is_send!r}", field=f"{where}.isSend")
            sender_id = sender or (chat_id if not group else "unknown")
            sender_name = clean(_str(raw.get("senderDisplayName"))).strip() or sender_id
            is_owner = is_send == 1
        if kind is MessageKind.TEXT:
            text = without_quote(content) if raw.get("quotedContent") is not None or type_name == "引用消息" else content
        else:
            text = _content_text(kind, content)
        server_id = _str(raw.get("platformMessageId")).strip()
        if server_id in ("", "0"):
            server_id = ""
        source_id = f"wechat:{server_id}" if server_id else \
            f"weflow:{chat_id}:{int(stamp)}:{sender}:{ordinals.next(int(stamp), sender)}"
        reply = _str(raw.get("replyToMessageId")).strip()
        return Message(
            source="wechat",
            source_id=source_id,
            conversation_id=f"wechat:{chat_id}",
            conversation_name=chat_name,
            chat_kind=ChatKind.GROUP if group else ChatKind.PRIVATE,
            sender_id=sender_id,
            sender_name=sender_name,
            is_owner=is_owner,
            timestamp=epoch_time(stamp, ctx.tz),
            text=text,
            kind=kind,
            reply_to=f"wechat:{reply}" if reply and reply != "0" else None,
        )


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else ""


# -- HTTP API JSON (/api/v1/messages) ---------------------------------------------------------------


class WeFlowApiJson(Parser):
    name = "weflow-api-json"
    description = "WeChat, WeFlow HTTP API messages (/api/v1/messages, raw JSON)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        if not head.lstrip().startswith("{"):
            return 0.0
        return CERTAIN if all(k in head for k in ('"talker"', '"serverId"', '"localType"', '"rawContent"')) else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        data = load_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise InputError(path, "expected an object with a list of messages", field="messages")
        talker = _str(data.get("talker")).strip()
        if not talker:
            raise InputError(path, "missing talker", field="talker")
        group = talker.endswith("@chatroom")
        ordinals = Ordinals()
        for i, raw in enumerate(data["messages"]):
            where = f"messages[{i}]"
            if not isinstance(raw, dict):
                raise InputError(path, "expected an object", field=where)
            stamp, local_type = raw.get("createTime"), raw.get("localType")
            if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
                raise InputError(path, f"createTime must be Unix seconds, got {stamp!r}", field=f"{where}.createTime")
            if isinstance(local_type, bool) or not isinstance(local_type, int):
                raise InputError(path, f"localType must be an integer, got {local_type!r}", field=f"{where}.localType")
            code, sub = split_local_type(local_type)
            content = clean(_str(raw.get("parsedContent")) or _str(raw.get("content")))
            kind = wx_kind(code, sub, content + _str(raw.get("rawContent")))
            sender = _str(raw.get("senderUsername")).strip()
            if kind is MessageKind.SYSTEM or (kind is MessageKind.RECALLED and not sender):
                sender_id, is_owner = "system", False
            else:
                sender_id, is_owner = sender or talker, raw.get("isSend") == 1
            if kind is MessageKind.TEXT:
                text = without_quote(content)
            else:
                text = _content_text(kind, content)
            server_id = _str(raw.get("serverId")).strip()
            if server_id in ("", "0"):
                server_id = f"{talker}:{int(stamp)}:{sender}:{ordinals.next(int(stamp), sender)}"
                source_id = f"weflow:{server_id}"
            else:
                source_id = f"wechat:{server_id}"
            reply = _str(raw.get("replyToMessageId")).strip()
            yield Message(
                source="wechat", source_id=source_id, conversation_id=f"wechat:{talker}", conversation_name=talker,
                chat_kind=ChatKind.GROUP if group else ChatKind.PRIVATE, sender_id=sender_id,
                sender_name=sender_id, is_owner=is_owner, timestamp=epoch_time(stamp, ctx.tz), text=text, kind=kind,
                reply_to=f"wechat:{reply}" if reply and reply != "0" else None,
            )


# -- "WeClone" CSV ---------------------------------------------------------------------------------

WECLONE_HEADER = "id,MsgSvrID,type_name,is_sender,talker,msg,src,CreateTime"
_UTC_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")


class WeFlowWeCloneCsv(Parser):
    name = "weflow-weclone-csv"
    description = "WeChat, WeFlow's \"WeClone\" CSV export (English type names, UTC times)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        lines = head.split("\n", 2)
        first = clean(lines[0]).strip()
        # PyWxDump's layout has the same first columns; WeFlow's has no room_name and UTC times
        return CERTAIN if first == WECLONE_HEADER and _UTC_ISO.search(head) else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        reader = csv.reader(io.StringIO(read_text(path), newline=""))
        header = [clean(h).strip() for h in next(reader, [])]
        if ",".join(header) != WECLONE_HEADER:
            raise InputError(path, f"expected the header {WECLONE_HEADER}", line=1)
        chat = file_chat_name(path)
        out: list[dict] = []
        for line, row in csv_rows(path, reader):
            if len(row) != 8:
                raise InputError(path, f"expected 8 columns, found {len(row)}", line=line)
            _, svr_id, type_name, flag, talker, msg, _src, stamp = row
            if not svr_id.strip():
                raise InputError(path, "empty MsgSvrID", line=line, field="MsgSvrID")
            if flag.strip() not in ("0", "1"):
                raise InputError(path, f"is_sender must be 0 or 1, got {flag!r}", line=line, field="is_sender")
            when = _utc_time(stamp)
            if when is None:
                raise InputError(path, f"unreadable time {stamp!r} (expected UTC ISO 8601)", line=line, field="CreateTime")
            msg = clean(msg)
            kind = ENGLISH_KINDS.get(type_name.strip().lower(), MessageKind.OTHER)
            if kind is MessageKind.TEXT:
                kind = sentence_kind(msg) or kind  # system lines and recalls are labelled text
            system = kind is MessageKind.SYSTEM
            name = clean(talker).strip()
            out.append({
                "source_id": f"wechat:{svr_id.strip()}",
                "sender_id": "system" if system else name or chat,
                "is_owner": flag.strip() == "1" and not system,
                "when": when.astimezone(ctx.tz),
                "text": msg if kind is MessageKind.TEXT else _content_text(kind, msg),
                "kind": kind,
            })
        yield from _chat_messages(chat, out)


def _chat_messages(chat: str, rows: list[dict]) -> Iterator[Message]:
    """The rows of one file-named chat as messages (group or private decided by who speaks)."""
    chat_kind = chat_kind_for(_people(rows))
    for r in rows:
        yield Message(
            source="wechat", source_id=r["source_id"], conversation_id=f"wechat:{chat}", conversation_name=chat,
            chat_kind=chat_kind, sender_id=r["sender_id"], sender_name=r["sender_id"], is_owner=r["is_owner"],
            timestamp=r["when"], text=r["text"], kind=r["kind"],
        )


def _utc_time(value: str) -> datetime | None:
    value = value.strip()
    if not _UTC_ISO.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


# -- TXT -------------------------------------------------------------------------------------------

_TXT_HEADER = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) '(.*)'$")
SELF_NAME = "我"


class WeFlowTxt(Parser):
    name = "weflow-txt"
    description = "WeChat, WeFlow TXT export (\"YYYY-MM-DD HH:mm:ss 'sender'\" + content; '我' = owner)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        first = next((clean(l) for l in head.split("\n") if l.strip()), "")
        return CERTAIN if _TXT_HEADER.match(first.rstrip("\r")) else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        lines = clean(read_text(path)).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        first = next((i for i, l in enumerate(lines) if l.strip()), None)
        if first is None:
            raise InputError(path, "empty file")
        if not _TXT_HEADER.match(lines[first]):
            raise InputError(path, "expected a \"YYYY-MM-DD HH:mm:ss 'sender'\" line", line=first + 1)
        chat = file_chat_name(path)
        ordinals = Ordinals()
        out: list[dict] = []
        for block in split_blocks(lines[first:], _TXT_HEADER.match, first_line=first + 1):
            stamp, name = block.header.group(1), block.header.group(2).strip()
            naive = parse_local(stamp)
            if naive is None:
                raise InputError(path, f"unreadable time {stamp!r}", line=block.line)
            body = block.text
            kind = sentence_kind(body) or placeholder_kind(body) or MessageKind.TEXT
            is_owner = name == SELF_NAME
            system = kind is MessageKind.SYSTEM
            out.append({
                "source_id": f"weflow-txt:{chat}:{stamp}:{name}:{ordinals.next(stamp, name)}",
                "sender_id": "system" if system else name,
                "is_owner": is_owner and not system,
                "when": ctx.local(naive),
                "text": without_quote(body) if kind is MessageKind.TEXT else _content_text(kind, body),
                "kind": kind,
            })
        yield from _chat_messages(chat, out)
