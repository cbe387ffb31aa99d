"""Help an owner write their own question set from their corpus.

Pick messages (random owner text messages, or messages containing a search term), show each
with the chat around it, and either ask for a question and answer at the terminal or write a
template line to fill in later. The picked message's source id is the evidence, so recall on
the finished set measures whether the memory store finds exactly that moment.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from twin.errors import StoreError
from twin.records import Message
from twin.eval.questions import CATEGORY_NAMES, category_kind


@dataclass
class Pick:
    message: Message
    context: list[Message]  # messages around it, in time order, the picked one included


def pick_messages(corpus_path: Path, *, count: int, search: str | None = None, seed: int = 0,
                  context: int = 3, exclude: set[str] | None = None) -> list[Pick]:
    """Seeded sample of `count` messages with `context` messages either side, same conversation."""
    from twin.corpus import CorpusStore

    if not Path(corpus_path).is_file():
        raise StoreError(f"{corpus_path}: no corpus yet; run `twin ingest` first")
    exclude = exclude or set()
    with CorpusStore.open_existing(corpus_path) as store:
        by_conversation: dict[str, list[Message]] = {}
        for message in store.messages():
            by_conversation.setdefault(message.conversation_id, []).append(message)
    candidates: list[tuple[str, int]] = []
    needle = search.lower() if search else None
    for conv, messages in by_conversation.items():
        for i, m in enumerate(messages):
            if not m.is_text or m.source_id in exclude:
                continue
            if needle is not None and needle in m.text.lower():
                candidates.append((conv, i))
            elif needle is None and m.is_owner:
                candidates.append((conv, i))
    if not candidates:
        what = f"containing {search!r}" if search else "written by the owner (check [owner] in twin.toml)"
        raise StoreError(f"{corpus_path}: no text messages {what}")
    chosen = random.Random(seed).sample(candidates, min(count, len(candidates)))
    chosen.sort()
    picks = []
    for conv, i in chosen:
        messages = by_conversation[conv]
        picks.append(Pick(messages[i], messages[max(0, i - context): i + context + 1]))
    return picks


def render_context(pick: Pick) -> str:
    lines = [f"--- {pick.message.conversation_name} ({pick.message.timestamp:%Y-%m-%d %H:%M})"]
    for m in pick.context:
        marker = ">>" if m.source_id == pick.message.source_id else "  "
        lines.append(f"{marker} [{m.timestamp:%m-%d %H:%M}] {m.sender_name}: {m.text}")
    return "\n".join(lines)


def template_row(pick: Pick, number: int) -> dict:
    """A line to fill in: question/answer empty (the loader refuses the file until they are written)."""
    return {
        "id": f"q{number:03d}",
        "question": "",
        "answer": "",
        "evidence": [pick.message.source_id],
        "category": "single-hop",
        "context": render_context(pick),
    }


def interview(picks: list[Pick], ask: Callable[[str, str], str], show: Callable[[str], None], first_number: int) -> list[dict]:
    """Ask for a question and answer about each pick. Empty question skips; "q" stops early.

    Evidence defaults to the picked message; the owner can add neighbours by their position in
    the shown context (1 = first line)."""
    rows: list[dict] = []
    for pick in picks:
        show(render_context(pick))
        question = ask("question (empty = skip, q = stop)", "").strip()
        if question.lower() == "q":
            break
        if not question:
            continue
        answer = ask("answer", "").strip()
        if not answer:
            show("no answer given: skipped")
            continue
        category = ask("category (single-hop/multi-hop/temporal/open-domain/adversarial)", "single-hop").strip()
        while category_kind(category) is None:
            category = ask(f"unknown category {category!r}; one of {sorted(CATEGORY_NAMES)}", "single-hop").strip()
        extra = ask("extra evidence lines (e.g. 2,4; empty = only the marked message)", "").strip()
        evidence = [pick.message.source_id]
        for part in filter(None, (p.strip() for p in extra.replace("，", ",").split(","))):
            if part.isdigit() and 1 <= int(part) <= len(pick.context):
                sid = pick.context[int(part) - 1].source_id
                if sid not in evidence:
                    evidence.append(sid)
            else:
                show(f"ignored {part!r}: not a line number 1-{len(pick.context)}")
        rows.append({"id": f"q{first_number + len(rows):03d}", "question": question, "answer": answer,
                     "evidence": evidence, "category": category})
    return rows
