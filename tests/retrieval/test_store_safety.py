"""Issue 14, data loss and forget: one writer per store folder, notes that survive a rebuild,
forget that lasts and erases, store errors as typed one-line errors."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.errors import StoreCorruptError, StoreLockedError
from twin.manifest import read_manifest, write_manifest
from twin.retrieval.memory import MemoryIndex, build_store, index_corpus, store_meta

from .conftest import make_store

CST = timezone(timedelta(hours=8))
SECRET = "ZEBRA-PIN-7731"  # a string that appears nowhere else in the fixture


def folder_holds(folder: Path, needle: str) -> list[str]:
    """Files under `folder` whose bytes contain `needle` (UTF-8)."""
    raw = needle.encode()
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and raw in p.read_bytes())


def write_twin(tmp_path: Path, messages) -> Path:
    from twin.corpus import CorpusStore

    (tmp_path / "twin.toml").write_text('[memory]\nembedder = "hash:64"\nchunk_turns = 4\nchunk_overlap = 2\n',
                                        encoding="utf-8")
    with CorpusStore(tmp_path / ".twin" / "corpus.sqlite") as corpus, corpus.transaction():
        corpus.add_messages(messages)
    return tmp_path / "twin.toml"


@pytest.fixture
def secret_persona(persona):
    """The fixture persona with a secret inside a message in the middle of a long chat (so that
    overlapping chat windows share it)."""
    messages = list(persona[0])
    by_chat: dict[str, list[int]] = {}
    for i, m in enumerate(messages):
        by_chat.setdefault(m.conversation_id, []).append(i)
    longest = max(by_chat.values(), key=len)
    at = longest[len(longest) // 2]
    messages[at] = dataclasses.replace(messages[at], text=f"{messages[at].text} my bank PIN is {SECRET}")
    return messages, messages[at]


def cli(*args: str):
    from twin.cli import build_app

    return CliRunner().invoke(build_app(), list(args))


def one_line_error(result, *needles: str) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    text = " ".join(lines)
    assert text.startswith("error:"), result.output
    for needle in needles:
        assert needle in text, result.output


# -- one writer per folder -----------------------------------------------------------------

def test_second_opener_is_refused_with_a_clear_error(tmp_path, hash_embedder, lexical, persona_memories):
    meta = store_meta(hash_embedder, lexical)
    with make_store("edge", tmp_path, meta) as store:
        build_store(store, hash_embedder, lexical, persona_memories[:5])
        with pytest.raises(StoreLockedError, match="in use by another twin process"):
            make_store("edge", tmp_path, meta, create=False).close()
    make_store("edge", tmp_path, meta, create=False).close()  # released on close


def test_cli_second_writer_and_rebuild_are_refused_while_the_store_is_open(tmp_path, persona):
    from twin.config import load_config

    config_path = write_twin(tmp_path, persona[0])
    config = load_config(config_path)
    index_corpus(config, progress=False)
    with MemoryIndex.open(config) as index:  # what `twin serve` holds
        note = index.add_note("I keep my spare key under the blue flower pot", datetime(2024, 5, 1, tzinfo=CST))
        for args in (["memory", "index", "--rebuild"], ["memory", "index"], ["memory", "stats"]):
            one_line_error(cli(*args, "--config", str(config_path)), "in use by another twin process", "memory")
        assert index.search("spare key flower pot", k=1)[0].id == note  # nothing was wiped
    assert json.loads(cli("memory", "stats", "--json", "--config", str(config_path)).stdout)["by_kind"]["note"] == 1


# -- notes live in the corpus --------------------------------------------------------------

def test_notes_survive_rebuild_with_the_same_id(tmp_path, persona):
    from twin.config import load_config
    from twin.corpus import CorpusStore

    config = load_config(write_twin(tmp_path, persona[0]))
    index_corpus(config, progress=False)
    with MemoryIndex.open(config) as index:
        note = index.add_note("moved to Kreuzberg in March", datetime(2023, 3, 2, tzinfo=CST))
    with CorpusStore(config.path("corpus")) as corpus:
        assert [nid for nid, _, _ in corpus.notes()] == [note]
    report = index_corpus(config, progress=False, rebuild=True)
    assert report["by_kind"]["note"] == 1
    with MemoryIndex.open(config) as index:
        hit = index.search("Kreuzberg", k=1)[0]
        assert hit.id == note and hit.memory.text.startswith("[2023-03-02] note: moved to Kreuzberg")


def test_notes_kept_only_in_an_old_store_are_rescued_by_a_rebuild(tmp_path, persona, hash_embedder, lexical):
    """Stores written before notes went into the corpus: the rebuild copies their notes over first."""
    from twin.config import load_config

    config = load_config(write_twin(tmp_path, persona[0]))
    index_corpus(config, progress=False)
    with make_store("edge", config.path("memory"), store_meta(hash_embedder, lexical), create=False) as store:
        legacy = MemoryIndex(store, hash_embedder, lexical).add_note("blood type AB", datetime(2020, 1, 1, tzinfo=CST))
    index_corpus(config, progress=False, rebuild=True)
    with MemoryIndex.open(config) as index:
        assert index.search("blood type", k=1)[0].id == legacy


# -- forget lasts and erases -------------------------------------------------------------

def test_forget_is_durable_and_erases_the_text_from_disk(tmp_path, secret_persona):
    from twin.config import load_config
    from twin.corpus import CorpusStore

    messages, secret_message = secret_persona
    config = load_config(write_twin(tmp_path, messages))
    index_corpus(config, progress=False)
    data = tmp_path / ".twin"
    assert folder_holds(data, SECRET)  # the probe works: the text is there before
    with MemoryIndex.open(config) as index:
        hits = [h for h in index.search(f"bank PIN {SECRET}", k=20) if SECRET in h.memory.text]
        assert len(hits) >= 2  # overlapping chat windows share the message
        assert index.delete(hits[0].id)
        assert not [h for h in index.search(f"bank PIN {SECRET}", k=50) if SECRET in h.memory.text]
    assert folder_holds(data, SECRET) == []  # store WAL, segments and the corpus

    index_corpus(config, progress=False)  # incremental
    with CorpusStore(config.path("corpus")) as corpus, corpus.transaction():
        assert corpus.add_messages(messages) == 0  # ingesting the export again does not store it
    index_corpus(config, progress=False, rebuild=True)
    assert folder_holds(data, SECRET) == []
    with MemoryIndex.open(config) as index:
        texts = [h.memory.text for h in index.search("bank PIN", k=100)]
        assert texts and not [t for t in texts if SECRET in t]
        assert not any(secret_message.source_id in h.memory.source_ids for h in index.search("PIN", k=100))


def test_forgotten_note_stays_forgotten_and_erased(tmp_path, persona):
    from twin.config import load_config

    config_path = write_twin(tmp_path, persona[0])
    config = load_config(config_path)
    index_corpus(config, progress=False)
    with MemoryIndex.open(config) as index:
        note = index.add_note(f"the safe code is {SECRET}", datetime(2024, 1, 1, tzinfo=CST))
        assert index.delete(note) and not index.delete(note)
    for rebuild in (False, True):
        index_corpus(config, progress=False, rebuild=rebuild)
    compacted = cli("memory", "compact", "--config", str(config_path))
    assert compacted.exit_code == 0 and "compacted" in compacted.output
    assert folder_holds(tmp_path / ".twin", SECRET) == []
    with MemoryIndex.open(config) as index:
        assert index.stats()["by_kind"].get("note", 0) == 0


def test_an_erase_cut_short_is_finished_on_the_next_open(tmp_path, hash_embedder, lexical, persona_memories):
    """Killed between deleting the point and compacting: the manifest says so, and the next open compacts."""
    meta = store_meta(hash_embedder, lexical)
    with make_store("edge", tmp_path, meta) as store:
        build_store(store, hash_embedder, lexical, persona_memories)
        note = MemoryIndex(store, hash_embedder, lexical).add_note(f"alarm code {SECRET}")
        write_manifest(tmp_path, {**read_manifest(tmp_path), "erase_pending": True})
        store.delete([note])  # the process dies here, before compact()
    assert folder_holds(tmp_path, SECRET)
    make_store("edge", tmp_path, meta, create=False).close()
    assert folder_holds(tmp_path, SECRET) == []
    assert "erase_pending" not in read_manifest(tmp_path)


def test_compaction_keeps_every_memory_and_search(tmp_path, hash_embedder, lexical, persona_memories):
    meta = store_meta(hash_embedder, lexical)
    with make_store("edge", tmp_path, meta) as store:
        build_store(store, hash_embedder, lexical, persona_memories)
        index = MemoryIndex(store, hash_embedder, lexical)
        before = [h.id for h in index.search("香山", k=5)]
        old_shard = read_manifest(tmp_path)["shard"]
        store.compact()
        assert store.all_ids() == {m.id for m in persona_memories}
        assert [h.id for h in index.search("香山", k=5)] == before
    assert read_manifest(tmp_path)["shard"] != old_shard and not (tmp_path / old_shard).exists()
    with make_store("edge", tmp_path, meta, create=False) as store:
        assert store.count() == len(persona_memories)


# -- damaged stores are typed errors --------------------------------------------------------

def corrupt(shard: Path, part: str) -> None:
    if part == "config":
        (shard / "edge_config.json").write_text("{not json", encoding="utf-8")
    elif part == "wal":
        for f in (shard / "wal").iterdir():
            f.write_bytes(b"\xff" * max(f.stat().st_size, 64))
    else:
        for f in shard.glob("segments/*/version.info"):
            f.write_bytes(b"\x00garbage")


@pytest.mark.parametrize("part", ["config", "wal", "segment"])
def test_a_damaged_shard_is_a_one_line_error(tmp_path, persona, part):
    from twin.config import load_config

    config_path = write_twin(tmp_path, persona[0])
    config = load_config(config_path)
    index_corpus(config, progress=False)
    memory = config.path("memory")
    corrupt(memory / read_manifest(memory)["shard"], part)
    with pytest.raises(StoreCorruptError, match="--rebuild"):
        MemoryIndex.open(config)
    one_line_error(cli("memory", "search", "hike", "--config", str(config_path)), "cannot open the memory shard")
    assert cli("memory", "index", "--rebuild", "--config", str(config_path)).exit_code == 0  # the way out
    with MemoryIndex.open(config) as index:
        assert index.count() > 0


def test_forgetting_an_id_that_is_not_a_memory_id_is_not_found(tmp_path, store_kind, hash_embedder, lexical,
                                                               persona_memories):
    with make_store(store_kind, tmp_path, store_meta(hash_embedder, lexical)) as store:
        build_store(store, hash_embedder, lexical, persona_memories[:3])
        index = MemoryIndex(store, hash_embedder, lexical)
        assert index.delete("abc") is False and index.delete("00000000-0000-0000-0000-000000000000") is False
        assert store.count() == 3
