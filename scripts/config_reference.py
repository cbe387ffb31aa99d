"""Print the twin.toml reference (every section and key, default, meaning) as a Markdown table,
straight from core/config.py; `--write` puts it into README.md. A test keeps the README current."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel

from twin.config import TwinConfig


def rows(model: type[BaseModel] = TwinConfig, prefix: str = ""):
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from rows(annotation, f"{prefix}{name}.")
            continue
        default = field.default if field.default_factory is None else field.default_factory()
        yield f"{prefix}{name}", default, field.description or ""


def markdown() -> str:
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for key, default, meaning in rows():
        shown = str(default).replace("\n", "\\n") if default is not None else ""
        if isinstance(default, str):
            shown = f'"{shown}"' if len(shown) < 40 else f'"{shown[:37]}..."'
        lines.append(f"| `{key}` | `{shown}` | {meaning} |".replace("``", "") )
    return "\n".join(lines)


START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def with_reference(readme: str) -> str:
    """The README text with the table between its markers replaced by the current reference."""
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{markdown()}\n{END}{tail}"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        readme = Path(__file__).resolve().parents[1] / "README.md"
        readme.write_text(with_reference(readme.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(markdown())
