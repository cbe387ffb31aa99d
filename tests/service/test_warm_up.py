"""`twin serve` loads the embedder in the background at start; a store that is not there yet is
reported by the first request, not by a crash of the warm-up."""

from __future__ import annotations

import logging
import threading

import numpy as np

from service_helpers import ingest_fixtures, write_twin


def test_warm_up_loads_the_embedder_and_a_missing_store_is_only_logged(tmp_path, caplog):
    from twin.config import load_config
    from twin.retrieval.memory import index_corpus
    from twin.service.memory import MemoryGateway

    config = load_config(write_twin(tmp_path))
    gateway = MemoryGateway(config)
    with caplog.at_level(logging.WARNING, logger="twin.service"):
        gateway.warm()  # no corpus, no store yet
    assert "not warmed up" in caplog.text

    ingest_fixtures(config)
    index_corpus(config, progress=False)
    gateway = MemoryGateway(config)
    embedder = gateway._get().embedder
    assert not embedder._loaded
    # a request arriving while the warm-up loads waits for it instead of loading a second copy
    results: list[np.ndarray] = []
    racer = threading.Thread(target=lambda: results.append(embedder.embed_query("the cello lesson")))
    warm = threading.Thread(target=gateway.warm)
    warm.start(), racer.start()
    warm.join(), racer.join()
    assert embedder._loaded
    assert np.allclose(results[0], embedder.embed_query("the cello lesson"), atol=1e-6)
    gateway.close()
