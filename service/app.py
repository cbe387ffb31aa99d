"""The app factory. The backend, the memory store and the request log are built in the
lifespan from the config and the manifests on disk, and closed when the server stops."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from twin.config import TwinConfig
from twin.private import tighten_data_dir
from twin.service.auth import HostAllowlistMiddleware, auth_required, require_key
from twin.service.backends import Backend, load_backend
from twin.service.deps import ServiceState
from twin.service.errors import BodyLimitMiddleware, CatchAllMiddleware, install_error_handlers
from twin.service.memory import MemoryGateway
from twin.service.request_log import RequestLog
from twin.service.routes import chat, health, ingest, memories, models, page
from twin.service.twin import Twin

log = logging.getLogger("twin.service")
STATIC = Path(__file__).resolve().parent / "static"


def create_app(config: TwinConfig, *, backend: Backend | None = None, memory: MemoryGateway | None = None,
               announce=None, warm_memory: bool = False) -> FastAPI:
    """Build the service. `backend`/`memory` are for callers that already hold one (bench, eval);
    by default both come from the config. `announce(text)` is told the memory budget chosen
    once the backend is loaded (`twin serve` prints it). `warm_memory` loads the embedder in
    the background at start (`twin serve` does; tests that never search need not)."""
    needs_key = auth_required(config.service)  # refuse an exposed, keyless twin before starting
    tighten_data_dir(config.path("data_dir"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        model = backend or load_backend(config)
        store = memory or MemoryGateway(config)
        ok, detail = store.ready()
        # top_k follows the store's memory size; each request sizes it again (the store may grow)
        budget = model.memory_budget(store.tokens_per_memory() if ok else None)
        log.info("%s", budget.describe())
        if announce is not None:
            announce(budget.describe())
        if not ok:  # not fatal: chat answers 503 until the store is there, then recovers
            log.warning("%s", detail)
        elif hint := store.index_hint():
            log.warning("%s", hint)
            if announce is not None:
                announce(hint)
        if ok and warm_memory:
            threading.Thread(target=store.warm, name="twin-warm-embedder", daemon=True).start()
        svc = config.service
        request_log = (RequestLog(config.path("request_log"), keep_days=svc.request_log_days, keep_rows=svc.request_log_rows)
                       if svc.request_log else None)
        app.state.twin = ServiceState(config, model, store, Twin(config, model, store), request_log, needs_key)
        try:
            yield
        finally:
            if request_log is not None:
                request_log.close()
            if memory is None:
                store.close()
            if backend is None:
                model.close()

    app = FastAPI(title="twin", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limit=config.service.max_body_bytes)
    if not needs_key:  # no keys: only pages on our own host names may talk to us (DNS rebinding)
        app.add_middleware(HostAllowlistMiddleware, names=config.service.allowed_hosts, port=config.service.port)
    app.add_middleware(CatchAllMiddleware)  # added last: the outermost of ours
    keyed = [Depends(require_key)]
    app.include_router(chat.router, dependencies=keyed)
    app.include_router(models.router, dependencies=keyed)
    app.include_router(memories.router, dependencies=keyed)
    app.include_router(ingest.router, dependencies=keyed)
    app.include_router(health.router)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
