"""WeChat exports (we parse files made by exporter tools; we never decrypt databases).

PyWxDump CSV, the layout WeClone reads:
    id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime
CreateTime is exporter-local time with no offset (`ingest.source_tz`); spreadsheets re-save it as
'2024/10/4 11:43'. `is_sender` is the owner flag and is trusted over `talker`.

WeChatMsg/MemoTrace (LC044/WeChatMsg), one file per conversation named after it ('<备注>.csv',
'<备注>_utf8.csv', '<备注>.txt'):
  v1 CSV  localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime[,Remark,NickName,Sender]
          CreateTime is an epoch; IsSender is the owner flag; non-text StrContent is raw XML.
  v2 CSV  消息ID,类型,发送人,时间,内容,备注,昵称,更多信息: no owner flag, so "me" comes from the
          configured names (ctx.owner); 时间 is local time.
  TXT     '{time} {display name}\n{content}\n\n' blocks; system lines have no sender; media are
          placeholders ([图片] in v1, 【图片】 in v2).
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from twin.errors import InputError
from twin.records import ChatKind, Message, MessageKind
from twin.ingest.base import LIKELY, ParseContext, Parser, Record
from twin.ingest.formats.chatkit import (
    chat_kind_for, csv_rows, file_chat_name, is_recall_notice, placeholder_kind, split_blocks,
)
from twin.ingest.textio import clean, read_text
from twin.ingest.timestamps import from_epoch, parse_local

# type_name -> kind. Names not listed (未知, 游戏相关...) become OTHER.
PYWXDUMP_KINDS: dict[str, MessageKind] = {
    "文本": MessageKind.TEXT,
    "引用回复": MessageKind.TEXT,  # the reply text comes first; the quote is cut off below
    "粘贴的文本": MessageKind.TEXT,
    "图片": MessageKind.IMAGE,
    "语音": MessageKind.VOICE,
    "视频": MessageKind.VIDEO,
    "动画表情": MessageKind.STICKER,
    "用户上传的GIF表情": MessageKind.STICKER,
    "位置": MessageKind.LOCATION,
    "位置共享": MessageKind.LOCATION,
    "文件": MessageKind.FILE,
    "转账": MessageKind.TRANSFER,
    "赠送红包封面": MessageKind.TRANSFER,
    "语音通话": MessageKind.CALL,
    "系统通知": MessageKind.SYSTEM,
    "拍一拍": MessageKind.SYSTEM,
    "邀请加群": MessageKind.SYSTEM,
    "添加好友": MessageKind.SYSTEM,
    "群公告": MessageKind.SYSTEM,
}

PYWXDUMP_COLUMNS = ("MsgSvrID", "type_name", "is_sender", "talker", "msg", "CreateTime")
# Enum attribute lookups are slow in the per-row loop of million-row exports: bind them once.
_WORDS_KEPT = frozenset({MessageKind.TEXT, MessageKind.RECALLED, MessageKind.SYSTEM})
_GROUP, _PRIVATE = ChatKind.GROUP, ChatKind.PRIVATE
_RECALLED, _LINK, _OTHER = MessageKind.RECALLED, MessageKind.LINK, MessageKind.OTHER


def pywxdump_kind(type_name: str, msg: str) -> MessageKind:
    if type_name.startswith("消息撤回") or "<revokemsg>" in msg:
        return _RECALLED
    if type_name.startswith("(分享)"):
        return _LINK
    return PYWXDUMP_KINDS.get(type_name, _OTHER)


class PyWxDumpCsv(Parser):
    name = "wechat-pywxdump-csv"
    description = "WeChat, PyWxDump/WeClone CSV (id,MsgSvrID,type_name,is_sender,...)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        first = head.split("\n", 1)[0]
        # LIKELY: WeFlow's "WeClone" CSV starts with the same columns and is surer of its own files
        return LIKELY if "MsgSvrID" in first and "type_name" in first and "is_sender" in first else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        reader = csv.reader(io.StringIO(read_text(path), newline=""))
        header = next(reader, None)
        if not header:
            raise InputError(path, "empty file")
        header = [clean(h).strip() for h in header]
        missing = [c for c in PYWXDUMP_COLUMNS if c not in header]
        if missing:
            raise InputError(path, f"missing column(s) {', '.join(missing)}", line=1)
        col = {name: header.index(name) for name in header}
        i_id, i_type, i_sender, i_talker, i_msg, i_time = (col[c] for c in PYWXDUMP_COLUMNS)
        i_room = col.get("room_name")
        width = len(header)
        my_id = None  # PyWxDump writes "我" or the owner's wxid as talker of their own rows
        for row in reader:  # errors below read reader.line_num: the line this row ended on
            if not row or row == [""]:
                continue
            if len(row) < width:
                raise InputError(path, f"expected {width} columns, found {len(row)}", line=reader.line_num)
            svr_id = row[i_id].strip()
            if not svr_id:
                raise InputError(path, "empty MsgSvrID", line=reader.line_num, field="MsgSvrID")
            flag = row[i_sender].strip()
            if flag not in ("0", "1"):
                raise InputError(path, f"is_sender must be 0 or 1, got {flag!r}", line=reader.line_num, field="is_sender")
            naive = parse_local(row[i_time])
            if naive is None:
                raise InputError(path, f"unreadable time {row[i_time]!r}", line=reader.line_num, field="CreateTime")
            room = row[i_room].strip() if i_room is not None else ""
            talker = row[i_talker].strip()
            is_owner = flag == "1"
            if is_owner and talker and talker != "我":
                my_id = talker
            conversation = room or (talker if not is_owner else "") or "unknown"
            msg = row[i_msg]
            type_name = row[i_type].strip()
            kind = pywxdump_kind(type_name, msg)
            text = clean(msg)
            if type_name == "引用回复":
                text = text.split("\n\n[引用]", 1)[0]  # keep the reply, drop the quoted message
            if kind not in _WORDS_KEPT:
                text = f"[{type_name}]"  # a typed placeholder, not a URL or file path
            sender_id = (my_id or "me") if is_owner else (talker or room)
            yield Message(
                source="wechat",
                source_id=f"wechat:{svr_id}",
                conversation_id=f"wechat:{conversation}",
                conversation_name=conversation,
                chat_kind=_GROUP if conversation.endswith("@chatroom") else _PRIVATE,
                sender_id=sender_id,
                sender_name=sender_id,
                is_owner=is_owner,
                timestamp=ctx.local(naive) if naive.tzinfo is None else naive.astimezone(ctx.tz),
                text=text,
                kind=kind,
            )


# -- WeChatMsg / MemoTrace -------------------------------------------------------------------

# Placeholder texts for media rows whose raw content is XML or a path.
KIND_LABELS: dict[MessageKind, str] = {
    MessageKind.IMAGE: "[图片]",
    MessageKind.VOICE: "[语音]",
    MessageKind.VIDEO: "[视频]",
    MessageKind.STICKER: "[表情包]",
    MessageKind.LOCATION: "[位置]",
    MessageKind.CALL: "[音视频通话]",
    MessageKind.FILE: "[文件]",
    MessageKind.LINK: "[链接]",
    MessageKind.TRANSFER: "[转账]",
    MessageKind.OTHER: "[其他消息]",
}

# WeChat 3.x message Type -> kind; Type 49 ("app message") is refined by SubType below.
V1_TYPE_KINDS: dict[int, MessageKind] = {
    1: MessageKind.TEXT,
    3: MessageKind.IMAGE,
    34: MessageKind.VOICE,
    42: MessageKind.OTHER,  # contact card
    43: MessageKind.VIDEO,
    47: MessageKind.STICKER,
    48: MessageKind.LOCATION,
    50: MessageKind.CALL,
    10000: MessageKind.SYSTEM,
    10002: MessageKind.SYSTEM,
}
V1_APP_KINDS: dict[int, MessageKind] = {
    3: MessageKind.LINK,  # music
    4: MessageKind.LINK,
    5: MessageKind.LINK,
    6: MessageKind.FILE,
    8: MessageKind.STICKER,
    19: MessageKind.OTHER,  # merged forward
    33: MessageKind.LINK,  # mini program
    36: MessageKind.LINK,
    51: MessageKind.LINK,  # channels video
    57: MessageKind.TEXT,  # quote: the reply is the <title>
    2000: MessageKind.TRANSFER,
    2001: MessageKind.TRANSFER,  # red packet
}

# v2 类型 names -> kind (names not listed become OTHER).
V2_TYPE_KINDS: dict[str, MessageKind] = {
    "文本": MessageKind.TEXT,
    "引用消息": MessageKind.TEXT,
    "图片": MessageKind.IMAGE,
    "表情包": MessageKind.STICKER,
    "语音": MessageKind.VOICE,
    "视频": MessageKind.VIDEO,
    "文件": MessageKind.FILE,
    "位置": MessageKind.LOCATION,
    "分享链接": MessageKind.LINK,
    "链接": MessageKind.LINK,
    "音乐分享": MessageKind.LINK,
    "小程序": MessageKind.LINK,
    "视频号": MessageKind.LINK,
    "音视频通话": MessageKind.CALL,
    "转账": MessageKind.TRANSFER,
    "红包": MessageKind.TRANSFER,
    "系统消息": MessageKind.SYSTEM,
    "拍一拍": MessageKind.SYSTEM,
}

FILE_SUFFIXES = ("_utf8", "_chat")
_QUOTE_TAIL = re.compile(r"\n引用[:：].*\Z", re.S)  # '回复\n引用:张三:原话' -> '回复'
_TITLE = re.compile(r"<title>(.*?)</title>", re.S)
_TAG = re.compile(r"<[^>]+>")
_REVOKE_ANCHOR = re.compile(r"<a href=\"weixin://revoke_edit_click\">.*?</a>", re.S)


def strip_markup(text: str) -> str:
    """System message XML/CDATA -> its readable sentence (the '重新编辑' recall link dropped)."""
    text = _REVOKE_ANCHOR.sub("", text).replace("<![CDATA[", "").replace("]]>", "")
    return html.unescape(_TAG.sub("", text)).strip()


def without_quote(text: str) -> str:
    """Drop the quoted message WeChatMsg appends to a reply: it is someone else's words."""
    return _QUOTE_TAIL.sub("", text).rstrip()


