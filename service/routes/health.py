"""Liveness (/health) and readiness (/ready: backend and memory store reachable) for compose."""

from __future__ import annotations

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
    body = {
        "status": "ready" if memory_ok and backend_ok else "unavailable",
        "memory": {"ok": memory_ok, "detail": memory_detail},
        "backend": {"ok": backend_ok, "detail": backend_detail, "name": state.backend.name},
    }
    return JSONResponse(body, status_code=200 if memory_ok and backend_ok else 503)
