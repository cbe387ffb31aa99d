"""API keys: the config holds only sha256 hashes; requests are checked in constant time.

Auth can be switched off only by opting in (service.allow_no_auth) and only while the service
listens on the loopback interface, so an open twin is never reachable from the network."""

from __future__ import annotations

import hashlib
import hmac
import json

from fastapi import Request

from twin.config import ServiceConfig
from twin.errors import ConfigError
from twin.service.errors import APIError, error_body

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def auth_required(service: ServiceConfig) -> bool:
    """True when requests must carry a key; ConfigError for settings that would expose the twin."""
    for value in service.api_key_hashes:
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value.lower()):
            raise ConfigError(f"service.api_key_hashes: {value[:12]!r}... is not a sha256 hex digest (use `twin serve hash-key KEY`)")
    if service.api_key_hashes:
        return True
    if service.allow_no_auth and service.host in LOOPBACK:
        return False
    if service.allow_no_auth:
        raise ConfigError(
            f"service.allow_no_auth only works when service.host is 127.0.0.1 (it is {service.host!r}); "
            "add a key with `twin serve hash-key KEY` to service.api_key_hashes instead"
        )
    raise ConfigError(
        "service.api_key_hashes is empty: add one (`twin serve hash-key KEY` prints it), or set "
        "service.allow_no_auth = true to serve without keys on 127.0.0.1 only"
    )


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or request.headers.get("api-key")


def check_key(key: str | None, hashes: list[str]) -> bool:
    if not key:
        return False
    digest = hash_key(key)
    # Compare against every hash, without stopping early, so timing says nothing about which matched.
    matched = False
    for expected in hashes:
        matched |= hmac.compare_digest(digest, expected.lower())
    return matched


def require_key(request: Request) -> None:
    """FastAPI dependency for every /v1 route."""
    state = request.app.state.twin
    if not state.auth_required:
        return
    if not check_key(presented_key(request), state.config.service.api_key_hashes):
        raise APIError(401, "missing or invalid API key (send 'Authorization: Bearer KEY')",
                       "invalid_request_error", "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


def host_allowed(host: str | None, names: list[str], port: int) -> bool:
    """Whether a Host header names this twin: an allowed name, with service.port or no port.

    A DNS-rebinding page reaches 127.0.0.1 under its own name (evil.example:8000), so its Host
    header is what gives it away."""
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8000
        name, _, rest = host.partition("]")
        name += "]"
        if rest and not rest.startswith(":"):
            return False
        given_port = rest[1:] if rest else None
    else:
        name, sep, given_port = host.partition(":")
        given_port = given_port if sep else None
    if given_port is not None and given_port != str(port):
        return False
    return name in {n.strip().lower() for n in names}


class HostAllowlistMiddleware:
    """In no-key mode, refuse requests whose Host header is not one of ours (403), on every route."""

    def __init__(self, app, names: list[str], port: int):
        self.app, self.names, self.port = app, names, port

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        if host_allowed(host, self.names, self.port):
            return await self.app(scope, receive, send)
        body = json.dumps(error_body(
            f"Host {host[:100]!r} is not allowed: without API keys this twin answers only to "
            f"{', '.join(self.names)} on port {self.port} (service.allowed_hosts)",
            "invalid_request_error", "host_not_allowed")).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
