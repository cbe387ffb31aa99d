"""Self-describing folders: every stage writes a manifest.json next to what it produced."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from twin.errors import StoreError
from twin.private import private_dir, write_private_text

MANIFEST = "manifest.json"


def library_versions(*names: str) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, data: dict[str, Any], name: str = MANIFEST) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a manifest."""
    private_dir(folder)
    data = {"created": datetime.now(UTC).isoformat(timespec="seconds"), **data}
    target = folder / name
    tmp = target.with_suffix(".tmp")
    write_private_text(tmp, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, target)
    return target


def read_manifest(folder: Path, name: str = MANIFEST) -> dict[str, Any]:
    target = folder / name
    if not target.is_file():
        raise StoreError(f"{target}: missing; was this folder made by twin?")
    try:
        return json.loads(target.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StoreError(f"{target}: not valid JSON ({exc})") from None
