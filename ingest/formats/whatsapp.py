"""WhatsApp "Export chat" TXT (Android and iOS).

    Android  12/31/20, 9:41 PM - Name: text        31.12.2020, 21:41 - Name: text
    iOS      [31/12/2020, 21:41:05] Name: text      (often with U+200E marks, removed by `clean`)
    system   12/31/20, 9:41 PM - Alice added you   (no 'Name: ')
Lines that do not open a message continue the previous one. There is no timezone (phone-local:
`ingest.source_tz`) and no "me" (configured names). Day/month order is decided per file: a first
number above 12 means day first, a second number above 12 means month first; when no number
decides, the order with fewer backward jumps in time wins, and on a tie day-first is used unless
the file writes a 12-hour clock (the US layout). An ambiguous file gets a warning, unless
`ingest.date_order` says which order to use (a file whose numbers decide is still read by them). Two-digit years
are 20xx. Source ids are `whatsapp:<chat>:<n>`, n the message's position in the file.

What WhatsApp writes itself is typed, in every language of whatsapp_locales.json (see
whatsapp_texts.py): whole texts ('<Media omitted>', 'Bild weggelassen', 'This message was deleted')
anywhere; group-event templates ('{} hat die Gruppe verlassen.') only on lines iOS marks with U+200E
or under the group's name, since a person can type 'Anna left' too. A `POLL:` message with
`OPTION:` lines becomes one message of kind poll: the question, then '- option' lines.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from twin.errors import InputError
from twin.records import Message, MessageKind
from twin.ingest.base import ParseContext, Parser, Record
from twin.ingest.formats import whatsapp_texts
from twin.ingest.formats.chatkit import chat_kind_for
from twin.ingest.textio import clean, read_text

_DATE = r"(?P<a>\d{1,4})[./-] ?(?P<b>\d{1,2})[./-] ?(?P<c>\d{1,4})\.?"
_TIME = r"(?P<h>\d{1,2})[:.](?P<m>\d{2})(?:[:.](?P<s>\d{2}))?"
_AMPM = r"(?P<ampm>[AaPp]\.? ?[Mm]\.?|上午|下午|午前|午後|오전|오후)"
# Android: 'date, time - rest' (the comma is sometimes missing); iOS: '[date, time] rest'.
_DASH = re.compile(rf"^{_DATE},? (?:{_AMPM} ?)?{_TIME}(?: ?{_AMPM.replace('ampm', 'ampm2')})? - (?P<rest>.*)$")
_BRACKET = re.compile(rf"^\[{_DATE},? (?:{_AMPM} ?)?{_TIME}(?: ?{_AMPM.replace('ampm', 'ampm2')})?\] (?P<rest>.*)$")
_AUTHOR = re.compile(r"^(?P<author>[^:]{1,80}?): (?P<text>.*)$", re.S)
_AUTHOR_TIGHT = re.compile(r"^(?P<author>[^:]{1,80}?):(?P<text>\S.*)?$", re.S)  # 'John Doe:.'

PM_WORDS = ("p", "下午", "午後", "오후")

# Texts WhatsApp writes itself (media left out, deletions, group events...) in every language of
# the generated table: see whatsapp_texts.py and scripts/whatsapp_locales.py.
_QUOTE_CHARS = set('"“”„«「')
_FILE_KINDS = (
    (re.compile(r"PHOTO|^IMG-|\.(jpe?g|png|heic)$", re.I), MessageKind.IMAGE),
    (re.compile(r"STICKER|^STK-|\.webp$", re.I), MessageKind.STICKER),
    (re.compile(r"VIDEO|^VID-|\.(mp4|mov)$", re.I), MessageKind.VIDEO),
    (re.compile(r"AUDIO|^AUD-|^PTT-|\.(opus|m4a|mp3|ogg)$", re.I), MessageKind.VOICE),
)
_POLL = re.compile(r"^POLL:\n(?P<question>.*?)\n(?P<options>OPTION: .*)$", re.S)
_CHAT_NAME = (
    re.compile(r"^WhatsApp Chat (?:with|-) (.+)$", re.I),
    re.compile(r"^与(.+?)的 ?WhatsApp ?聊天$"),
    re.compile(r"^與(.+?)的 ?WhatsApp ?對話$"),
    re.compile(r"^WhatsApp-Chat mit (.+)$", re.I),
    re.compile(r"^Chat de WhatsApp con (.+)$", re.I),
)


def chat_name(path: Path) -> str:
    """'WhatsApp Chat with Alice.txt' -> 'Alice'; iOS '_chat.txt' takes its folder's name."""
    stem = path.stem
    if stem == "_chat" and path.parent.name:
        stem = path.parent.name
    for pattern in _CHAT_NAME:
        match = pattern.match(stem)
        if match:
            return match.group(1).strip()
    return stem


