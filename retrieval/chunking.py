"""Corpus records -> memories.

Chats: within each conversation, messages are split into sessions at a time gap, then into
windows of `chunk_turns` consecutive text turns overlapping by `chunk_overlap`. Each window is
rendered with its date, the chat's name and the speakers' names, because questions name people
and times ("what did Anna say about the move in May?") and the embedder and BM25 only see text.
Non-text messages (system notices, recalled messages, stickers, images without text) are
skipped: they are not anyone's words.
Documents: paragraphs packed into sections of at most `doc_chunk_chars`, each with its title
and date.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from itertools import groupby

from twin.records import Document, Memory, Message
from twin.sessions import split_sessions

_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")


def estimate_tokens(text: str) -> int:
    """Tokens as an LLM tokenizer roughly counts them: one per CJK character, one per 4 other
    characters. Deterministic and model-free, so budgets are comparable across runs."""
    cjk = len(_CJK_CHAR.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


def format_when(ts) -> str:
    return ts.strftime("%Y-%m-%d %H:%M (%a, %d %B %Y)")


def render_episode(turns: Sequence[Message]) -> str:
    first, last = turns[0], turns[-1]
    names = list(dict.fromkeys(m.sender_name for m in turns))
    when = format_when(first.timestamp)
    if last.timestamp.date() != first.timestamp.date():
        when += f" to {last.timestamp.strftime('%Y-%m-%d')}"
    header = f"[{when}] {first.conversation_name} ({', '.join(names)})"
    return header + "\n" + "\n".join(f"{m.sender_name}: {m.text.strip()}" for m in turns)


def windows(items: Sequence, size: int, overlap: int) -> Iterator[Sequence]:
    if len(items) <= size:
        yield items
        return
    stride = size - overlap
    start = 0
    while True:
        yield items[start:start + size]
        if start + size >= len(items):
            return
        start += stride


def chat_memories(messages: Iterable[Message], turns: int, overlap: int, gap_minutes: float) -> Iterator[Memory]:
    """Messages ordered by conversation then time (CorpusStore.messages()) -> episode memories."""
    gap = timedelta(minutes=gap_minutes)
    for conversation_id, group in groupby(messages, key=lambda m: m.conversation_id):
        texts = [m for m in group if m.is_text]
        for session in split_sessions(texts, gap):
            for window in windows(session, turns, overlap):
                yield Memory(
                    text=render_episode(window),
                    source_ids=tuple(m.source_id for m in window),
                    start=window[0].timestamp,
                    end=window[-1].timestamp,
                    kind="chat",
                    conversation_id=conversation_id,
                    participants=tuple(dict.fromkeys(m.sender_name for m in window)),
                    source=window[0].source,
                    extra={"conversation_name": window[0].conversation_name, "turns": len(window)},
                )


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*)$")


def _paragraphs(text: str) -> Iterator[tuple[str, str]]:
    """(section heading, paragraph) pairs; Markdown headings start sections."""
    heading = ""
    for block in re.split(r"\n\s*\n", text):
        block = block.strip()
        if not block:
            continue
        lines = block.splitlines()
        match = _HEADING.match(lines[0])
        if match:
            heading = match.group(1).strip()
            block = "\n".join(lines[1:]).strip()
            if not block:
                continue
        yield heading, block


def _split_long(paragraph: str, limit: int) -> Iterator[str]:
    if len(paragraph) <= limit:
        yield paragraph
        return
    sentences = re.split(r"(?<=[.!?。！？])\s*", paragraph)
    piece = ""
    for sentence in sentences:
        while len(sentence) > limit:  # one endless sentence: cut it hard
            if piece:
                yield piece
                piece = ""
            yield sentence[:limit]
            sentence = sentence[limit:]
        if piece and len(piece) + len(sentence) + 1 > limit:
            yield piece
            piece = ""
        piece = f"{piece} {sentence}".strip() if piece else sentence
    if piece:
        yield piece


def document_memories(documents: Iterable[Document], max_chars: int) -> Iterator[Memory]:
    for doc in documents:
        sections: list[tuple[str, str]] = []
        for heading, paragraph in _paragraphs(doc.text):
            for piece in _split_long(paragraph, max_chars):
                if sections and sections[-1][0] == heading and len(sections[-1][1]) + len(piece) + 2 <= max_chars:
                    sections[-1] = (heading, sections[-1][1] + "\n\n" + piece)
                else:
                    sections.append((heading, piece))
        date = doc.date.strftime("%Y-%m-%d") if doc.date else "undated"
        for index, (heading, body) in enumerate(sections):
            title = doc.title + (f" / {heading}" if heading and heading != doc.title else "")
            yield Memory(
                text=f"[{date}] {doc.kind.value}: {title}\n{body}",
                source_ids=(doc.source_id,),
                start=doc.date,
                end=doc.date,
                kind="document",
                source=doc.source,
                extra={"title": doc.title, "section": index, "url": doc.url},
            )
