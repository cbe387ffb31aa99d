"""chatlog (sjzar/chatlog, WeChat 3.x/4.x): its HTTP API output and its webhook body.

    GET /api/v1/chatlog?format=json   a bare JSON array of messages
    webhook POST body                 {"keyword", "lastTime", "length", "messages": [...], "sender", "talker"}
    GET /api/v1/chatlog?format=csv    Time,SenderName,Sender,TalkerName,Talker,Content
    GET /api/v1/chatlog (plain text)  '<SenderName>(<sender or 我>) [<TalkerName>(<talker>)] <time>' + content

A message is identified by its conversation and `seq` (sort_seq: the create time in seconds
times 1000 plus a counter), `chatlog:<talker>:<seq>`. CSV and text carry no seq, so it is
rebuilt the same way (seconds * 1000 + the n-th message of that chat in that second), which
gives the JSON's ids for the same messages. Times: JSON has RFC 3339 with the chatlog server's
offset; CSV and text are that server's local time without an offset (`ingest.source_tz`).
"Me": JSON's `isSelf`; text writes `我` for the owner; CSV says nothing, but in a private chat
every sender other than the contact is the owner (chatlog's own rule), and the id learned there
marks the owner in groups. System rows have the sender `系统消息`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from twin.errors import InputError
from twin.records import ChatKind, Message, MessageKind
from twin.ingest.base import CERTAIN, LIKELY, ParseContext, Parser, Record
from twin.ingest.formats.chatkit import PLACEHOLDER_KINDS, csv_rows, split_blocks
from twin.ingest.formats.wxtypes import QUOTE_SUBTYPE, Ordinals, epoch_time, is_recall, label, wx_kind
from twin.ingest.formats.jsonfile import load_json
from twin.ingest.textio import clean, read_text
from twin.ingest.timestamps import parse_local

SYSTEM_SENDER = "系统消息"
SELF_IN_TEXT = "我"


@dataclass
class _Row:
    """One message before the facts that need the whole file (chat names, the owner's id)."""

    line: int | None
    field: str | None
    talker: str
    talker_name: str
    sender: str
    sender_name: str
    owner_flag: bool | None  # what the export says; None: decide from the chat
    when: datetime
    seq: int | None  # None: rebuilt from the time
    kind: MessageKind
    text: str


# -- the plain-text rendering of content (CSV, text, webhook) --------------------------------

_MEDIA = re.compile(r"^!?\[(?P<name>[^\]|\n]+)(?:\|(?P<detail>[^\]\n]*))?\](?:\((?P<url>[^)\n]*)\))?$")
_UNKNOWN = re.compile(r"^Type: (\d+) Content: ", re.S)


def plain_content(content: str) -> tuple[MessageKind, str]:
    """(kind, stored text) of chatlog's PlainTextContent: '![图片](url)' is an image,
    '[链接|title](url)' a link kept with its title, '> quoted' lines before a reply are dropped."""
    content = clean(content)
    stripped = content.strip()
    media = _MEDIA.match(stripped)
    if media and (media["url"] is not None or media["detail"] is not None or media["name"] in PLACEHOLDER_KINDS):
        kind = PLACEHOLDER_KINDS.get(media["name"], MessageKind.OTHER)
        title = (media["detail"] or "").split("|", 1)[0].strip()
        if title and kind in (MessageKind.LINK, MessageKind.FILE):
            return kind, f"{label(kind)} {title}"
        return kind, label(kind)
    unknown = _UNKNOWN.match(stripped)
    if unknown:
        code = int(unknown.group(1))
        kind = wx_kind(code, 0, stripped)
        return kind, stripped if kind in (MessageKind.SYSTEM, MessageKind.RECALLED) else label(kind)
    return MessageKind.TEXT, without_quote_lines(content)


def without_quote_lines(content: str) -> str:
    """'> name time\\n> quoted\\nreply' -> 'reply': the quoted message is someone else's words."""
    if not content.startswith(">"):
        return content
    lines = content.split("\n")
    i = 0
    while i < len(lines) and lines[i].startswith(">"):
        i += 1
    return "\n".join(lines[i:]) if i < len(lines) else content


# -- JSON: API array and webhook body ----------------------------------------------------------


class ChatlogJson(Parser):
    name = "chatlog-json"
    description = "WeChat, chatlog API JSON (/api/v1/chatlog?format=json) or chatlog webhook body"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        start = head.lstrip()
        if not start.startswith(("[", "{")):
            return 0.0
        return CERTAIN if all(k in head for k in ('"seq"', '"talker"', '"isChatRoom"')) else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        data = load_json(path)
        where = "messages"
        if isinstance(data, dict):  # the webhook body
            items = data.get("messages")
            if not isinstance(items, list):
                raise InputError(path, "expected a list of messages (a chatlog webhook body)", field="messages")
        elif isinstance(data, list):
            items, where = data, ""
        else:
            raise InputError(path, "expected a JSON array of chatlog messages or a webhook body")
        rows = [self._row(path, raw, f"{where}[{i}]", ctx) for i, raw in enumerate(items)]
        yield from _messages(rows, ctx)

    @staticmethod
    def _row(path: Path, raw: Any, where: str, ctx: ParseContext) -> _Row:
        if not isinstance(raw, dict):
            raise InputError(path, "expected an object", field=where)

        def need(key: str, kind: type) -> Any:
            value = raw.get(key)
            if value is None or isinstance(value, bool) or not isinstance(value, kind):
                raise InputError(path, f"missing or not a {kind.__name__}", field=f"{where}.{key}")
            return value

        talker = need("talker", str).strip()
        seq = need("seq", int)
        if not talker:
            raise InputError(path, "empty talker", field=f"{where}.talker")
        when = _json_time(path, raw.get("time"), seq, f"{where}.time", ctx)
        type_code = need("type", int)
        sub_type = raw.get("subType") if isinstance(raw.get("subType"), int) else 0
        content = raw.get("content") if isinstance(raw.get("content"), str) else ""
        contents = raw.get("contents") if isinstance(raw.get("contents"), dict) else {}
        kind = wx_kind(type_code, sub_type, content)
        if kind is MessageKind.TEXT:
            text = clean(content)
            if type_code == 49 and sub_type == QUOTE_SUBTYPE:
                text = without_quote_lines(text)  # the webhook sends the quote rendered in front
        elif kind in (MessageKind.SYSTEM, MessageKind.RECALLED):
            text = clean(content).strip() or f"[{SYSTEM_SENDER}]"
        else:
            title = contents.get("title") if isinstance(contents.get("title"), str) else ""
            text = f"{label(kind)} {clean(title).strip()}" if title.strip() and kind in (MessageKind.LINK, MessageKind.FILE) else label(kind)
        sender = raw.get("sender") if isinstance(raw.get("sender"), str) else ""
        name = raw.get("senderName") if isinstance(raw.get("senderName"), str) else ""
        talker_name = raw.get("talkerName") if isinstance(raw.get("talkerName"), str) else ""
        flag = raw.get("isSelf") if isinstance(raw.get("isSelf"), bool) else None
        return _Row(None, where, talker, clean(talker_name).strip(), sender.strip() or SYSTEM_SENDER,
                    clean(name).strip(), flag, when, seq, kind, text)


_FRACTION = re.compile(r"(\.\d{6})\d+")  # Go writes nanoseconds; Python reads microseconds


def _json_time(path: Path, value: Any, seq: int, field: str, ctx: ParseContext) -> datetime:
    if isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip().replace("Z", "+00:00")))
        except ValueError:
            raise InputError(path, f"unreadable time {value!r}", field=field) from None
        return parsed.astimezone(ctx.tz) if parsed.tzinfo else ctx.local(parsed)
    if seq > 10**12:  # no time: sort_seq starts with the epoch seconds
        return epoch_time(seq // 1000, ctx.tz)
    raise InputError(path, "missing time", field=field)


# -- CSV ---------------------------------------------------------------------------------------

CSV_HEADER = "Time,SenderName,Sender,TalkerName,Talker,Content"


class ChatlogCsv(Parser):
    name = "chatlog-csv"
    description = "WeChat, chatlog API CSV (Time,SenderName,Sender,TalkerName,Talker,Content)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        return CERTAIN if clean(head.split("\n", 1)[0]).strip() == CSV_HEADER else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        reader = csv.reader(io.StringIO(read_text(path), newline=""))
        try:
            header = [clean(h).strip() for h in next(reader, [])]
        except csv.Error as exc:
            raise InputError(path, f"bad CSV: {exc}", line=1) from None
        if ",".join(header) != CSV_HEADER:
            raise InputError(path, f"expected the header {CSV_HEADER}", line=1)
        rows: list[_Row] = []
        for line, row in csv_rows(path, reader):
            if len(row) != 6:
                raise InputError(path, f"expected 6 columns, found {len(row)}", line=line)
            stamp, sender_name, sender, talker_name, talker, content = row
            naive = parse_local(stamp)
            if naive is None:
                raise InputError(path, f"unreadable time {stamp!r}", line=line, field="Time")
            if not talker.strip():
                raise InputError(path, "empty Talker", line=line, field="Talker")
            sender = sender.strip() or SYSTEM_SENDER
            kind, text = plain_content(content)
            if sender == SYSTEM_SENDER:
                kind, text = _system(text)
            rows.append(_Row(line, None, talker.strip(), clean(talker_name).strip(), sender, clean(sender_name).strip(),
                             None, ctx.local(naive), None, kind, text))
        yield from _messages(rows, ctx, private_rule=True)


def _system(text: str) -> tuple[MessageKind, str]:
    text = text.strip()
    return (MessageKind.RECALLED if is_recall(text) else MessageKind.SYSTEM), text or f"[{SYSTEM_SENDER}]"


# -- plain text ----------------------------------------------------------------------------------

_TEXT_HEADER = re.compile(
    r"^(?:(?P<name>.*?)\((?P<sender>[^()\s]+)\)|(?P<bare>\S+))"
    r"(?: \[(?:(?P<room_name>.*)\((?P<room>[^()\s]+)\)|(?P<room_bare>[^\[\]\s]+))\])?"
    r" (?P<time>(?:(?:\d{4}-)?\d{2}-\d{2} )?\d{2}:\d{2}:\d{2})$"
)
_FILE_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


class ChatlogText(Parser):
    name = "chatlog-text"
    description = "WeChat, chatlog API plain text ('name(wxid) [room(id)] time' + content; 我 = owner)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        lines = head.replace("\r\n", "\n").split("\n")
        first = next((i for i, l in enumerate(lines) if l.strip()), None)
        if first is None or first + 2 >= len(lines):
            return 0.0
        match = _TEXT_HEADER.match(clean(lines[first]))
        if not match or not lines[first + 1].strip():
            return 0.0
        # a wxid in brackets, or chatlog's own words for the owner/system, makes it chatlog's
        who = match["sender"] or match["bare"]
        return LIKELY if (match["sender"] or who in (SELF_IN_TEXT, SYSTEM_SENDER)) else 0.0

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        lines = clean(read_text(path)).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        first = next((i for i, l in enumerate(lines) if l.strip()), None)
        if first is None:
            raise InputError(path, "empty file")
        if not _TEXT_HEADER.match(lines[first]):
            raise InputError(path, "expected a 'name(wxid) time' line", line=first + 1)
        day = _file_date(path)
        rows: list[_Row] = []
        for block in split_blocks(lines[first:], _TEXT_HEADER.match, first_line=first + 1):
            h = block.header
            naive = _text_time(path, block.line, h["time"], day)
            sender = h["sender"] or h["bare"]
            flag = True if sender == SELF_IN_TEXT else None
            room = h["room"] or h["room_bare"] or ""
            kind, text = plain_content(block.text)
            if sender == SYSTEM_SENDER:
                kind, text = _system(text)
            rows.append(_Row(block.line, None, room, (h["room_name"] or "").strip(), sender, (h["name"] or "").strip(),
                             flag, ctx.local(naive), None, kind, text))
        _fill_private_talkers(rows, path)
        yield from _messages(rows, ctx)


def _file_date(path: Path) -> date | None:
    match = _FILE_DATE.search(path.stem)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _text_time(path: Path, line: int, stamp: str, day: date | None) -> datetime:
    """chatlog drops the date when the request covered one day, and the year within one year:
    the missing part comes from a date in the file name (chatlog_2025-11-08.txt)."""
    parts = stamp.split(" ")
    if len(parts) == 2 and len(parts[0]) == 10:
        naive = parse_local(stamp)
    elif day is None:
        raise InputError(path, f"time {stamp!r} has no {'year' if len(parts) == 2 else 'date'}: chatlog leaves it out "
                               "when the request covers one day or one year; put the date in the file name "
                               "(e.g. chatlog_2025-11-08.txt) or export with format=json", line=line)
    elif len(parts) == 2:
        naive = parse_local(f"{day.year}-{parts[0]} {parts[1]}")
    else:
        naive = parse_local(f"{day.isoformat()} {stamp}")
    if naive is None:
        raise InputError(path, f"unreadable time {stamp!r}", line=line)
    return naive


def _fill_private_talkers(rows: list[_Row], path: Path) -> None:
    """Rows without a [room] are a private chat (or the single chat of the request): the
    contact is the one person other than the owner who speaks there."""
    people = {r.sender for r in rows if not r.talker and r.owner_flag is None and r.sender != SYSTEM_SENDER}
    talker = next(iter(people)) if len(people) == 1 else f"{path.stem}"
    for r in rows:
        if not r.talker:
            r.talker = talker


# -- shared: the owner, chat names and records -------------------------------------------------


def _messages(rows: list[_Row], ctx: ParseContext, *, private_rule: bool = False) -> Iterator[Message]:
    my_ids = {r.sender for r in rows if r.owner_flag and r.sender not in (SELF_IN_TEXT, SYSTEM_SENDER)}
    if private_rule:  # CSV: in a private chat whoever is not the contact is the owner (chatlog's isSelf rule)
        my_ids |= {r.sender for r in rows if _is_private(r.talker) and r.sender not in (r.talker, SYSTEM_SENDER)}
    names = _chat_names(rows)
    senders_by_chat: dict[str, set[str]] = {}
    for r in rows:
        if r.sender != SYSTEM_SENDER:
            senders_by_chat.setdefault(r.talker, set()).add(r.sender)
    ordinals = Ordinals()
    for r in rows:
        system = r.sender == SYSTEM_SENDER or r.kind is MessageKind.SYSTEM
        if system:
            sender_id, sender_name, is_owner = "system", "system", False
        else:
            is_owner = bool(r.owner_flag) or r.sender in my_ids or ctx.owner.is_owner(r.sender, r.sender_name)
            sender_id = r.sender
            sender_name = r.sender_name or (SELF_IN_TEXT if is_owner else r.sender)
        seconds = int(r.when.timestamp())
        seq = r.seq if r.seq is not None else seconds * 1000 + ordinals.next(r.talker, seconds)
        group = r.talker.endswith("@chatroom") or len(senders_by_chat.get(r.talker, ())) > 2
        yield Message(
            source="wechat",
            source_id=f"chatlog:{r.talker}:{seq}",
            conversation_id=f"wechat:{r.talker}",
            conversation_name=names.get(r.talker) or r.talker,
            chat_kind=ChatKind.GROUP if group else ChatKind.PRIVATE,
            sender_id=sender_id,
            sender_name=sender_name,
            is_owner=is_owner,
            timestamp=r.when,
            text=r.text,
            kind=r.kind,
        )


def _is_private(talker: str) -> bool:
    return not talker.endswith("@chatroom")


def _chat_names(rows: list[_Row]) -> dict[str, str]:
    """A group's name is its TalkerName; chatlog leaves it empty for private chats, where the
    contact's display name stands in."""
    names: dict[str, str] = {}
    for r in rows:
        if r.talker_name:
            names.setdefault(r.talker, r.talker_name)
    for r in rows:
        if r.talker not in names and r.sender == r.talker and r.sender_name:
            names[r.talker] = r.sender_name
    return names
