"""Liveness (/health) and readiness (/ready: backend and memory store reachable) for compose."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from twin.errors import TwinError
from twin.service.deps import State

router = APIRouter()


@router.get("/health")
def health() -> dict:
    return {"status": "ok"}


@router.get("/ready")
async def ready(state: State) -> JSONResponse:
    memory_ok, memory_detail = await run_in_threadpool(state.memory.ready)
    try:
        await run_in_threadpool(state.backend.check)
        backend_ok, backend_detail = True, "ok"
    except TwinError as exc:
        backend_ok, backend_detail = False, str(exc)
    root = state.config.root
    body = {
        "status": "ready" if memory_ok and backend_ok else "unavailable",
        "memory": {"ok": memory_ok, "detail": without_absolute_paths(memory_detail, root)},
        "backend": {"ok": backend_ok, "detail": without_absolute_paths(backend_detail, root), "name": state.backend.name},
    }
    return JSONResponse(body, status_code=200 if memory_ok and backend_ok else 503)


_ABSOLUTE = re.compile(r"(?<![\w.:/])(?:/|[A-Za-z]:\\)[^\s'\"<>|:,;]*")


def without_absolute_paths(text: str, root: Path) -> str:
    """`text` with paths inside the twin folder made relative to it and any other absolute path
    cut to its last part: /ready is often public to a health checker, the folder layout is not."""
    base = str(Path(root).resolve())

    def shorten(m: re.Match) -> str:
        path = m.group(0)
        if path == base or path.startswith(base + "/") or path.startswith(base + "\\"):
            return path[len(base) + 1:] or "."
        name = re.split(r"[\\/]", path.rstrip("/\\"))[-1]
        return f".../{name}" if name else path

    return _ABSOLUTE.sub(shorten, text)
