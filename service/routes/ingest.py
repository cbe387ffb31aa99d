"""POST /v1/ingest: new messages in any export format, into the corpus and the memory store."""

from __future__ import annotations

import time

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from twin.service.deps import State
from twin.service.live_ingest import ingest_body
from twin.service.request_log import RequestRecord

router = APIRouter()


@router.post("/v1/ingest")
async def ingest(
    request: Request,
    state: State,
    format: str | None = Query(None, description="a format name (`twin ingest --list-formats`); detected when absent"),
    name: str | None = Query(None, description="the export's file name, for formats that name the chat after it"),
) -> dict:
    started = time.perf_counter()
    body = await request.body()
    result = await run_in_threadpool(ingest_body, state.config, state.memory, body, fmt=format,
                                     content_type=request.headers.get("content-type"), name=name)
    state.record(RequestRecord(route="ingest", latency_ms=(time.perf_counter() - started) * 1e3))
    return result.as_dict()
