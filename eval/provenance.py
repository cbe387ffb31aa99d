"""Which adapter, memory store and embedder produced a report, read from their manifests.

An id is the first 12 hex digits of the sha256 of the folder's manifest.json: two reports with
the same id were made by the same adapter (or store) build.
"""

from __future__ import annotations

import json
from pathlib import Path

from twin.manifest import MANIFEST, file_sha256

_INTERESTING = ("base_model", "dataset", "dataset_sha256", "embedder", "embedder_id", "dim", "dimension",
                "collection", "memories", "points", "created", "lexical", "chunk_turns")


def describe_folder(folder: Path | None) -> dict | None:
    """Path, id and the manifest's identifying fields; None when there is no such folder."""
    if folder is None or not Path(folder).is_dir():
        return None
    folder = Path(folder)
    info: dict = {"path": str(folder)}
    manifest = folder / MANIFEST
    if not manifest.is_file():
        info["id"] = None
        return info
    info["id"] = file_sha256(manifest)[:12]
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return info
    if isinstance(data, dict):
        info.update({k: data[k] for k in _INTERESTING if k in data})
    return info


def memory_store_folder(cfg) -> Path | None:
    """The folder holding the memory store's manifest (the store root or its collection folder)."""
    root = cfg.path("memory")
    for candidate in (root, root / cfg.memory.collection):
        if (candidate / MANIFEST).is_file():
            return candidate
    return root if root.is_dir() else None


def newest_adapter(cfg) -> Path | None:
    root = cfg.path("adapters")
    runs = [p for p in root.iterdir() if p.is_dir() and (p / "adapter_config.json").is_file()] if root.is_dir() else []
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None


def provenance(cfg, adapter: Path | None, embedder: str | None = None) -> dict:
    memory = describe_folder(memory_store_folder(cfg))
    return {
        "adapter": describe_folder(adapter),
        "memory_store": memory,
        "embedder": (memory or {}).get("embedder_id") or (memory or {}).get("embedder") or embedder or cfg.memory.embedder,
        "base_model": cfg.train.base_model,
        "persona": cfg.persona.name,
    }
