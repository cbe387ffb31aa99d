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
from pathlib import Path

from core.errors import InputError
from core.records import ChatKind, Message, MessageKind
from ingest.base import ParseContext, Parser, Record
from ingest.formats.chatkit import chat_kind_for, file_chat_name, is_recall_notice, placeholder_kind, split_blocks
from ingest.textio import clean, read_text
from ingest.timeparse import from_epoch, parse_local

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


def pywxdump_kind(type_name: str, msg: str) -> MessageKind:
    if type_name.startswith("消息撤回") or "<revokemsg>" in msg:
        return MessageKind.RECALLED
    if type_name.startswith("(分享)"):
        return MessageKind.LINK
    return PYWXDUMP_KINDS.get(type_name, MessageKind.OTHER)


class PyWxDumpCsv(Parser):
    name = "wechat-pywxdump-csv"
    description = "WeChat, PyWxDump/WeClone CSV (id,MsgSvrID,type_name,is_sender,...)"

    @classmethod
    def detect(cls, path: Path, head: str) -> bool:
        first = head.split("\n", 1)[0]
        return "MsgSvrID" in first and "type_name" in first and "is_sender" in first

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
        for row in reader:
            line = reader.line_num
            if not row or row == [""]:
                continue
            if len(row) < width:
                raise InputError(path, f"expected {width} columns, found {len(row)}", line=line)
            svr_id = row[i_id].strip()
            if not svr_id:
                raise InputError(path, "empty MsgSvrID", line=line, field="MsgSvrID")
            flag = row[i_sender].strip()
            if flag not in ("0", "1"):
                raise InputError(path, f"is_sender must be 0 or 1, got {flag!r}", line=line, field="is_sender")
            naive = parse_local(row[i_time])
            if naive is None:
                raise InputError(path, f"unreadable time {row[i_time]!r}", line=line, field="CreateTime")
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
            if kind is not MessageKind.TEXT and kind is not MessageKind.RECALLED and kind is not MessageKind.SYSTEM:
                text = f"[{type_name}]"  # a typed placeholder, not a URL or file path
            sender_id = (my_id or "me") if is_owner else (talker or room)
            yield Message(
                source="wechat",
                source_id=f"wechat:{svr_id}",
                conversation_id=f"wechat:{conversation}",
                conversation_name=conversation,
                chat_kind=ChatKind.GROUP if conversation.endswith("@chatroom") else ChatKind.PRIVATE,
                sender_id=sender_id,
                sender_name=sender_id,
                is_owner=is_owner,
                timestamp=ctx.local(naive),
                text=text,
                kind=kind,
            )
