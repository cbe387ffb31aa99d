"""docker/compose.yaml stays in step with the code: it validates, its service settings load as a
TwinConfig, and the twin configured that way answers through a fake vLLM (an OpenAI-compatible
server) with the LoRA module name the vLLM container registers."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import yaml

from twin.config import load_config
from tests.conftest import needs_binary
from tests.service.service_helpers import fake_openai_app, serve

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker" / "compose.yaml"
PERSONA = REPO / "examples" / "sample_persona"


def compose_env(service: str) -> dict[str, str]:
    spec = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"][service]
    default = re.compile(r"\$\{[A-Z_]+:-([^}]*)\}")  # ${VAR:-default} -> default
    return {k: default.sub(r"\1", str(v)) for k, v in spec["environment"].items()}


@needs_binary("docker-compose")
def test_compose_file_validates():
    tool = shutil.which("docker-compose")
    result = subprocess.run([tool, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_vllm_serves_the_lora_module_the_service_asks_for():
    spec = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    command = spec["vllm"]["command"]
    assert "--enable-lora" in command
    module = command[command.index("--lora-modules") + 1].split("=")[0]
    env = compose_env("twin")
    assert env["TWIN_SERVICE__BACKEND_MODEL"] == module
    assert env["TWIN_SERVICE__BACKEND_URL"].startswith("http://vllm:")
    assert env["TWIN_MEMORY__QDRANT_URL"].startswith("http://qdrant:6333")
    assert spec["twin"]["depends_on"]["qdrant"]["condition"] == "service_healthy"


def test_compose_settings_answer_through_a_fake_vllm(tmp_path):
    from twin.ingest.pipeline import ingest_paths
    from twin.corpus import CorpusStore
    from twin.retrieval.memory import index_corpus
    from twin.service.app import create_app
    from twin.service.auth import hash_key

    twin = tmp_path / "twin"
    twin.mkdir()
    toml = (PERSONA / "twin.toml").read_text(encoding="utf-8")
    toml = toml.replace("allow_no_auth = true", f'api_key_hashes = ["{hash_key("compose-key")}"]')
    (twin / "twin.toml").write_text(toml, encoding="utf-8")

    upstream = fake_openai_app("我们九月十四号去的")
    with serve(upstream) as fake_vllm:
        env = compose_env("twin")
        env["TWIN_SERVICE__BACKEND_URL"] = f"{fake_vllm}/v1"  # the vllm container, here
        env.pop("TWIN_MEMORY__QDRANT_URL")  # no Qdrant server here: the embedded engine stands in
        env.pop("TWIN_MEMORY__QDRANT_API_KEY")
        env["TWIN_SERVICE__HOST"] = "127.0.0.1"
        config = load_config(twin / "twin.toml", env=env)
        assert config.service.backend == "openai" and config.service.port == 8000
        with CorpusStore(config.path("corpus")) as store:
            assert all(r.ok for r in ingest_paths([PERSONA / "exports"], config, store))
        index_corpus(config, progress=False)

        with serve(create_app(config)) as twin_url:
            response = httpx.post(
                f"{twin_url}/v1/chat/completions",
                headers={"Authorization": "Bearer compose-key"},
                json={"model": "twin", "messages": [{"role": "user", "content": "我们什么时候去莫干山爬山的？"}]},
                timeout=60,
            )
    assert response.status_code == 200, response.text
    assert "九月十四号" in response.json()["choices"][0]["message"]["content"]
    sent = upstream.state.requests[-1]
    assert sent["model"] == "twin"  # the LoRA module vLLM registered
    prompt = "\n".join(m["content"] for m in sent["messages"])
    assert "莫干山" in prompt and "2024-09" in prompt  # the memory, with its date, reached the model


def test_vllm_max_lora_rank_holds_the_default_adapter():
    """The compose default for --max-lora-rank serves an adapter trained with the default rank;
    `twin adapter check` prints the value for any other rank (TWIN_MAX_LORA_RANK)."""
    from twin.config import TrainConfig
    from twin.finetune.vllm_compat import MAX_LORA_RANKS, vllm_max_lora_rank

    command = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["vllm"]["command"]
    flag = next(c for c in command if c.startswith("--max-lora-rank="))
    assert flag == "--max-lora-rank=${TWIN_MAX_LORA_RANK:-16}"
    default = int(re.search(r":-(\d+)\}", flag).group(1))
    assert default in MAX_LORA_RANKS and default == vllm_max_lora_rank(TrainConfig().lora_rank)
