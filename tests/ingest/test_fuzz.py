"""Property tests: mutated exports never crash ingest with anything but the project's typed
error, and the corpus stays consistent (a rejected file adds nothing, an accepted one adds
exactly what the report says)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.config import TwinConfig
from twin.ingest import registry
from twin.ingest.pipeline import ingest_paths
from twin.corpus import CorpusStore
from tests.conftest import FORMATS

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ingest"
MAX_BYTES = 20_000  # keep examples small so the property runs fast


def sample_files() -> list[Path]:
    files = [p for p in sorted(FORMATS.rglob("*")) if p.is_file() and p.suffix in {".csv", ".json", ".txt", ".js"}]
    files += [p for p in sorted(FIXTURES.rglob("*")) if p.is_file()]
    return [p for p in files if p.name != "SOURCES.md"]


SAMPLES = sample_files()


@st.composite
def mutated(draw):
    source = draw(st.sampled_from(SAMPLES))
    data = source.read_bytes()[:MAX_BYTES]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "drop_line", "dup_line", "utf16"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if op == "truncate":
            data = data[:pos]
        elif op == "flip":
            data = data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1:]
        elif op == "insert":
            data = data[:pos] + draw(st.binary(min_size=1, max_size=8)) + data[pos:]
        elif op == "utf16":
            try:
                data = data.decode("utf-8").encode("utf-16")
            except UnicodeDecodeError:
                pass
        else:
            lines = data.split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            if op == "drop_line":
                del lines[i]
            else:
                lines.insert(i, lines[i])
            data = b"\n".join(lines)
    return source, data


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_inputs_only_raise_typed_errors_and_keep_corpus_consistent(case):
    source, data = case
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = TwinConfig(root=tmp)
        config.owner.names = ["Lin"]
        with CorpusStore(config.path("corpus")) as store:
            # A clean file first, so there is something to protect.
            baseline = ingest_paths([FIXTURES / "wechat" / "pywxdump_sample.csv"], config, store)[0]
            assert baseline.ok
            before = store.stats()["messages"] + store.stats()["documents"]
            target = tmp / source.name
            target.write_bytes(data)
            # Any exception other than the typed ones that ingest_paths reports escapes here and fails.
            report = ingest_paths([target], config, store)[0]
            after = store.stats()["messages"] + store.stats()["documents"]
            if report.ok:
                assert after == before + report.new
            else:
                assert after == before, report.error
                assert str(target) in report.error or report.error.startswith("--format")
            assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_every_registered_format_is_importable():
    for name in registry.formats():
        parser = registry.get_parser(name)
        assert parser.name == name and parser.description
