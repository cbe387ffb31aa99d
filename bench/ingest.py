"""Ingest throughput: parse + normalise + scrub + store for a large PyWxDump-style CSV.

    python bench/ingest.py            # 1,000,000 messages (target: >= 50,000 messages/s on 2 cores)
    python bench/ingest.py --n 100000 # quicker smoke run
    python bench/ingest.py --single   # also a first ingest with the file parsed in this process: what
                                      # the parse worker gains on this machine
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from synthetic import write_pywxdump_csv  # bench/ is not installed; run as a script, bench/ is on sys.path
from twin.config import TwinConfig
from twin.ingest import pipeline
from twin.ingest.pipeline import ingest_paths
from twin.corpus import CorpusStore

WORKER_MIN_MB = pipeline.WORKER_MIN_BYTES >> 20  # before --single turns the worker off


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process (storing) and of its reaped children (the parse worker): unlike
    wall time, it moves less when other jobs share the cores, and the two show the balance."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="messages to generate")
    parser.add_argument("--single", action="store_true", help="add a first ingest without the parse worker")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv_path = tmp / "wxid_bench_0_1000000.csv"
        console.print(f"generating {args.n:,} messages ...")
        write_pywxdump_csv(csv_path, args.n)
        config = TwinConfig(root=tmp)
        rows = []
        runs = ["first ingest", "re-ingest (all known)"] + (["first ingest, one process"] if args.single else [])
        for run in runs:
            if run.endswith("one process"):  # a fresh corpus, the file parsed in this process
                config = TwinConfig(root=tmp / "single")
                pipeline.WORKER_MIN_BYTES = 1 << 62  # never worth a worker
            with CorpusStore(config.path("corpus")) as store:
                start, (store_start, parse_start) = time.perf_counter(), cpu_seconds()
                report = ingest_paths([csv_path], config, store)[0]
                seconds, (store_end, parse_end) = time.perf_counter() - start, cpu_seconds()
            assert report.ok, report.error
            parse_us, store_us = ((end - begin) / report.messages * 1e6
                                  for begin, end in ((parse_start, parse_end), (store_start, store_end)))
            rows.append((run, report.messages, report.new, seconds, report.messages / seconds, parse_us, store_us,
                         sum(report.pii.values())))
    table = Table(title=f"ingest throughput, PyWxDump CSV, {args.n:,} messages (load average {os.getloadavg()[0]:.1f})")
    for col in ("run", "messages", "new", "seconds", "messages/s", "parse CPU us/msg", "store CPU us/msg", "PII replaced"):
        table.add_column(col, justify="right")
    for run, n, new, s, rate, parse_us, store_us, pii in rows:
        table.add_row(run, f"{n:,}", f"{new:,}", f"{s:.1f}", f"{rate:,.0f}", f"{parse_us:.1f}", f"{store_us:.1f}", f"{pii:,}")
    console.print(table)
    console.print("target: >= 50,000 messages/s for the first ingest on a 2-core machine. The parse worker and the "
                  "storing process run side by side: the slower of the two sets the pace. Files under "
                  f"{WORKER_MIN_MB} MB, and the one-process row, are parsed by the storing process: "
                  "all their CPU is in the store column.")


if __name__ == "__main__":
    main()
