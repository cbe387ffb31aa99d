"""Model backends, registered by name and imported only when used.

A new backend is a `Backend` subclass plus one `register_backend("name", "module:Class")` line;
the built-in ones are registered the same way."""

from __future__ import annotations

import importlib

from twin.config import TwinConfig
from twin.errors import ConfigError
from twin.service.backends.base import Backend, Delta, Generation, GenerationParams

__all__ = ["Backend", "Delta", "Generation", "GenerationParams", "BACKENDS", "register_backend", "backend_class", "load_backend"]

BACKENDS: dict[str, str] = {}


def register_backend(name: str, target: str) -> None:
    """`target` is "package.module:ClassName"; it is imported on first use."""
    BACKENDS[name] = target


register_backend("transformers", "twin.service.backends.hf:TransformersBackend")
register_backend("openai", "twin.service.backends.openai_compat:OpenAIBackend")
register_backend("echo", "twin.service.backends.echo:EchoBackend")


def backend_class(name: str) -> type[Backend]:
    if name not in BACKENDS:
        raise ConfigError(f"service.backend: unknown backend {name!r} (known: {', '.join(sorted(BACKENDS))})")
    module_name, _, class_name = BACKENDS[name].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ConfigError(f"backend {name!r} -> {BACKENDS[name]} is not a Backend subclass")
    return cls


def load_backend(config: TwinConfig) -> Backend:
    return backend_class(config.service.backend)(config)
