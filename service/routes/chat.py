"""POST /v1/chat/completions in OpenAI's wire format, whole or streamed as server-sent events.

Memories used are left out unless asked for (`twin_include_memories: true` in the body, or the
header `X-Twin-Memories: 1`), so plain clients see a plain OpenAI response."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from twin.errors import TwinError
from twin.service.backends import Delta
from twin.service.deps import ServiceState, State
from twin.service.errors import APIError, from_twin_error
from twin.service.request_log import RequestRecord
from twin.service.schemas import ChatCompletionRequest, memory_out
from twin.service.twin import ReplyPlan

router = APIRouter()


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatCompletionRequest, request: Request, state: State):
    started = time.perf_counter()
    rec = RequestRecord(route="chat", backend=state.backend.name, stream=body.stream)
    try:
        plan = await run_in_threadpool(state.twin.plan, body)
    except (APIError, TwinError) as exc:
        _finish(state, rec, started, exc)
        raise
    rec.mode = plan.mode
    rec.memory_ids = [h.id or h.memory.id for h in plan.memories]
    rec.memory_scores = [h.score for h in plan.memories]
    rec.retrieval_ms, rec.prompt_ms = plan.timings["retrieval"], plan.timings["prompt"]
    include = body.twin_include_memories or request.headers.get("x-twin-memories", "").lower() in ("1", "true", "yes")
    memories = [memory_out(h).model_dump(mode="json") for h in plan.memories] if include else None
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    if body.stream:
        return await _stream(state, plan, body, rec, started, completion_id, memories)
    backend_started = time.perf_counter()
    try:
        generation = await run_in_threadpool(state.backend.generate, plan.messages, plan.params)
    except TwinError as exc:
        _finish(state, rec, started, exc)
        raise
    rec.backend_ms = (time.perf_counter() - backend_started) * 1e3
    usage = _usage(state, plan, generation.usage, generation.text)
    rec.prompt_tokens, rec.completion_tokens = usage["prompt_tokens"], usage["completion_tokens"]
    response = {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": plan.prefix + generation.text},
            "finish_reason": generation.finish_reason,
            "logprobs": None,
        }],
        "usage": usage,
    }
    if memories is not None:
        response["twin_memories"] = memories
    _finish(state, rec, started)
    return JSONResponse(response, headers={"Server-Timing": _server_timing(rec)})


async def _stream(state: ServiceState, plan: ReplyPlan, body: ChatCompletionRequest, rec: RequestRecord,
                  started: float, completion_id: str, memories: list | None) -> StreamingResponse:
    deltas = state.backend.stream_text(plan.messages, plan.params)
    backend_started = time.perf_counter()
    # Ask for the first piece before answering: a backend that is down then gets a proper 503
    # instead of a stream that breaks after its 200 header.
    try:
        first = await run_in_threadpool(_next, deltas)
    except TwinError as exc:
        _finish(state, rec, started, exc)
        raise
    created = int(time.time())
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        event = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": body.model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return f"data: {json.dumps(event, ensure_ascii=False)}\n\n"

    async def events() -> AsyncIterator[str]:
        pieces: list[str] = []
        usage_seen: dict | None = None
        finish = "stop"
        logged = False
        try:
            opening = {"twin_memories": memories} if memories is not None else {}
            yield chunk({"role": "assistant", "content": ""}, **opening)
            if plan.prefix:
                yield chunk({"content": plan.prefix})
            delta = first
            while delta is not None:
                if delta.text:
                    pieces.append(delta.text)
                    yield chunk({"content": delta.text})
                if delta.usage:
                    usage_seen = delta.usage
                if delta.finish_reason:
                    finish = delta.finish_reason
                    break
                delta = await run_in_threadpool(_next, deltas)
            rec.backend_ms = (time.perf_counter() - backend_started) * 1e3
            usage = _usage(state, plan, usage_seen or {}, "".join(pieces))
            rec.prompt_tokens, rec.completion_tokens = usage["prompt_tokens"], usage["completion_tokens"]
            yield chunk({}, finish)
            if include_usage:
                yield f"data: {json.dumps({'id': completion_id, 'object': 'chat.completion.chunk', 'created': created, 'model': body.model, 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"
            _finish(state, rec, started)
            logged = True
        except TwinError as exc:  # the headers are gone: report in-band, as OpenAI does
            err = from_twin_error(exc)
            _finish(state, rec, started, exc)
            logged = True
            yield f"data: {json.dumps({'error': {'message': err.message, 'type': err.type, 'code': err.code}})}\n\n"
        finally:
            with anyio.CancelScope(shield=True):  # a client that hangs up still stops the model
                await run_in_threadpool(_close, deltas)
            if not logged:
                rec.status, rec.error = 499, "client closed the stream"
                _finish(state, rec, started)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Server-Timing": _server_timing(rec)}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _next(deltas: Iterator[Delta]) -> Delta | None:
    return next(deltas, None)


def _close(deltas: Iterator[Delta]) -> None:
    close = getattr(deltas, "close", None)
    if close is not None:
        close()


def _usage(state: ServiceState, plan: ReplyPlan, reported: dict, text: str) -> dict:
    prompt = reported.get("prompt_tokens") or plan.prompt_tokens
    completion = reported.get("completion_tokens") or state.backend.count_tokens(text)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _server_timing(rec: RequestRecord) -> str:
    parts = [f"retrieval;dur={rec.retrieval_ms or 0:.2f}", f"prompt;dur={rec.prompt_ms or 0:.2f}"]
    if rec.backend_ms is not None:
        parts.append(f"backend;dur={rec.backend_ms:.2f}")
    return ", ".join(parts)


def _finish(state: ServiceState, rec: RequestRecord, started: float, exc: Exception | None = None) -> None:
    rec.latency_ms = (time.perf_counter() - started) * 1e3
    if exc is not None:
        err = exc if isinstance(exc, APIError) else from_twin_error(exc)
        rec.status, rec.error = err.status, err.message[:500]
    state.record(rec)
