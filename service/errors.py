"""Errors on the wire, shaped like OpenAI's: {"error": {"message", "type", "code", "param"}}.

The project's typed errors are translated here and nowhere else: UnavailableError and store
problems are 503 (retry later), a model server that refuses is 502, a prompt that cannot fit is
400. Also the request body limit, enforced before a large body is read."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from twin.errors import ConfigError, ModelError, StoreError, TwinError, UnavailableError
from twin.prompt import PromptTooLongError

log = logging.getLogger("twin.service")


class APIError(Exception):
    def __init__(self, status: int, message: str, type: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param
        self.headers = headers


def error_body(message: str, type: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": printable(message), "type": type, "code": code and printable(code),
                      "param": param and printable(param)}}


def printable(text: str) -> str:
    """`text` with lone surrogates (from a client's JSON, echoed in a message) written as escapes:
    UTF-8 cannot encode them, and a response that fails to encode is a 500."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def from_twin_error(exc: TwinError) -> APIError:
    """The one mapping from the project's errors to HTTP."""
    if isinstance(exc, UnavailableError):
        return APIError(503, str(exc), "service_unavailable", "unavailable", headers={"Retry-After": "5"})
    if isinstance(exc, StoreError):
        return APIError(503, str(exc), "service_unavailable", "memory_store_error", headers={"Retry-After": "30"})
    if isinstance(exc, PromptTooLongError):
        return APIError(400, str(exc), "invalid_request_error", "context_length_exceeded", "messages")
    if isinstance(exc, ModelError):
        return APIError(502, str(exc), "server_error", "backend_error")
    if isinstance(exc, ConfigError):
        return APIError(500, str(exc), "server_error", "config_error")
    return APIError(500, str(exc), "server_error", None)


def api_error_response(err: APIError) -> JSONResponse:
    return JSONResponse(error_body(err.message, err.type, err.code, err.param), status_code=err.status, headers=err.headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api(request: Request, exc: APIError):
        return api_error_response(exc)

    @app.exception_handler(TwinError)
    async def _twin(request: Request, exc: TwinError):
        return api_error_response(from_twin_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else first.get("msg", "invalid request")
        return api_error_response(APIError(400, message, "invalid_request_error", first.get("type"), where or None))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return api_error_response(APIError(exc.status_code, str(exc.detail), "invalid_request_error", code))



INTERNAL_ERROR = error_body("internal error; see the service log", "server_error", "internal_error")


class CatchAllMiddleware:
    """Answer an unexpected exception with an OpenAI-shaped 500 and keep the connection.

    Starlette's own handler for `Exception` re-raises after answering, which makes the server
    close the keep-alive connection; this one answers and stops there. Known causes are fixed
    where they arise: reaching this is a bug, logged with its traceback."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # half a response is out: only closing the connection can say it failed
                raise
            body = json.dumps(INTERNAL_ERROR).encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse bodies over `limit` bytes with a 413: by Content-Length up front, or, for a chunked
    body, by reading it (it is small by definition) before the app sees any of it."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.limit:
                return await self._refuse(send)
            return await self.app(scope, receive, send)
        if scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return await self.app(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await self._refuse(send)
            if not message.get("more_body"):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send) -> None:
        body = json.dumps(error_body(
            f"request body exceeds {self.limit} bytes (service.max_body_bytes)", "invalid_request_error",
            "request_too_large")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
