"""WhatsApp TXT parse speed on synthetic exports (parser only: no corpus, no PII scrubbing).

    python bench/whatsapp_parse.py                 # 100,000 lines, Android and iOS layouts
    python bench/whatsapp_parse.py --lines 20000    # quicker
    python bench/whatsapp_parse.py --parser some.module:Class   # compare another parser class

The files mix ordinary messages (some with ':' in the text, some multi-line) with what WhatsApp
writes itself: media left out, deletions, attachments, group events (German on iOS, with the
U+200E marks iOS puts on them) and polls, in roughly the proportions of a busy group chat.
"""

from __future__ import annotations

import argparse
import importlib
import random
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from zoneinfo import ZoneInfo

from twin.config import OwnerConfig
from twin.ingest.base import ParseContext
from twin.ingest.owner import OwnerResolver

WORDS = "the a to and we see you tomorrow dinner at 7pm ok sure haha what time train station bring the tickets".split()
NAMES = ["Anna Weber", "Bob", "Carla Díaz", "Lin"]


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 14)))


def android_lines(n: int, rng: random.Random) -> list[str]:
    lines, day = [], 0
    while len(lines) < n:
        day += rng.random() < 0.01
        stamp = f"{1 + day % 28:02d}/{1 + day // 28 % 12:02d}/2021, {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d} - "
        name, r = rng.choice(NAMES), rng.random()
        if r < 0.05:
            lines.append(f"{stamp}{name}: <Media omitted>")
        elif r < 0.07:
            lines.append(f"{stamp}{name}: This message was deleted")
        elif r < 0.09:
            lines.append(f"{stamp}{name}: IMG-2021{rng.randint(1000, 9999)}-WA0001.jpg (file attached)")
        elif r < 0.10:
            lines.append(f"{stamp}{name} added {rng.choice(NAMES)}")
        elif r < 0.105:
            lines += [f"{stamp}{name}: POLL:", "Where do we meet?", "OPTION: station (2 votes)", "OPTION: cafe (1 vote)"]
        elif r < 0.15:
            lines += [f"{stamp}{name}: {_sentence(rng)}", _sentence(rng)]
        elif r < 0.20:
            lines.append(f"{stamp}{name}: note: {_sentence(rng)}")
        else:
            lines.append(f"{stamp}{name}: {_sentence(rng)}")
    return lines[:n]


def ios_lines(n: int, rng: random.Random) -> list[str]:
    lines = []
    while len(lines) < n:
        stamp = f"[{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.21, {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}]"
        name, r = rng.choice(NAMES), rng.random()
        if r < 0.05:
            lines.append(f"\u200e{stamp} {name}: \u200eBild weggelassen")
        elif r < 0.07:
            lines.append(f"{stamp} {name}: \u200eDiese Nachricht wurde gelöscht.")
        elif r < 0.08:
            lines.append(f"\u200e{stamp} {name}: \u200e<Anhang: 00000042-PHOTO-2021.jpg>")
        elif r < 0.09:
            lines.append(f"\u200e{stamp} Reise 2021: \u200e{name} hat {rng.choice(NAMES)} hinzugefügt.")
        elif r < 0.095:
            lines.append(f"\u200e{stamp} {name}: Plan.pdf \u2022 2 Seiten \u200eDokument weggelassen")
        else:
            lines.append(f"{stamp} {name}: {_sentence(rng)}")
    return lines[:n]


def load_parser(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--parser", default="twin.ingest.formats.whatsapp:WhatsAppTxt")
    parser.add_argument("--repeat", type=int, default=3, help="runs per file; the best is reported")
    args = parser.parse_args()
    parser_class = load_parser(args.parser)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for layout, make in (("android", android_lines), ("ios (de)", ios_lines)):
            path = Path(tmp) / "WhatsApp Chat - Reise 2021" / f"{layout.split()[0]}.txt"
            path.parent.mkdir(exist_ok=True)
            path.write_text("\n".join(make(args.lines, random.Random(0))) + "\n", encoding="utf-8")
            best, count, kinds = float("inf"), 0, {}
            for _ in range(args.repeat):
                ctx = ParseContext(path=path, tz=ZoneInfo("UTC"), owner=OwnerResolver(OwnerConfig(names=["Lin"])))
                start = time.perf_counter()
                records = list(parser_class().parse(path, ctx))
                best = min(best, time.perf_counter() - start)
                count = len(records)
                kinds = {}
                for r in records:
                    kinds[str(r.kind)] = kinds.get(str(r.kind), 0) + 1
            rows.append((layout, count, best, kinds))
    table = Table(title=f"WhatsApp TXT parse, {args.lines:,} lines per file, {args.parser}")
    for col in ("layout", "messages", "seconds", "messages/s", "kinds"):
        table.add_column(col, justify="right")
    for layout, count, seconds, kinds in rows:
        top = ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
        table.add_row(layout, f"{count:,}", f"{seconds:.2f}", f"{count / seconds:,.0f}", top)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
