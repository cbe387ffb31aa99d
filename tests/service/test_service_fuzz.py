"""Property-based API fuzzing: schemathesis generates requests from the app's own OpenAPI schema,
valid ones and deliberately invalid ones (wrong types, missing fields, odd strings), for every
operation, and sends them with a valid key to the real app under uvicorn (echo backend, a small
memory store built from tests/fixtures/service with the hash embedder). Whatever it sends, the
answer is never a 5xx.

Covers: /v1/chat/completions, /v1/models, /v1/models/{id}, /v1/memories (search, add, forget),
/health, /ready.
Examples per operation and mode: FUZZ_EXAMPLES (deterministic; raise TWIN_FUZZ_EXAMPLES to explore)."""

from __future__ import annotations

import os
import time

import pytest

from service_helpers import API_KEY, ingest_fixtures, serve, write_twin

FUZZ_EXAMPLES = int(os.environ.get("TWIN_FUZZ_EXAMPLES", "10"))

pytestmark = pytest.mark.fuzz


@pytest.fixture(scope="module")
def hash_twin_server(tmp_path_factory):
    """The fixture twin indexed with the hash embedder: a real store, without the cost of a
    neural embedding per generated request."""
    from twin.config import load_config
    from twin.retrieval.memory import index_corpus
    from twin.service.app import create_app

    config = load_config(write_twin(tmp_path_factory.mktemp("fuzz-twin")))
    config.memory.embedder = "hash"
    ingest_fixtures(config)
    assert index_corpus(config, progress=False)["memories"] >= 4
    with serve(create_app(config)) as url:
        yield url, config


def test_no_generated_request_gets_a_5xx(hash_twin_server):
    import requests
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable

    from twin.service.app import create_app

    url, config = hash_twin_server
    schema = schemathesis.openapi.from_dict(create_app(config).openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    covered = {f"{op.method.upper()} {op.path}" for op in operations}
    assert {"POST /v1/chat/completions", "GET /v1/models", "POST /v1/memories/search", "POST /v1/memories",
            "DELETE /v1/memories/{memory_id}", "GET /ready"} <= covered, covered

    session = requests.Session()  # one keep-alive connection throughout, as a real client would
    session.headers["Authorization"] = f"Bearer {API_KEY}"
    server_errors: list[str] = []
    sent = 0

    started = time.perf_counter()
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(mode))
            def send(case):
                nonlocal sent
                response = case.call(base_url=url, session=session, timeout=60)
                sent += 1
                if response.status_code >= 500:
                    server_errors.append(f"{response.status_code} {response.text[:200]}\n  {case.as_curl_command(base_url=url)}")

            try:
                send()
            except Unsatisfiable:  # an operation without parameters or body has no invalid form
                assert mode == schemathesis.GenerationMode.NEGATIVE, operation.path
    print(f"fuzz: {sent} requests over {len(operations)} operations in {time.perf_counter() - started:.1f} s")
    assert sent >= len(operations) * FUZZ_EXAMPLES
    assert not server_errors, "\n".join(server_errors[:10])
