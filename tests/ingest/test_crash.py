"""A crash midway through ingest loses no committed file, leaves no half file, and a rerun
ends with exactly the corpus of a clean run."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bench.synthetic import write_pywxdump_csv
from twin.init_template import render
from twin.corpus import CorpusStore

TWIN = [sys.executable, "-c", "from twin.cli import main; main()"]


def make_twin(folder: Path) -> Path:
    folder.mkdir()
    (folder / "twin.toml").write_text(render(["wxid_me"], "Asia/Shanghai"), encoding="utf-8")
    return folder


def committed_files(corpus: Path) -> int:
    if not corpus.exists():
        return 0
    try:
        with sqlite3.connect(corpus, timeout=0.1) as db:
            return db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # schema not created yet


def test_sigkill_midway_then_rerun_equals_clean_run(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    for i in range(4):  # four files: the kill lands after the first commits, before the last
        write_pywxdump_csv(exports / f"wxid_chat{i}_0_15000.csv", 15_000, seed=i, start_id=1 + i * 15_000)

    crashed = make_twin(tmp_path / "crashed")
    corpus = crashed / ".twin" / "corpus.sqlite"
    proc = subprocess.Popen([*TWIN, "ingest", str(exports)], cwd=crashed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while committed_files(corpus) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "ingest finished before it could be killed; make the input bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    with CorpusStore(corpus) as store:
        partial = store.stats()
    assert 1 <= partial["files"] < 4
    assert partial["messages"] == 15_000 * partial["files"]  # whole files only, never half of one

    assert subprocess.run([*TWIN, "ingest", str(exports)], cwd=crashed, capture_output=True).returncode == 0
    clean = make_twin(tmp_path / "clean")
    assert subprocess.run([*TWIN, "ingest", str(exports)], cwd=clean, capture_output=True).returncode == 0

    with CorpusStore(corpus) as a, CorpusStore(clean / ".twin" / "corpus.sqlite") as b:
        sa, sb = a.stats(), b.stats()
        assert sa["messages"] == sb["messages"] == 60_000
        assert sa["by_kind"] == sb["by_kind"]
        assert a.content_hash() == b.content_hash()
