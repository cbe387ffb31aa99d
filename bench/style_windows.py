"""How the merge and exchange windows shape the style dataset, measured on real corpora.

    python bench/style_windows.py build/demo /path/to/another/twin-folder
    python bench/style_windows.py --fixture tests/fixtures/finetune/exchanges.json

With --fixture (hand-written chats whose exchanges are labelled) it also counts the pairs that
truly cross an exchange: the user turn holds a message of another exchange than the reply.

For each twin folder (its corpus must be ingested) prints the gaps the chats actually have
(between one sender's consecutive messages, and from a message to the owner's reply), then,
for a grid of dataset.merge_minutes x dataset.exchange_minutes: chat samples, user->owner pairs,
openers kept (owner speaks first, context cue), late replies opened as new exchanges, pairs
whose reply took more than 5 minutes (WeClone's pairing window, for reference) and the share of
the owner's distinctive messages (written once, 12+ characters) that reach an assistant turn.
No memory store is used (memory_share 0): this is about pairing only.
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from itertools import groupby
from pathlib import Path

MERGE = (2, 5, 10, 20)
EXCHANGE = (10, 20, 30, 60)


def gaps(messages) -> tuple[list[float], list[float]]:
    """Minutes between one sender's consecutive messages, and from a message to the owner's reply."""
    same, reply = [], []
    for _, chat in groupby(messages, key=lambda m: m.conversation_id):
        previous = None
        for message in chat:
            if previous is not None:
                minutes = (message.timestamp - previous.timestamp).total_seconds() / 60
                if minutes <= 60:  # inside a session
                    if message.sender_id == previous.sender_id:
                        same.append(minutes)
                    elif message.is_owner:
                        reply.append(minutes)
            previous = message
    return same, reply


def quantiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49]:.1f} / p90 {q[89]:.1f} / p99 {q[98]:.1f} min (n={len(values)})"


def labelled_fixture(path: Path):
    """(messages, source id -> exchange label) from a labelled fixture file."""
    import json
    from datetime import datetime, timedelta, timezone

    from twin.records import ChatKind, Message, MessageKind

    start = datetime(2024, 5, 10, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    rows = json.loads(path.read_text(encoding="utf-8"))["messages"]
    messages, labels = [], {}
    for i, (chat, exchange, sender, minute, kind, text) in enumerate(rows):
        messages.append(Message(
            source="fixture", source_id=f"fixture:{i}", conversation_id=f"fixture:{chat}", conversation_name=chat,
            chat_kind=ChatKind.PRIVATE, sender_id=sender, sender_name=sender, is_owner=sender == "me",
            timestamp=start + timedelta(minutes=minute), text=text, kind=MessageKind(kind)))
        labels[f"fixture:{i}"] = f"{chat}:{exchange}"
    return messages, labels


def true_crossings(messages, labels, d, gap_minutes: float) -> tuple[int, int]:
    """(pairs, pairs whose user turn holds a message from another exchange than the reply)."""
    from datetime import timedelta

    from twin.finetune.samples import exchange_segments
    from twin.finetune.sessions import MessageFilter, build_sessions

    keep = MessageFilter(labels=d.placeholder_labels)
    pairs = crossing = 0
    for session in build_sessions(iter(messages), gap_minutes, d.joiner, keep, d.merge_minutes):
        for run in exchange_segments(session.turns, session, group=False, joiner=d.joiner,
                                     exchange_gap=timedelta(minutes=d.exchange_minutes), stats=Counter()):
            for user, owner in zip(run[::2], run[1::2]):
                if user.cue:
                    continue
                pairs += 1
                reply = labels[owner.source_ids[0]]
                crossing += any(labels[sid] != reply for sid in user.source_ids)
    return pairs, crossing


def fixture_grid(path: Path) -> None:
    from twin.config import TwinConfig

    messages, labels = labelled_fixture(path)
    cfg = TwinConfig()
    same, reply = gaps(messages)
    print(f"\n## {path} (labelled exchanges)\n\n{len(messages)} messages; same-sender gaps {quantiles(same)}; "
          f"reply gaps {quantiles(reply)}\n")
    print("| merge min | exchange min | pairs | pairs truly crossing an exchange | openers | late replies opened |")
    print("|---|---|---|---|---|---|")
    from twin.finetune.dataset import DatasetReport, build_samples
    from twin.finetune.samples import approx_tokens

    for merge in MERGE:
        for exchange in EXCHANGE:
            d = cfg.dataset.model_copy(update={"merge_minutes": merge, "exchange_minutes": exchange, "memory_share": 0.0})
            pairs, crossing = true_crossings(messages, labels, d, cfg.sessions.gap_minutes)
            report = DatasetReport(folder=None, corpus_hash="", tokenizer="approx")
            build_samples(iter(messages), [], cfg.model_copy(update={"dataset": d}), approx_tokens, report)
            print(f"| {merge} | {exchange} | {pairs} | {crossing} ({crossing / max(pairs, 1):.1%}) "
                  f"| {report.counts['openers_kept']} | {report.counts['late_replies_opened']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", type=Path, nargs="*")
    parser.add_argument("--fixture", type=Path, help="a labelled-exchange fixture (tests/fixtures/finetune/exchanges.json)")
    args = parser.parse_args()
    if args.fixture:
        fixture_grid(args.fixture)

    from twin.config import load_config
    from twin.corpus import CorpusStore
    from twin.finetune.dataset import DatasetReport, build_samples
    from twin.finetune.samples import approx_tokens

    for folder in args.folders:
        cfg = load_config(folder / "twin.toml")
        with CorpusStore.open_existing(cfg.path("corpus")) as store:
            messages = list(store.messages())
        same, reply = gaps(messages)
        print(f"\n## {folder}\n\n{len(messages)} messages; same-sender gaps {quantiles(same)}; "
              f"reply gaps {quantiles(reply)}\n")
        print("| merge min | exchange min | chat samples | pairs | openers | late replies opened | pairs > 5 min "
              "| distinctive owner msgs reaching a reply |")
        print("|---|---|---|---|---|---|---|---|")
        for merge in MERGE:
            for exchange in EXCHANGE:
                d = cfg.dataset.model_copy(update={"merge_minutes": merge, "exchange_minutes": exchange,
                                                   "memory_share": 0.0})
                report = DatasetReport(folder=None, corpus_hash="", tokenizer="approx")
                samples = build_samples(iter(messages), [], cfg.model_copy(update={"dataset": d}), approx_tokens, report)
                c: Counter = report.counts
                pairs = c["pairs"] or 1
                cov = report.coverage
                print(f"| {merge} | {exchange} | {sum(1 for s in samples if s.kind == 'chat')} | {c['pairs']} "
                      f"| {c['openers_kept']} | {c['late_replies_opened']} "
                      f"| {c['pairs_reply_over_5min']} ({c['pairs_reply_over_5min'] / pairs:.1%}) "
                      f"| {cov['reached_assistant_turn']}/{cov['distinctive_owner_messages']} "
                      f"({(cov['share'] or 0):.0%}) |")


if __name__ == "__main__":
    main()
