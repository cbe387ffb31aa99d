"""Small helpers shared by the chat parsers: JSON loading with located errors, conversation
names from file names, block splitting for "header line + body" text exports, and the
bracket placeholders Chinese exporters write for media."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.errors import InputError
from twin.records import ChatKind, MessageKind
from twin.ingest.formats.jsonfile import parse_json
from twin.ingest.textio import read_text


def load_json(path: Path) -> Any:
    """Parse a whole JSON file; a syntax error names the line (truncated exports end early)."""
    return parse_json(path, read_text(path), columns=True)


def file_chat_name(path: Path, suffixes: Iterable[str] = ()) -> str:
    """The conversation name exporters put in the file name: '<备注>_utf8.csv' -> '<备注>'."""
    stem = path.stem
    for suffix in suffixes:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def chat_kind_for(senders: Iterable[str]) -> ChatKind:
    """More than two distinct people talking means a group chat."""
    return ChatKind.GROUP if len(set(senders)) > 2 else ChatKind.PRIVATE


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line number of the header
    header: re.Match
    body: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.body)


def split_blocks(
    lines: list[str],
    header: Callable[[str], re.Match | None],
    *,
    first_line: int = 1,
    needs_blank_before: bool = True,
) -> Iterator[Block]:
    """Yield `header line + body lines` blocks.

    A line matching `header` opens a new block only at the start or after a blank line (when
    `needs_blank_before`), so a body line that happens to look like a timestamp stays in the
    body. Trailing blank lines of a body are dropped; blank lines inside it are kept.
    """
    current: Block | None = None
    previous_blank = True
    for offset, line in enumerate(lines):
        match = header(line) if (previous_blank or not needs_blank_before) else None
        if match:
            if current is not None:
                yield _trimmed(current)
            current = Block(first_line + offset, match, [])
        elif current is not None:
            current.body.append(line)
        previous_blank = not line.strip()
    if current is not None:
        yield _trimmed(current)


def _trimmed(block: Block) -> Block:
    body = block.body
    while body and not body[-1].strip():
        body.pop()
    return block


# Media placeholders WeChatMsg (v1 "[图片]", v2 "【图片】 description") and QQ ("[图片]") write
# instead of the media. Emoji codes such as [旺柴] are not listed: they stay text.
PLACEHOLDER_KINDS: dict[str, MessageKind] = {
    "图片": MessageKind.IMAGE,
    "表情": MessageKind.STICKER,
    "表情包": MessageKind.STICKER,
    "动画表情": MessageKind.STICKER,
    "语音": MessageKind.VOICE,
    "视频": MessageKind.VIDEO,
    "文件": MessageKind.FILE,
    "链接": MessageKind.LINK,
    "分享链接": MessageKind.LINK,
    "音乐分享": MessageKind.LINK,
    "小程序": MessageKind.LINK,
    "视频号": MessageKind.LINK,
    "位置": MessageKind.LOCATION,
    "位置分享": MessageKind.LOCATION,
    "音视频通话": MessageKind.CALL,
    "语音通话": MessageKind.CALL,
    "视频通话": MessageKind.CALL,
    "红包": MessageKind.TRANSFER,
    "转账": MessageKind.TRANSFER,
    "名片": MessageKind.OTHER,
    "合并转发": MessageKind.OTHER,
    "聊天记录": MessageKind.OTHER,
}

_PLACEHOLDER = re.compile(r"^(?:\[(?P<square>[^\[\]]{1,6})\]|【(?P<lenticular>[^【】]{1,6})】)(?P<rest>.*)$", re.S)


def placeholder_kind(text: str) -> MessageKind | None:
    """The media kind when the whole message is an exporter placeholder, else None.

    '[图片]', '[图片][图片]' and '【图片】' alone, '【表情包】 描述' / '【语音】转写' (v2 adds a
    description after full-width brackets) and '[链接]:标题' count; '[图片]2' or '哈哈[表情]' are text.
    """
    match = _PLACEHOLDER.match(text.strip())
    if not match:
        return None
    name = match["square"] or match["lenticular"]
    kind = PLACEHOLDER_KINDS.get(name)
    if kind is None:
        return None
    rest = match["rest"].strip()
    if not rest or match["lenticular"] or rest.startswith((":", "：")):
        return kind
    if rest.startswith("[") and placeholder_kind(rest) is not None:  # several pictures in one message
        return kind
    return None


RECALL_WORDS = ("撤回了一条消息", "recalled a message")


def is_recall_notice(text: str) -> bool:
    return any(word in text for word in RECALL_WORDS)


def csv_rows(path: Path, reader) -> Iterator[tuple[int, list[str]]]:
    """(line number, row) for every non-blank row of a csv.reader; a malformed row is an
    InputError naming its line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(path, f"bad CSV: {exc}", line=reader.line_num) from None
        if row and row != [""]:
            yield reader.line_num, row