def match_header(line: str) -> re.Match | None:
    return _DASH.match(line) or _BRACKET.match(line)


@dataclass
class _Line:
    line: int
    header: re.Match
    body: list[str]
    generated: bool = False  # iOS marks text WhatsApp wrote itself with a leading U+200E


class WhatsAppTxt(Parser):
    name = "whatsapp-txt"
    description = "WhatsApp 'Export chat' TXT (Android 'd/m/y, h:mm - Name: text' and iOS '[d/m/y, h:mm:ss] Name: text')"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        lines = [clean(l).strip() for l in head.split("\n")[:10]]
        lines = [l for l in lines if l]
        if not lines or not match_header(lines[0]):
            return False
        return sum(1 for l in lines if match_header(l)) >= min(2, len(lines))

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        raw = read_text(path).replace("\r\n", "\n").replace("\r", "\n")
        lines = clean(raw).split("\n")
        # clean() drops U+200E, so note first which lines carried it where iOS puts it
        # ('\u200e[date] Name: \u200etext'); clean() never removes a newline, so lines align.
        marked = [l.startswith("\u200e") or ": \u200e" in l for l in raw.split("\n")] if "\u200e" in raw else None
        entries: list[_Line] = []
        for number, line in enumerate(lines, start=1):
            match = match_header(line)
            if match:
                entries.append(_Line(number, match, [match["rest"]], bool(marked and marked[number - 1])))
            elif entries:
                entries[-1].body.append(line)
            elif line.strip():
                raise InputError(path, "expected a WhatsApp message line ('date, time - name: text')", line=number)
        if not entries:
            raise InputError(path, "no WhatsApp messages found")
        order = self._date_order(entries, ctx)
        author_lines = Counter(m["author"].strip() for e in entries if (m := _AUTHOR.match(e.body[0])))
        authors_seen = set(author_lines)
        chat = chat_name(path)
        # iOS writes group events under the group's name; a chat of 3+ names is a group.
        group_name = chat if len(authors_seen) >= 3 else None
        texts = whatsapp_texts.load()
        rows = []
        for n, entry in enumerate(entries, start=1):
            when = ctx.local(self._time(path, entry, order))
            text = "\n".join(entry.body).rstrip()
            author, body = self._split_author(text, authors_seen)
            if author is None or (author_lines[author] <= 1 and (_QUOTE_CHARS.intersection(author) or
                                                              author.casefold() in texts.colon_heads)
                                  and texts.is_system(text)):
                # no 'Name: ', or an event with ': ' in its quoted subject ('X changed the subject to "a: b"')
                # or in its own words ('Usuário adicionado: X')
                rows.append((n, "system", "system", False, when, text, MessageKind.SYSTEM))
                continue
            from_whatsapp = entry.generated or author == group_name
            # notices also stand under a contact's name or a one-off name ('Pokemon Chat: Messages and calls...')
            maybe_notice = from_whatsapp or author == chat or author_lines[author] <= 1
            kind, body = message_kind(body, texts, from_whatsapp, maybe_notice)
            if kind is MessageKind.SYSTEM:
                rows.append((n, "system", "system", False, when, body, MessageKind.SYSTEM))
                continue
            rows.append((n, author, author, ctx.owner.is_owner(author, author), when, body, kind))
        people = [r[1] for r in rows if r[6] is not MessageKind.SYSTEM]
        chat_kind = chat_kind_for(people)
        for n, sender_id, name, is_owner, when, text, kind in rows:
            yield Message(
                source="whatsapp",
                source_id=f"whatsapp:{chat}:{n}",
                conversation_id=f"whatsapp:{chat}",
                conversation_name=chat,
                chat_kind=chat_kind,
                sender_id=sender_id,
                sender_name=name,
                is_owner=is_owner,
                timestamp=when,
                text=text,
                kind=kind,
            )

    @staticmethod
    def _split_author(text: str, authors_seen: set[str]) -> tuple[str | None, str]:
        match = _AUTHOR.match(text)
        if match:
            return match["author"].strip(), match["text"]
        match = _AUTHOR_TIGHT.match(text)
        if match and match["author"].strip() in authors_seen:  # 'John Doe:.' from a known author
            return match["author"].strip(), match["text"] or ""
        return None, text

    @staticmethod
    def _date_order(entries: list[_Line], ctx: ParseContext) -> str:
        """'ymd', 'dmy' or 'mdy' for this file (see the module docstring)."""
        firsts = [e.header["a"] for e in entries]
        if all(len(a) == 4 for a in firsts):
            return "ymd"
        a_vals = [int(e.header["a"]) for e in entries]
        b_vals = [int(e.header["b"]) for e in entries]
        if any(a > 12 for a in a_vals):
            return "dmy"
        if any(b > 12 for b in b_vals):
            return "mdy"
        if ctx.date_order != "auto":
            return ctx.date_order  # ambiguous, and the user said which (ingest.date_order)
        if all(a == b for a, b in zip(a_vals, b_vals)):
            return "dmy"  # every date reads the same either way
        backward = {}
        for order in ("dmy", "mdy"):
            days = [_date_key(e.header, order) for e in entries]
            backward[order] = sum(1 for x, y in zip(days, days[1:]) if y < x)
        twelve_hour = any(e.header["ampm"] or e.header["ampm2"] for e in entries)
        if backward["dmy"] != backward["mdy"]:
            order = min(backward, key=backward.get)
            how = "the order that keeps the dates in sequence"
        else:
            order = "mdy" if twelve_hour else "dmy"
            how = "12-hour clock: US month/day" if twelve_hour else "day/month, the layout of most locales"
        ctx.warn(f"dates are ambiguous (no day above 12); read as {'day/month' if order == 'dmy' else 'month/day'} "
                 f"({how}); set ingest.date_order to 'dmy' or 'mdy' if that is wrong")
        return order

    @staticmethod
    def _time(path: Path, entry: _Line, order: str) -> datetime:
        h = entry.header
        year, month, day = _ymd(h, order)
        hour = int(h["h"])
        marker = (h["ampm"] or h["ampm2"] or "").replace(".", "").replace(" ", "").lower()
        if marker:
            if hour > 12:
                raise InputError(path, f"hour {hour} with {marker}", line=entry.line, field="time")
            hour = hour % 12 + (12 if marker.startswith(PM_WORDS) else 0)
        try:
            return datetime(year, month, day, hour, int(h["m"]), int(h["s"] or 0))
        except ValueError as exc:
            raise InputError(path, f"unreadable date/time ({exc})", line=entry.line, field="date") from None


