"""Articles the owner wrote: Markdown, HTML, plain text, PDF and DOCX files, one Document each.

Registered last: it accepts any file with one of these extensions, so chat exports that are also
.txt/.html (WhatsApp, QQ) must be recognised by their own parsers first.

Why not `unstructured`: its md/html/txt/docx partitioners classify every paragraph with a spaCy
model (en_core_web_sm) that unstructured downloads from GitHub on first use and installs into
site-packages; offline that fails ("Failed to download spaCy model"), and its PDF path pulls a
layout-inference stack. We only need the text, a title and a date, so each type is read with a
small library: Markdown -> HTML with `markdown`, HTML with `lxml`, DOCX with `python-docx`, PDF
with `pypdf` (text layer only, no OCR). These come with the `documents` extra and are imported
only when a file of that type is read.

Title: front matter `title:` / <title> / Word "Title" style / PDF metadata, else the first
heading, else the file name. Date: front matter `date:` / HTML meta / DOCX or PDF metadata, else
a date at the start of the file name (2024-05-01-trip.md); times without an offset are in
`ingest.source_tz`. Text: paragraphs joined with blank lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from twin.errors import InputError
from twin.records import Document, DocumentKind
from twin.ingest.base import FALLBACK, ParseContext, Parser, Record
from twin.ingest.textio import clean, read_text
from twin.ingest.timestamps import parse_local

EXTENSIONS = {".md", ".markdown", ".html", ".htm", ".txt", ".pdf", ".docx"}
_NAME_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[-_ ]|$|\.)")
_PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(Z|[+-]\d{2}'?\d{2}'?)?")
_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\r?\n(.*?)\r?\n\1[ \t]*(\r?\n|\Z)", re.DOTALL)
SENTENCE_ENDS = (".", "!", "?", "…", "。", "！", "？", ",", ";", ":")
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


@dataclass
class Extracted:
    blocks: list[str] = field(default_factory=list)  # paragraphs, headings, list items, in order
    title: str = ""  # from metadata (front matter, <title>, document properties)
    headings: list[str] = field(default_factory=list)  # first-level headings first
    date: datetime | str | None = None
    url: str | None = None


def _need(module: str, path: Path):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(path, f"reading {path.suffix} files needs the documents extra: pip install 'twin[documents]'") from None


# -- Markdown and HTML ------------------------------------------------------------------------

BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "header", "blockquote", "li", "dt", "dd", "tr",
    "h1", "h2", "h3", "h4", "h5", "h6", "figcaption", "caption", "table", "ul", "ol", "dl", "hr",
}
SKIP_TAGS = {"script", "style", "noscript", "template", "nav", "footer", "head", "svg", "form", "button", "iframe"}
DATE_META = ("article:published_time", "date", "pubdate", "publish_date", "dc.date", "dc.date.issued", "datepublished")
_BREAK = "\x00"  # stands for <br> while whitespace is collapsed


def html_blocks(root) -> tuple[list[str], list[str]]:
    """(blocks, headings ordered h1 first) of an lxml element tree."""
    blocks: list[str] = []
    headings: list[tuple[int, int, str]] = []
    buffer: list[str] = []

    def flush(heading_level: int = 0) -> None:
        text = _SPACES.sub(" ", "".join(buffer)).replace(_BREAK, "\n")
        text = "\n".join(line.strip() for line in text.split("\n")).strip()
        buffer.clear()
        if text and text not in ("-", "|", "| |"):
            blocks.append(text)
            if heading_level:
                headings.append((heading_level, len(headings), text))

    def walk(element) -> None:
        tag = element.tag.lower() if isinstance(element.tag, str) else None
        if tag is None or tag in SKIP_TAGS:  # comments, scripts...: only the tail is text
            buffer.append(element.tail or "")
            return
        if tag == "pre":
            flush()
            code = clean(element.text_content()).strip("\n")
            if code.strip():
                blocks.append(code)
            buffer.append(element.tail or "")
            return
        block = tag in BLOCK_TAGS
        if block:
            flush()
        if tag == "br":
            buffer.append(_BREAK)
        elif tag == "li":
            buffer.append("- ")
        elif tag in ("td", "th"):
            buffer.append(" | " if element.getprevious() is not None else "| ")
        buffer.append(element.text or "")
        for child in element:
            walk(child)
        if tag == "tr":
            buffer.append(" |")
        if block:
            level = int(tag[1]) if re.fullmatch(r"h[1-6]", tag) else 0
            flush(level)
        buffer.append(element.tail or "")

    body = root.find(".//body")
    walk(body if body is not None else root)
    flush()
    ordered = [text for _, _, text in sorted(headings)]
    return [clean(b) for b in blocks], [clean(h) for h in ordered]


def read_html_text(path: Path, markup: str) -> Extracted:
    lxml_html = _need("lxml.html", path)
    if not markup.strip():
        return Extracted()
    try:
        root = lxml_html.document_fromstring(markup)
    except Exception as exc:  # lxml raises ParserError/ValueError on markup it cannot use
        raise InputError(path, f"unreadable HTML ({exc})") from None
    blocks, headings = html_blocks(root)
    out = Extracted(blocks=blocks, headings=headings)
    title = root.find(".//title")
    if title is not None and title.text_content().strip():
        out.title = clean(_SPACES.sub(" ", title.text_content())).strip()
    for meta in root.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in DATE_META and meta.get("content") and out.date is None:
            out.date = meta.get("content")
        if key == "og:url" and meta.get("content") and not out.url:
            out.url = meta.get("content")
    for link in root.iter("link"):
        if (link.get("rel") or "").lower() == "canonical" and link.get("href"):
            out.url = link.get("href")
    return out


def front_matter(text: str) -> tuple[dict[str, str], str]:
    """YAML (---) or TOML (+++) front matter: flat `key: value` / `key = value` pairs, and the rest."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    separator = ":" if match.group(1) == "---" else "="
    meta = {}
    for line in match.group(2).splitlines():
        key, sep, value = line.partition(separator)
        if sep and key.strip() and not line.startswith((" ", "\t", "-")):
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta, text[match.end():]