def unescape_name(name: str) -> str:
    """WeChatMsg v1 runs names through a JS+HTML escaper even in TXT ('&amp;', "\\'")."""
    return html.unescape(name.replace("\\'", "'")).strip()


@dataclass
class _Row:
    """One message before the conversation-level facts (group or not, chat id) are known."""

    source_id: str
    sender_id: str
    sender_name: str
    is_owner: bool
    timestamp: datetime
    text: str
    kind: MessageKind


def _conversation(rows: list[_Row], name: str, chat_id: str) -> Iterator[Message]:
    people = {r.sender_id for r in rows if r.kind is not MessageKind.SYSTEM and r.kind is not MessageKind.RECALLED}
    kind = chat_kind_for(people)
    for r in rows:
        yield Message(
            source="wechat",
            source_id=r.source_id,
            conversation_id=f"wechat:{chat_id}",
            conversation_name=name,
            chat_kind=kind,
            sender_id=r.sender_id,
            sender_name=r.sender_name,
            is_owner=r.is_owner,
            timestamp=r.timestamp,
            text=r.text,
            kind=r.kind,
        )


def _csv_rows(path: Path, required: tuple[str, ...]) -> tuple[dict[str, int], Iterator[tuple[int, list[str]]]]:
    """Header index and (line, row) pairs; missing columns and short rows raise InputError."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    header = next(reader, None)
    if not header:
        raise InputError(path, "empty file")
    header = [clean(h).strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}", line=1)
    col = {name: i for i, name in enumerate(header)}
    needed = max(col[c] for c in required) + 1

    def rows() -> Iterator[tuple[int, list[str]]]:
        for line, row in csv_rows(path, reader):
            if len(row) < needed:
                raise InputError(path, f"expected {len(header)} columns, found {len(row)}", line=line)
            yield line, row + [""] * (len(header) - len(row))

    return col, rows()


V1_COLUMNS = ("localId", "Type", "IsSender", "CreateTime", "StrContent")


class WeChatMsgCsv(Parser):
    name = "wechat-wechatmsg-csv"
    description = "WeChat, WeChatMsg/MemoTrace v1 CSV (localId,TalkerId,Type,SubType,IsSender,CreateTime,...)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        first = clean(head.split("\n", 1)[0]).strip()
        return first.startswith("localId,TalkerId,Type,SubType,IsSender,CreateTime")

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        col, rows = _csv_rows(path, V1_COLUMNS)
        chat_name = file_chat_name(path, FILE_SUFFIXES)
        get = _getter(col)
        out: list[_Row] = []
        peers: set[str] = set()
        for line, row in rows:
            local_id = get(row, "localId").strip()
            if not local_id:
                raise InputError(path, "empty localId", line=line, field="localId")
            flag = get(row, "IsSender").strip()
            if flag not in ("0", "1"):
                raise InputError(path, f"IsSender must be 0 or 1, got {flag!r}", line=line, field="IsSender")
            epoch = _integer(path, line, "CreateTime", get(row, "CreateTime"))
            when = from_epoch(epoch).astimezone(ctx.tz)
            type_code = _integer(path, line, "Type", get(row, "Type"))
            sub_type = _integer(path, line, "SubType", get(row, "SubType") or "0")
            is_owner = flag == "1"
            kind, text = self._content(type_code, sub_type, get(row, "StrContent"))
            if kind is MessageKind.SYSTEM or kind is MessageKind.RECALLED:
                sender_id, sender_name = "system", "system"
            else:
                wxid = get(row, "Sender").strip()
                sender_id = wxid or ("me" if is_owner else chat_name)
                shown = get(row, "Remark").strip() or get(row, "NickName").strip()
                sender_name = shown or sender_id
                if not is_owner and wxid:
                    peers.add(wxid)
            is_owner = is_owner and kind is not MessageKind.SYSTEM  # pats and joins are not the owner's words
            out.append(_Row(f"wechat:{local_id}", sender_id, sender_name, is_owner, when, text, kind))
        # A private chat is keyed by the contact's wxid, as in PyWxDump exports; groups by name.
        chat_id = next(iter(peers)) if len(peers) == 1 else chat_name
        yield from _conversation(out, chat_name, chat_id)

    @staticmethod
    def _content(type_code: int, sub_type: int, raw: str) -> tuple[MessageKind, str]:
        if type_code == 49:
            kind = V1_APP_KINDS.get(sub_type, MessageKind.OTHER)
            title = _TITLE.search(raw)
            title_text = clean(html.unescape(title.group(1))).strip() if title else ""
            if kind is MessageKind.TEXT:  # a quote: the reply text is the title
                if title_text:
                    return MessageKind.TEXT, title_text
                plain = clean(raw).strip()
                if plain and not plain.startswith("<"):  # some versions write the reply itself
                    return MessageKind.TEXT, without_quote(plain)
                return MessageKind.OTHER, "[引用]"
            label = KIND_LABELS[kind]
            return kind, f"{label} {title_text}" if title_text and kind is MessageKind.LINK else label
        kind = V1_TYPE_KINDS.get(type_code, MessageKind.OTHER)
        if kind is MessageKind.TEXT:
            return kind, clean(raw)
        if kind is MessageKind.SYSTEM:
            text = clean(strip_markup(raw))
            return (MessageKind.RECALLED if is_recall_notice(text) else MessageKind.SYSTEM), text
        return kind, KIND_LABELS[kind]


def _integer(path: Path, line: int, field: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise InputError(path, f"expected an integer, got {value!r}", line=line, field=field) from None


def _getter(col: dict[str, int]):
    def get(row: list[str], name: str) -> str:
        i = col.get(name)
        return row[i] if i is not None and i < len(row) else ""

    return get


V2_COLUMNS = ("消息ID", "类型", "发送人", "时间", "内容")


class WeChatMsgCsvV2(Parser):
    name = "wechat-wechatmsg-csv-v2"
    description = "WeChat, WeChatMsg/MemoTrace v2 CSV (消息ID,类型,发送人,时间,内容,...; owner from [owner] names)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        first = clean(head.split("\n", 1)[0]).strip()
        return first.startswith("消息ID,类型,发送人,时间,内容")

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        col, rows = _csv_rows(path, V2_COLUMNS)
        chat_name = file_chat_name(path, FILE_SUFFIXES)
        get = _getter(col)
        out: list[_Row] = []
        for line, row in rows:
            msg_id = get(row, "消息ID").strip()
            if not msg_id:
                raise InputError(path, "empty 消息ID", line=line, field="消息ID")
            naive = parse_local(get(row, "时间"))
            if naive is None:
                raise InputError(path, f"unreadable time {get(row, '时间')!r}", line=line, field="时间")
            type_name = get(row, "类型").strip()
            content = clean(get(row, "内容"))
            kind = V2_TYPE_KINDS.get(type_name, MessageKind.OTHER)
            if kind is MessageKind.SYSTEM and is_recall_notice(content):
                kind = MessageKind.RECALLED
            if kind is MessageKind.TEXT:
                text = without_quote(content) if type_name == "引用消息" else content
            elif kind in (MessageKind.SYSTEM, MessageKind.RECALLED):
                text = content.strip()
            else:
                text = content.split("\n", 1)[0].strip() or f"[{type_name}]"
            name = clean(get(row, "发送人")).strip()
            if kind in (MessageKind.SYSTEM, MessageKind.RECALLED) or not name:
                sender_id = sender_name = "system"
                is_owner = False
            else:
                sender_id = sender_name = name
                nickname = clean(get(row, "昵称")).strip()
                is_owner = ctx.owner.is_owner(None, name) or (bool(nickname) and ctx.owner.is_owner(None, nickname))
            out.append(_Row(f"wechat:{msg_id}", sender_id, sender_name, is_owner, ctx.local(naive), text, kind))
        yield from _conversation(out, chat_name, chat_name)


_TXT_HEADER = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?: (.*\S))?\s*$")


class WeChatMsgTxt(Parser):
    name = "wechat-wechatmsg-txt"
    description = "WeChat, WeChatMsg/MemoTrace TXT ('YYYY-MM-DD HH:MM:SS name' + content blocks)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        lines = [clean(l) for l in head.split("\n")[:40]]
        first = next((l for l in lines if l.strip()), "")
        # QQ's TXT opens with the same 'date time name' line: QQ's parser is surer when it also
        # finds a QQ number or unpadded hours, so this one only claims LIKELY.
        return LIKELY if _TXT_HEADER.match(first) and path.suffix.lower() == ".txt" else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        lines = clean(read_text(path)).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        first = next((i for i, l in enumerate(lines) if l.strip()), None)
        if first is None:
            raise InputError(path, "empty file")
        if not _TXT_HEADER.match(lines[first]):
            raise InputError(path, "expected a 'YYYY-MM-DD HH:MM:SS name' line", line=first + 1)
        chat = file_chat_name(path, FILE_SUFFIXES)
        out: list[_Row] = []
        for n, block in enumerate(split_blocks(lines[first:], _TXT_HEADER.match, first_line=first + 1), start=1):
            stamp, name = block.header.group(1), block.header.group(2)
            naive = parse_local(stamp)
            if naive is None:
                raise InputError(path, f"unreadable time {stamp!r}", line=block.line)
            body = block.text
            if name is None or not body.strip():
                # '{time} {notice}' (v1) or '{time}\n{notice}' (v2): a system line, no sender
                text = (name or body).strip()
                kind = MessageKind.RECALLED if is_recall_notice(text) else MessageKind.SYSTEM
                row = _Row(f"wechat:{chat}:{n}", "system", "system", False, ctx.local(naive), text, kind)
            else:
                sender = unescape_name(name)
                kind = placeholder_kind(body) or MessageKind.TEXT
                text = without_quote(body) if kind is MessageKind.TEXT else body.split("\n", 1)[0].strip()
                is_owner = ctx.owner.is_owner(None, sender)
                row = _Row(f"wechat:{chat}:{n}", sender, sender, is_owner, ctx.local(naive), text, kind)
            out.append(row)
        yield from _conversation(out, chat, chat)
