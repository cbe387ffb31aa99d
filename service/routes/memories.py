"""The twin's memory store over HTTP: search it, add a note the owner types, forget a memory."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from twin.service.deps import State
from twin.service.errors import APIError
from twin.service.request_log import RequestRecord
from twin.service.schemas import MemorySearchRequest, NoteRequest, memory_out

router = APIRouter(prefix="/v1/memories")


@router.post("/search")
async def search(body: MemorySearchRequest, state: State) -> dict:
    started = time.perf_counter()
    k = body.k or state.config.memory.top_k
    filters = body.model_dump(exclude={"query", "k"}, exclude_none=True)
    hits = await run_in_threadpool(state.memory.search, body.query, k, now=state.config.service.now(), **filters)
    elapsed = (time.perf_counter() - started) * 1e3
    state.record(RequestRecord(route="memories.search", memory_ids=[h.id or h.memory.id for h in hits],
                               memory_scores=[h.score for h in hits], retrieval_ms=elapsed, latency_ms=elapsed))
    return {"object": "list", "data": [memory_out(h).model_dump(mode="json") for h in hits]}


@router.post("", status_code=201)
async def add_note(body: NoteRequest, state: State) -> dict:
    if not body.text.strip():
        raise APIError(400, "text is empty", code="empty_note", param="text")
    memory_id = await run_in_threadpool(state.memory.add_note, body.text.strip(), body.when)
    state.record(RequestRecord(route="memories.add", status=201, memory_ids=[memory_id]))
    return {"id": memory_id, "object": "memory", "kind": "note"}


@router.delete("/{memory_id}")
async def forget(memory_id: str, state: State) -> dict:
    missing = APIError(404, f"no memory with id {memory_id!r}", code="memory_not_found", param="memory_id")
    try:  # every memory id is a UUID; anything else names no memory (and the store cannot parse it)
        memory_id = str(uuid.UUID(memory_id))
    except ValueError:
        raise missing from None
    deleted = await run_in_threadpool(state.memory.delete, memory_id)
    if not deleted:
        raise missing
    state.record(RequestRecord(route="memories.delete", memory_ids=[memory_id]))
    return {"id": memory_id, "object": "memory.deleted", "deleted": True}
