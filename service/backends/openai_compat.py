"""Any OpenAI-compatible chat server as the model: vLLM (`--enable-lora`), llama.cpp, a remote API.

The twin builds the full prompt (persona + memories + history) and sends it as chat messages;
the server only generates. With vLLM, `service.backend_model` names the LoRA module."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx

from twin.budget import served_window
from twin.errors import ModelError, UnavailableError
from twin.service.backends.base import Backend, Delta, GenerationParams


class OpenAIBackend(Backend):
    name = "openai"
    handles_stop = True

    def __init__(self, config):
        super().__init__(config)
        svc = config.service
        self.base_url = (svc.backend_url or "").rstrip("/")
        self.model = svc.backend_model or svc.model_name
        headers = {"Authorization": f"Bearer {svc.backend_api_key}"} if svc.backend_api_key else {}
        # Short connect timeout: a server that is down should give a quick 503, not a hang.
        timeout = httpx.Timeout(svc.backend_timeout_s, connect=5.0)
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self._retry_at = 0.0
        self._window: tuple[int | None, str] | None = None  # what /models said, once it answered

    def model_context(self) -> tuple[int | None, str]:
        """vLLM lists `max_model_len` per model at /v1/models; asked until the server answers
        (it may start after the twin), then remembered. Other servers: unknown (config)."""
        if self._window is not None:
            return self._window
        now = time.monotonic()
        if now < self._retry_at:  # down a moment ago: do not make every request wait on it
            return None, f"{self.base_url}/models did not answer"
        try:
            response = self._client.get("/models", timeout=5.0)
        except httpx.TransportError:
            self._retry_at = now + 30.0
            return None, f"{self.base_url}/models did not answer"
        try:
            models = response.json().get("data") or [] if response.status_code == 200 else []
        except (ValueError, AttributeError):
            models = []
        window = served_window(models, self.model)
        self._window = (window, f"{self.base_url}/models max_model_len" if window else
                        f"{self.base_url}/models states no max_model_len")
        return self._window

    def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> Iterator[Delta]:
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        try:
            with self._client.stream("POST", "/chat/completions", json=body) as response:
                self._raise_for_status(response)
                yield from self._parse_events(response.iter_lines())
        except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
            raise UnavailableError(f"model server {self.base_url} is unreachable ({type(exc).__name__}: {exc})") from None

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        detail = response.read().decode("utf-8", "replace")[:300]
        message = f"model server {self.base_url} answered {response.status_code}: {detail}"
        if response.status_code >= 500 or response.status_code == 429:
            raise UnavailableError(message)
        raise ModelError(message)

    def _parse_events(self, lines: Iterator[str]) -> Iterator[Delta]:
        finish, usage = None, None
        for line in lines:
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            try:
                event = json.loads(data)
            except json.JSONDecodeError:
                raise ModelError(f"model server {self.base_url} sent a malformed event: {data[:200]}") from None
            if "error" in event:
                raise ModelError(f"model server {self.base_url}: {event['error']}")
            usage = event.get("usage") or usage
            for choice in event.get("choices") or []:
                text = (choice.get("delta") or {}).get("content") or ""
                if text:
                    yield Delta(text)
                finish = choice.get("finish_reason") or finish
        yield Delta(finish_reason=finish or "stop", usage=usage)

    def check(self) -> None:
        try:
            response = self._client.get("/models", timeout=5.0)
        except httpx.TransportError as exc:
            raise UnavailableError(f"model server {self.base_url} is unreachable ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise UnavailableError(f"model server {self.base_url} answered {response.status_code}")

    def describe(self) -> dict:
        return {"backend": self.name, "url": self.base_url, "model": self.model}

    def close(self) -> None:
        self._client.close()