def read_markdown(path: Path) -> Extracted:
    markdown = _need("markdown", path)
    meta, body = front_matter(read_text(path))
    markup = markdown.markdown(body, extensions=["fenced_code", "tables", "sane_lists"])
    out = read_html_text(path, f"<html><body>{markup}</body></html>")
    out.title = clean(meta.get("title", "")).strip()
    out.date = meta.get("date") or None
    return out


def read_html(path: Path) -> Extracted:
    return read_html_text(path, read_text(path))


# -- plain text, PDF, DOCX --------------------------------------------------------------------

def text_blocks(text: str) -> list[str]:
    text = clean(text).replace("\r\n", "\n").replace("\r", "\n")
    blocks = (re.sub(r"[ \t]+\n", "\n", b).strip() for b in re.split(r"\n[ \t]*\n", text))
    return [b for b in blocks if b]


def read_txt(path: Path) -> Extracted:
    blocks = text_blocks(read_text(path))
    # A short single line at the top that is not a sentence is the title ("My trip to Lisbon").
    first = blocks[0] if blocks else ""
    is_heading = "\n" not in first and len(first) <= 100 and not first.endswith(SENTENCE_ENDS)
    headings = [first] if first and is_heading and len(blocks) > 1 else []
    return Extracted(blocks=blocks, headings=headings)


def read_pdf(path: Path) -> Extracted:
    pypdf = _need("pypdf", path)
    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise InputError(path, "encrypted PDF; save an unencrypted copy to ingest it")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except pypdf.errors.PyPdfError as exc:
        raise InputError(path, f"unreadable PDF ({exc})") from None
    blocks = [b for page in pages for b in text_blocks(page)]
    out = Extracted(blocks=blocks, headings=[blocks[0].split("\n", 1)[0]] if blocks else [])
    if info is not None:
        out.title = clean(str(info.title or "")).strip()
        raw_date = info.get("/CreationDate")
        out.date = str(raw_date) if raw_date else None
    return out


