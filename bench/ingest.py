"""Ingest throughput: parse + normalise + scrub + store for a large PyWxDump-style CSV.

    python bench/ingest.py            # 1,000,000 messages (target: >= 50,000 messages/s on 2 cores)
    python bench/ingest.py --n 100000 # quicker smoke run
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from synthetic import write_pywxdump_csv  # bench/ is not installed; run as a script, bench/ is on sys.path
from twin.config import TwinConfig
from twin.ingest.pipeline import ingest_paths
from twin.corpus import CorpusStore


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the parse worker): unlike wall time, it
    hardly moves when other jobs share the cores, so before/after comparisons stay meaningful."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="messages to generate")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv_path = tmp / "wxid_bench_0_1000000.csv"
        console.print(f"generating {args.n:,} messages ...")
        write_pywxdump_csv(csv_path, args.n)
        config = TwinConfig(root=tmp)
        rows = []
        for run in ("first ingest", "re-ingest (all known)"):
            with CorpusStore(config.path("corpus")) as store:
                start, cpu_start = time.perf_counter(), cpu_seconds()
                report = ingest_paths([csv_path], config, store)[0]
                seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
            assert report.ok, report.error
            rows.append((run, report.messages, report.new, seconds, report.messages / seconds, cpu,
                         report.messages / cpu, sum(report.pii.values())))
    table = Table(title=f"ingest throughput, PyWxDump CSV, {args.n:,} messages")
    for col in ("run", "messages", "new", "seconds", "messages/s", "CPU s", "msgs/CPU s", "PII replaced"):
        table.add_column(col, justify="right")
    for run, n, new, s, rate, cpu, cpu_rate, pii in rows:
        table.add_row(run, f"{n:,}", f"{new:,}", f"{s:.1f}", f"{rate:,.0f}", f"{cpu:.1f}", f"{cpu_rate:,.0f}", f"{pii:,}")
    console.print(table)
    console.print("target: >= 50,000 messages/s for the first ingest on a 2-core machine")


if __name__ == "__main__":
    main()
