"""Sessions and documents -> SFT samples in OpenAI chat format.

Chat samples: the owner's turns are `assistant`, everyone else's are `user`. A sample starts on
a user turn and ends on an owner turn (there is nothing to learn from words nobody answered).
When the owner speaks first (the session's first words, a new message after their own pause,
or a reply that comes more than `dataset.exchange_minutes` after the message before it), the
user turn is a context cue (`twin.prompt.context_cue`: who the chat is with, the local date,
weekday and time, how long the chat was quiet), so the news people open with ("告诉你们个好消息")
is learned, and a late message is never paired with a stale one from another exchange.
Long sessions are cut into windows that fit the token budget, each window repeating the last
`window_overlap_turns` turns of the previous one as context. In group chats other speakers'
words carry their names (`Name: text`), and only stretches where the owner takes part are kept:
a run of more than `group_context_turns` messages by others closes the stretch, and only its
last turns are kept as context for the owner's next reply.

Documents (posts, articles) become one instruction sample each: "Write a post about <title or
first sentence>" answered by the owner's text, with `kind = "post"` so they can be weighted or
dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from twin.prompt import context_cue
from twin.records import ChatKind, Document, DocumentKind, stable_id
from twin.finetune.sessions import MessageFilter, Session, Turn

TokenCounter = Callable[[str], int]
TEMPLATE_OVERHEAD = 4  # role markers and separators a chat template adds around each message
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*|\n+")


@dataclass
class Sample:
    messages: list[dict[str, str]]  # system first, then user/assistant alternating, assistant last
    kind: str  # "chat" | "post"
    conversation_id: str
    session_id: str
    window: int = 0
    extra: dict = field(default_factory=dict)  # doc_kind, chat_kind, memory provenance: written out
    owner_ids: set[str] = field(default_factory=set, repr=False)  # owner messages in assistant turns
    session: Session | None = field(default=None, repr=False)  # chats: where the sample comes from
    document: Document | None = field(default=None, repr=False)  # posts
    memories: list = field(default_factory=list, repr=False)  # MemoryHits quoted in the system message
    memory_room: bool = True  # False: the sample fills its budget, no memory block may be added

    @property
    def id(self) -> str:
        return stable_id("sample", self.session_id, str(self.window))

    def to_json(self) -> dict:
        return {
            "id": self.id, "messages": self.messages, "kind": self.kind,
            "conversation_id": self.conversation_id, "session_id": self.session_id, "window": self.window,
            **self.extra,
        }

    def owner_texts(self) -> list[str]:
        return [m["content"] for m in self.messages if m["role"] == "assistant"]


def validate_messages(messages: list[dict[str, str]]) -> None:
    """The one shape every sample has; a violation is a bug in this module."""
    roles = [m["role"] for m in messages]
    if roles[0] != "system" or len(roles) < 3 or roles[-1] != "assistant":
        raise ValueError(f"sample must be system, user, ..., assistant; got {roles}")
    for i, role in enumerate(roles[1:]):
        if role != ("user" if i % 2 == 0 else "assistant"):
            raise ValueError(f"roles must alternate user/assistant after the system prompt; got {roles}")
    if any(not m["content"].strip() for m in messages[1:]):
        raise ValueError("sample has an empty turn")


def group_stretches(turns: list[Turn], context_turns: int) -> list[list[Turn]]:
    """Parts of a group session where the owner takes part, with a little context before each reply."""
    stretches: list[list[Turn]] = []
    current: list[Turn] = []
    others: list[Turn] = []  # turns by others since the owner last spoke
    for turn in turns:
        if turn.is_owner:
            current.extend(others)
            current.append(turn)
            others = []
            continue
        others.append(turn)
        if len(others) > context_turns:  # the owner has been silent too long: close the stretch
            if current:
                stretches.append(current)
                current = []
            others = others[-context_turns:]
    if any(t.is_owner for t in current):
        stretches.append(current)
    return stretches


@dataclass
class ChatMessage:
    """One role message of a sample while it is built, with what the stats need."""

    role: str
    content: str
    start: datetime | None = None
    end: datetime | None = None
    source_ids: list[str] = field(default_factory=list)  # the messages in it
    cue: bool = False  # a context cue standing before an opener

    @property
    def owner_ids(self) -> list[str]:
        return self.source_ids if self.role == "assistant" else []


def exchange_segments(
    turns: list[Turn], session: Session, *, group: bool, joiner: str, exchange_gap: timedelta,
    stats: Counter,
) -> list[list[ChatMessage]]:
    """Turns -> runs of alternating messages, each starting on a user message, cut where pairing
    would cross an exchange.

    An owner turn opens a new exchange when nothing stands before it, when the owner spoke last
    (a pause longer than the merge window split their turn), or when it comes more than
    `exchange_gap` after the message before it. An opener gets the context cue as its user turn;
    a late reply is not paired with the stale message before it: that message, unanswered, ends
    its run and the reply opens the next one. Likewise, words of others that come more than
    `exchange_gap` after their own unanswered ones start a new run instead of joining them."""
    runs: list[list[ChatMessage]] = []
    current: list[ChatMessage] = []
    previous: Turn | None = None
    for turn in turns:
        text = f"{turn.sender_name}: {turn.text}" if group and not turn.is_owner else turn.text
        if not turn.is_owner:
            if current and current[-1].role == "user" and turn.start - current[-1].end > exchange_gap:
                runs.append(current)  # they start a new exchange: their stale words stay unanswered
                current = []
            if current and current[-1].role == "user" and not current[-1].cue:
                current[-1].content += joiner + text
                current[-1].end = turn.end
                current[-1].source_ids.extend(turn.source_ids)
            else:
                current.append(ChatMessage("user", text, turn.start, turn.end, list(turn.source_ids)))
            previous = turn
            continue
        late = previous is not None and not previous.is_owner and turn.start - previous.end > exchange_gap
        if previous is None or previous.is_owner or late:
            if late:
                stats["late_replies_opened"] += 1
                runs.append(current)
                current = []
            since = turn.quiet if previous is None or late else turn.start - previous.end
            cue = context_cue(session.conversation_name, turn.start, since, language=session.language, group=group)
            current.append(ChatMessage("user", cue, turn.start, turn.start, cue=True))
            stats["openers_kept"] += 1
        current.append(ChatMessage("assistant", turn.text, turn.start, turn.end, list(turn.source_ids)))
        previous = turn
    runs.append(current)
    out = []
    for run in runs:
        while run and run[-1].role == "user":  # words the owner never answered
            stats["unanswered_turns"] += 1
            run.pop()
        if run:
            out.append(run)
    return out


SLOW_REPLY = timedelta(minutes=5)  # WeClone's pairing window: a reference for how slow replies are


def count_pairs(run: list[ChatMessage], exchange_gap: timedelta, stats: Counter) -> None:
    """Pairs of a run; those whose reply came more than the exchange window after the turn it
    answers (none while pairing follows the exchange: the stat guards that), and, for reference,
    those slower than five minutes. A cue is not a message anyone waited on: not counted."""
    for user, owner in zip(run[::2], run[1::2]):
        if user.cue:
            continue
        stats["pairs"] += 1
        delay = owner.start - user.end
        if delay > exchange_gap:
            stats["cross_exchange_pairs"] += 1
        if delay > SLOW_REPLY:
            stats["pairs_reply_over_5min"] += 1


def windows(
    messages: list[dict[str, str]], budget: int, overlap: int, count: TokenCounter, stats: Counter
) -> list[tuple[int, int]]:
    """Cut user-first, assistant-last alternating messages into windows within the token budget;
    returns (start, end) index ranges."""
    costs = [count(m["content"]) + TEMPLATE_OVERHEAD for m in messages]
    out: list[tuple[int, int]] = []
    start, n = 0, len(messages)
    while start < n:
        total, end, last_owner_end = 0, start, None
        while end < n and total + costs[end] <= budget:
            total += costs[end]
            end += 1
            if messages[end - 1]["role"] == "assistant":
                last_owner_end = end
        if last_owner_end is None:  # even one exchange does not fit: skip it, counted
            stats["too_long"] += 1
            start += 2
            continue
        out.append((start, last_owner_end))
        if last_owner_end >= n:
            break
        nxt = last_owner_end - overlap
        nxt -= (nxt - start) % 2  # windows start on a user turn (even offset)
        start = max(nxt, start + 2)
    return out


def session_samples(
    session: Session, system: str, *, budget: int, overlap: int, group_context_turns: int, joiner: str,
    count: TokenCounter, stats: Counter, exchange_minutes: float = 20, reserve: int = 0,
) -> list[Sample]:
    """The session's samples. `system` is the plain system message; `reserve` tokens are kept free
    for a memory block that may be added to it later (finetune.grounding)."""
    group = session.chat_kind is ChatKind.GROUP
    stretches = group_stretches(session.turns, group_context_turns) if group else [session.turns]
    system_cost = count(system) + TEMPLATE_OVERHEAD + reserve
    exchange_gap = timedelta(minutes=exchange_minutes)
    samples: list[Sample] = []
    for stretch in stretches:
        for run in exchange_segments(stretch, session, group=group, joiner=joiner, exchange_gap=exchange_gap,
                                     stats=stats):
            count_pairs(run, exchange_gap, stats)
            messages = [{"role": m.role, "content": m.content} for m in run]
            for begin, end in windows(messages, budget - system_cost, overlap, count, stats):
                sample = Sample(
                    messages=[{"role": "system", "content": system}, *messages[begin:end]], kind="chat",
                    conversation_id=session.conversation_id, session_id=session.id, window=len(samples),
                    extra={"chat_kind": session.chat_kind.value},
                    owner_ids={sid for m in run[begin:end] for sid in m.owner_ids},
                    session=session,
                )
                validate_messages(sample.messages)
                samples.append(sample)
    return samples


def topic_of(document: Document, max_chars: int = 80) -> str:
    topic = document.title.strip()
    if not topic:
        first = _SENTENCE_END.split(document.text.strip(), maxsplit=1)[0]
        topic = first.strip()
    return topic if len(topic) <= max_chars else topic[: max_chars - 1].rstrip() + "…"


def document_sample(
    document: Document, system: str, *, budget: int, count: TokenCounter, keep: MessageFilter, stats: Counter,
    reserve: int = 0,
) -> Sample | None:
    """One instruction sample from a post or article; paragraphs with PII or blocked words dropped."""
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", document.text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        reason = keep.text_reason(paragraph)
        if reason is not None:
            keep.dropped[reason] += 1
            continue
        paragraphs.append(paragraph)
    if not paragraphs:
        stats["empty_document"] += 1
        return None
    noun = "an article" if document.kind is DocumentKind.ARTICLE else "a post"
    prompt = f"Write {noun} about {topic_of(document)}"
    room = budget - count(system) - reserve - count(prompt) - 3 * TEMPLATE_OVERHEAD
    kept: list[str] = []
    used = 0
    for paragraph in paragraphs:  # cut at a paragraph boundary when the text is over budget
        cost = count(paragraph) + 1
        if used + cost > room:
            stats["document_truncated"] += 1
            break
        kept.append(paragraph)
        used += cost
    if not kept:
        stats["too_long"] += 1
        return None
    sample = Sample(
        messages=[
            {"role": "system", "content": system},
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": "\n\n".join(kept)},
        ],
        kind="post", conversation_id=document.source_id, session_id=stable_id("document", document.id),
        extra={"doc_kind": document.kind.value}, document=document,
    )
    validate_messages(sample.messages)
    return sample


def approx_tokens(text: str) -> int:
    """Token estimate without a tokenizer: one per CJK character, one per 4 other characters."""
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uff00" <= ch <= "\uffef")
    return cjk + (len(text) - cjk + 3) // 4