def read_docx(path: Path) -> Extracted:
    docx = _need("docx", path)
    try:
        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises PackageNotFoundError, BadZipFile, KeyError...
        raise InputError(path, f"unreadable DOCX ({type(exc).__name__}: {exc})") from None
    out = Extracted()
    headings: list[tuple[int, int, str]] = []
    for item in document.iter_inner_content():
        if hasattr(item, "rows"):  # a table: one block per row, "| a | b |"
            for row in item.rows:
                cells = [clean(cell.text).strip() for cell in row.cells]
                if any(cells):
                    out.blocks.append("| " + " | ".join(cells) + " |")
            continue
        text = clean(item.text).strip()
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        if style == "Title" and not out.title:
            out.title = text
        elif style.startswith("Heading"):
            level = int(style.split()[-1]) if style.split()[-1].isdigit() else 9
            headings.append((level, len(headings), text))
        elif "List" in style:
            text = "- " + text
        out.blocks.append(text)
    out.headings = [text for _, _, text in sorted(headings)]
    properties = document.core_properties
    out.title = out.title or clean(properties.title or "").strip()
    out.date = properties.created
    return out


READERS: dict[str, Callable[[Path], Extracted]] = {
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".html": read_html,
    ".htm": read_html,
    ".txt": read_txt,
    ".pdf": read_pdf,
    ".docx": read_docx,
}


# -- dates ------------------------------------------------------------------------------------

def pdf_date(value: str) -> datetime | None:
    """PDF date strings: D:YYYYMMDDHHmmSS+HH'mm' (every part after the year optional)."""
    match = _PDF_DATE.match(value.strip())
    if not match:
        return None
    y, mo, d, h, mi, s, zone = match.groups()
    try:
        moment = datetime(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError:
        return None
    if zone is None:
        return moment
    if zone == "Z":
        return moment.replace(tzinfo=timezone.utc)
    digits = zone.replace("'", "")
    offset = timedelta(hours=int(digits[1:3]), minutes=int(digits[3:5] or 0))
    return moment.replace(tzinfo=timezone(offset if digits[0] == "+" else -offset))


def to_date(value: datetime | date | str | None, ctx: ParseContext) -> datetime | None:
    """An aware datetime, or None when there is no date or it cannot be read (warned)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        text = value.strip()
        moment = pdf_date(text) if text.startswith("D:") else None
        if moment is None:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                moment = parse_local(text)
        if moment is None:
            ctx.warn(f"date {text!r} not understood; the document is stored without a date")
            return None
    return moment if moment.tzinfo is not None else ctx.local(moment)


def name_date(name: str) -> datetime | None:
    match = _NAME_DATE.match(name)
    if not match:
        return None
    try:
        return datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def title_from_name(name: str) -> str:
    stem = Path(name).stem
    stem = _NAME_DATE.sub("", stem) or stem
    return re.sub(r"[-_]+", " ", stem).strip() or stem


def join_blocks(blocks: list[str]) -> str:
    """Paragraphs joined with blank lines; runs of list items or table rows stay one per line."""
    parts: list[str] = []
    for i, block in enumerate(blocks):
        if i:
            previous = blocks[i - 1]
            same_run = (block.startswith("- ") and previous.startswith("- ")) or (
                block.startswith("| ") and previous.startswith("| ")
            )
            parts.append("\n" if same_run else "\n\n")
        parts.append(block)
    return "".join(parts).strip()


class Documents(Parser):
    name = "documents"
    description = "Articles: Markdown, HTML, TXT, PDF, DOCX (one document per file; the lowest detection score, so any chat format wins)"

    @classmethod
    def detect(cls, path: Path, head: str) -> float:
        return FALLBACK if path.suffix.lower() in EXTENSIONS else 0.0  # any file of the type: lowest

    def parse(self, path: Path, ctx: ParseContext) -> Iterator[Record]:
        reader = READERS.get(path.suffix.lower())
        if reader is None:
            raise InputError(path, f"not a document type: use one of {', '.join(sorted(EXTENSIONS))}")
        extracted = reader(path)
        title = extracted.title or (extracted.headings[0] if extracted.headings else "") or title_from_name(path.name)
        blocks = list(extracted.blocks)
        if blocks and blocks[0] == title:  # the heading is kept as the title, not repeated in the text
            blocks.pop(0)
        text = join_blocks(blocks)
        if not text:
            ctx.skip("document without text (a scanned PDF needs OCR first)" if path.suffix.lower() == ".pdf" else "empty document")
            return
        name_moment = name_date(path.name)
        moment = to_date(extracted.date, ctx) or (ctx.local(name_moment) if name_moment else None)
        yield Document(
            source="doc",
            source_id=f"doc:{path.name}",
            kind=DocumentKind.ARTICLE,
            title=title,
            text=text,
            date=moment,
            url=extracted.url,
        )
