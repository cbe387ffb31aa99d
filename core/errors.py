"""A few typed errors, translated only at the edges (one line + exit code in the CLI,
OpenAI-shaped JSON in the service)."""

from __future__ import annotations


class TwinError(Exception):
    """Base of every error the project raises on purpose. The message is shown to the user."""

    exit_code = 1


class ConfigError(TwinError):
    """twin.toml or an environment override is wrong; the message names the key."""

    exit_code = 2


class InputError(TwinError):
    """An input file cannot be read. Names the file and, where known, the line or field."""

    def __init__(self, path: object, reason: str, *, line: int | None = None, field: str | None = None):
        self.path, self.reason, self.line, self.field = str(path), reason, line, field
        where = self.path
        if line is not None:
            where += f":{line}"
        if field is not None:
            where += f" (field {field!r})"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # keep the keyword fields when the error crosses a process boundary
        return _rebuild_input_error, (type(self), self.path, self.reason, self.line, self.field)


def _rebuild_input_error(cls, path, reason, line, field):
    return cls(path, reason, line=line, field=field)


class UnknownFormatError(InputError):
    """No parser recognises the file."""


class StoreError(TwinError):
    """The corpus, dataset or memory store on disk is missing or inconsistent."""


class EmbedderMismatchError(StoreError):
    """A memory store was opened with an embedder other than the one that built it."""


class ModelError(TwinError):
    """A base model, adapter or backend cannot be loaded or does not match."""


class UnavailableError(TwinError):
    """A dependency (Qdrant, the model backend) is down right now; retrying later may work."""


class StoreLockedError(StoreError):
    """Another process holds the store's lock (e.g. `twin serve` while `twin memory index` runs)."""


class StoreCorruptError(StoreError):
    """Files of a store cannot be read (a damaged config, WAL or segment)."""
