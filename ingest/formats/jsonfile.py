"""Reading JSON exports with errors that name the file and the line or field.

`load_json` reports a syntax error at its line. `Fields` reads required fields of one record and
names the full path of a missing or mistyped one (`messages[3].timestamp`), since parsed JSON
has no line numbers left.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twin.errors import InputError
from twin.ingest.textio import decode, read_text


def load_json(path: Path | str, data: bytes | None = None) -> Any:
    """Parse a JSON file (or its bytes, for zip members); `path` is what errors name."""
    text = decode(data, path) if data is not None else read_text(Path(path))
    return parse_json(path, text.lstrip("\ufeff"))


def parse_json(path: Path | str, text: str, *, first_line: int = 1, columns: bool = False) -> Any:
    """json.loads with errors naming `path` and the line (counted from `first_line`).

    Nesting deeper than the interpreter's recursion limit (about 1000 levels, far beyond any
    export) raises RecursionError inside the decoder; it becomes an InputError for this file
    alone instead of aborting the whole ingest run.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f" (column {exc.colno})" if columns else ""
        raise InputError(path, f"invalid JSON: {exc.msg}{where}", line=first_line + exc.lineno - 1) from None
    except RecursionError:
        raise InputError(path, "invalid JSON: nested too deeply to read (over ~1000 levels; not an export?)") from None


def expect(path: Path | str, value: Any, kind: type | tuple[type, ...], field: str) -> Any:
    """`value` itself, when it has the expected type; else an error naming `field`."""
    if not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise InputError(path, f"expected {names}, found {type(value).__name__}", field=field)
    return value


class Fields:
    """Typed access to one JSON object, for error messages that point at the field."""

    def __init__(self, path: Path | str, obj: Any, where: str):
        self.path, self.where = path, where
        self.obj = expect(path, obj, dict, where)

    def field(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def require(self, key: str, kind: type | tuple[type, ...] = str) -> Any:
        if key not in self.obj or self.obj[key] is None:
            raise InputError(self.path, "missing", field=self.field(key))
        return expect(self.path, self.obj[key], kind, self.field(key))

    def get(self, key: str, kind: type | tuple[type, ...] = str, default: Any = None) -> Any:
        value = self.obj.get(key)
        if value is None:
            return default
        return expect(self.path, value, kind, self.field(key))

    def sub(self, key: str) -> Fields:
        return Fields(self.path, self.obj.get(key) or {}, self.field(key))