def _ymd(h: re.Match, order: str) -> tuple[int, int, int]:
    a, b, c = int(h["a"]), int(h["b"]), int(h["c"])
    if order == "ymd":
        year, month, day = a, b, c
    elif order == "dmy":
        day, month, year = a, b, c
    else:
        month, day, year = a, b, c
    return (2000 + year if year < 100 else year), month, day


def _date_key(h: re.Match, order: str) -> tuple[int, ...]:
    year, month, day = _ymd(h, order)
    return (year, month, day, int(h["h"]), int(h["m"]))


def message_kind(body: str, texts: whatsapp_texts.ExporterTexts, from_whatsapp: bool,
                 maybe_notice: bool) -> tuple[MessageKind, str]:
    """The kind of an authored message and the text to keep. `from_whatsapp`: the line carries
    the mark of text WhatsApp wrote (or stands under the group's name), so group-event templates
    apply; without it only whole-message texts are recognised, since 'Anna left' can also be
    something a person typed. `maybe_notice`: the author could be WhatsApp itself, so the
    encryption and security-code notices are looked for."""
    stripped = body.strip()
    key = whatsapp_texts.exact_key(stripped)
    kind = texts.exact.get(key)
    if kind is not None:
        return kind, stripped
    if stripped.startswith("POLL:"):
        poll = _POLL.match(stripped)
        if poll:
            options = [line.removeprefix("OPTION:").strip() for line in poll["options"].split("\n") if line.strip()]
            return MessageKind.POLL, poll["question"].strip() + "".join(f"\n- {o}" for o in options)
    name = texts.attachment(stripped)
    if name is not None:
        return next((k for pattern, k in _FILE_KINDS if pattern.search(name)), MessageKind.FILE), stripped
    if "://" in stripped and texts.location is not None and texts.location.fullmatch(stripped):
        return MessageKind.LOCATION, stripped
    if maybe_notice and len(stripped) < 400 and texts.is_notice(stripped):
        return MessageKind.SYSTEM, stripped
    if from_whatsapp:
        if key.endswith(texts.document_suffixes):  # 'Report.pdf • 2 pages document omitted'
            return MessageKind.FILE, stripped
        if len(stripped) < 400 and texts.is_system(stripped):
            return MessageKind.SYSTEM, stripped
    if texts.edited is not None and stripped.endswith(">"):
        body = texts.edited.sub("", body)
    return MessageKind.TEXT, body.rstrip()
