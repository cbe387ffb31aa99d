"""API keys: the config holds only sha256 hashes; requests are checked in constant time.

Auth can be switched off only by opting in (service.allow_no_auth) and only while the service
listens on the loopback interface, so an open twin is never reachable from the network."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from twin.config import ServiceConfig
from twin.errors import ConfigError
from twin.service.errors import APIError

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
