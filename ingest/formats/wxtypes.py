"""What the WeChat 4.x exporters (chatlog, WeFlow, EchoTrace, ChatLab writers) have in common:
WeChat's numeric message types, recall and system sentences recognised by their wording, and
source ids for exports that carry no server id.

The exporters disagree on type numbers for the same message (research/wechat4-formats.md §7:
a recall is 10000, 10002, ChatLab 80, 81 or 99 depending on the writer), so every parser here
decides recall/system from the text as well as from the number.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

from twin.records import MessageKind
from twin.ingest.formats.wechat import KIND_LABELS, V1_TYPE_KINDS
from twin.ingest.timestamps import from_epoch

# WeChat's own type numbers (the low 32 bits of a 4.x local_type) are the 3.x ones.
WX_TYPE_KINDS = V1_TYPE_KINDS
# Type 49 ("app message") by its sub type.
WX_APP_KINDS: dict[int, MessageKind] = {
    1: MessageKind.TEXT,
    3: MessageKind.LINK,  # music
    4: MessageKind.LINK,
    5: MessageKind.LINK,
    6: MessageKind.FILE,
    8: MessageKind.STICKER,  # GIF
    19: MessageKind.OTHER,  # merged forward
    24: MessageKind.OTHER,  # note
    33: MessageKind.LINK,  # mini program
    36: MessageKind.LINK,
    51: MessageKind.LINK,  # channels
    57: MessageKind.TEXT,  # quote: the reply is the text
    62: MessageKind.SYSTEM,  # pat
    63: MessageKind.LINK,  # channels live
    87: MessageKind.SYSTEM,  # group notice
    92: MessageKind.LINK,  # music
    2000: MessageKind.TRANSFER,
    2001: MessageKind.TRANSFER,  # red packet
    2003: MessageKind.TRANSFER,  # red packet cover
}
QUOTE_SUBTYPE = 57


def split_local_type(local_type: int) -> tuple[int, int]:
    """A 4.x local_type is `sub_type << 32 | type` (244813135921 = 57 << 32 | 49, a quote)."""
    return local_type & 0xFFFFFFFF, local_type >> 32


def wx_kind(type_code: int, sub_type: int, text: str) -> MessageKind:
    if type_code == 49:
        kind = WX_APP_KINDS.get(sub_type, MessageKind.OTHER)
    else:
        kind = WX_TYPE_KINDS.get(type_code, MessageKind.OTHER)
    if kind is MessageKind.SYSTEM and is_recall(text):
        return MessageKind.RECALLED
    return kind


def label(kind: MessageKind) -> str:
    """The typed placeholder stored instead of media ('[图片]'), never a URL or a path."""
    return KIND_LABELS.get(kind, "[其他消息]")


_RECALL = re.compile(r"撤回了一条消息|recalled a message|<revokemsg|revokemsg>", re.I)


def is_recall(text: str) -> bool:
    return bool(_RECALL.search(text))


# System sentences WeChat writes, for exports that label them as text (WeFlow's WeClone CSV).
# Names in them are quoted ('"老王"邀请"Carol"加入了群聊'), which keeps a person's own sentence
# that merely mentions a pat or a group from matching.
_NAME = r'(?:你|我|"[^"\n]{1,64}")'
_SYSTEM_SENTENCES = re.compile(
    "|".join((
        rf"^{_NAME}\s?邀请.+加入了群聊",
        rf"^{_NAME}\s?通过扫描.+加入群聊",
        rf"^{_NAME}\s?(?:将|把)?.*移出了群聊",
        rf"^{_NAME}\s?修改群名为",
        r'^"[^"\n]{1,64}"\s?拍了拍',
        r'^(?:你|我)\s?拍了拍\s?"[^"\n]{1,64}"',
        r'^(?:你|我)\s?拍了拍自己',
        rf"^{_NAME}\s?已成为新群主",
        r"^你已添加了.+，现在可以开始聊天了。?$",
        r"^以上是打招呼的内容$",
        r"^.+开启了朋友验证，你还不是他（她）朋友",
        r"^.+ (?:invited|removed) .+ (?:to|from) the group chat\.?$",
        r"^.+ (?:joined|left) the group chat\.?$",
        r"^.+ patted .+$",
    ))
)
_RECALL_SENTENCE = re.compile(rf"^{_NAME}\s?撤回了一条消息|^.{{1,64}} recalled a message\.?$")


def sentence_kind(text: str) -> MessageKind | None:
    """RECALLED or SYSTEM when the whole text is one of WeChat's system sentences, else None."""
    stripped = text.strip()
    if _RECALL_SENTENCE.match(stripped):
        return MessageKind.RECALLED
    if _SYSTEM_SENTENCES.match(stripped):
        return MessageKind.SYSTEM
    return None


class Ordinals:
    """n-th occurrence of a key in file order: the stable tie-breaker for exports without ids
    (two messages from one sender in the same second get :0 and :1 in every export of them)."""

    def __init__(self) -> None:
        self._seen: Counter = Counter()

    def next(self, *key) -> int:
        n = self._seen[key]
        self._seen[key] = n + 1
        return n


def epoch_time(seconds: float, tz) -> datetime:
    return from_epoch(seconds).astimezone(tz)
