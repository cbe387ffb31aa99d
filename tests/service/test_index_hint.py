"""`twin serve` tells the owner when the memory store's index was built with older settings."""

from __future__ import annotations

import httpx

from service_helpers import API_KEY, serve, write_twin
from twin.config import load_config
from twin.service.app import create_app
from twin.service.memory import MemoryGateway

HINT = "/data/memory: the memory store's search graph was built with older settings; `twin memory compact` rebuilds it"


class OlderIndex:
    """A store that answers and says its graph needs a rebuild (EdgeStore.index_hint)."""

    def count(self):
        return 3

    def tokens_per_memory(self):
        return 100.0

    def index_hint(self):
        return HINT

    def check_alive(self):
        pass

    def close(self):
        pass


def test_serve_announces_the_index_hint_and_still_serves(tmp_path):
    config = load_config(write_twin(tmp_path / "twin"))
    config.paths.request_log = tmp_path / "requests.sqlite"
    announced: list[str] = []
    gateway = MemoryGateway(config, opener=lambda cfg: OlderIndex())
    with serve(create_app(config, memory=gateway, announce=announced.append)) as url:
        ready = httpx.get(f"{url}/ready", headers={"Authorization": f"Bearer {API_KEY}"})
    assert announced[0].startswith("memory budget") and announced[1:] == [HINT]
    assert ready.status_code == 200
