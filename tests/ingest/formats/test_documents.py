"""Articles: Markdown with front matter, HTML, TXT, and a real PDF and DOCX made in the test."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from twin.errors import InputError
from twin.records import DocumentKind
from twin.ingest import registry
from twin.ingest.formats.documents import pdf_date
from tests.ingest.formats.run_parser import run_parser

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ingest" / "documents"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def write_pdf(path: Path, pages: list[list[str]], info: dict[str, str]) -> Path:
    """A small valid PDF (Helvetica text, one line per string) with a correct xref table."""
    count = len(pages)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(count))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode())
    font = 3 + 2 * count
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 12 Tf", "72 720 Td"]
        for j, line in enumerate(lines):
            ops.append(("0 -28 Td " if j else "") + "(" + line.replace("(", r"\(").replace(")", r"\)") + ") Tj")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects.append(("<< " + " ".join(f"/{k} ({v})" for k, v in info.items()) + " >>").encode("latin-1"))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, len(objects), xref)
    path.write_bytes(bytes(out))
    return path


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_paragraph("Quarterly letter", style="Title")
    document.add_paragraph("Dear friends, this quarter we moved to Hangzhou 🏙️.")
    document.add_heading("Plans", level=1)
    document.add_paragraph("Finish the book", style="List Bullet")
    document.add_paragraph("Run a half marathon", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate([("Month", "Goal"), ("June", "Book")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.core_properties.created = datetime(2024, 6, 30, 12, 0, tzinfo=timezone.utc)
    document.save(path)
    return path


def test_markdown_front_matter_title_date_and_clean_text():
    fmt, docs, _ = run_parser(FIXTURES / "2024-05-01-lisbon-trip.md", tz="Asia/Shanghai")
    assert fmt == "documents" and len(docs) == 1
    doc = docs[0]
    assert (doc.source_id, doc.kind, doc.source) == ("doc:2024-05-01-lisbon-trip.md", DocumentKind.ARTICLE, "doc")
    assert doc.title == "Three days in Lisbon"
    assert doc.date == datetime(2024, 5, 1, 18, 30, tzinfo=SHANGHAI)  # no offset: the source timezone
    assert doc.text == (
        "We took the 28 tram up to Alfama on the first morning. It was packed, slow and wonderful 🚋.\n\n"
        "What we ate\n\n"
        "- Pastéis de nata at Manteigaria\n- Grilled sardines near the river\n\n"
        "The second day it rained, so we stayed in and read."
    )


def test_html_title_meta_date_canonical_url_and_no_chrome():
    _, docs, _ = run_parser(FIXTURES / "hiring-notes.html")
    doc = docs[0]
    assert doc.title == "Notes on hiring engineers"
    assert doc.date == datetime(2023, 11, 20, 8, 0, tzinfo=timezone(timedelta(hours=1)))
    assert doc.url == "https://example.org/blog/hiring-notes"
    assert doc.text == (
        "I read every cover letter myself.\nIt takes a weekend & it is worth it.\n\n"
        "Two questions matter: can they explain a trade-off, and do they ask good questions?\n\n"
        "| Stage | Days |\n| Screen | 2 |"
    )
    assert "Home" not in doc.text and "console.log" not in doc.text and "©" not in doc.text


def test_txt_first_line_title_invisible_marks_removed():
    _, docs, _ = run_parser(FIXTURES / "weekend.txt")
    doc = docs[0]
    assert doc.title == "杭州周末" and doc.date is None
    assert doc.text == "周六去了西湖，骑车绕了一圈，风很大。\n晚上吃了片儿川。\n\n周日在家写代码。"


def test_date_in_file_name_when_the_file_has_none(tmp_path):
    note = tmp_path / "2023-12-24_christmas-eve.txt"
    note.write_text("Snow all day. We baked cookies.\n", encoding="utf-8")
    _, docs, _ = run_parser(note, tz="Asia/Shanghai")
    assert docs[0].date == datetime(2023, 12, 24, tzinfo=SHANGHAI)
    assert docs[0].title == "christmas eve"  # no heading: the file name without its date


def test_pdf_text_title_and_creation_date(tmp_path):
    pdf = write_pdf(
        tmp_path / "field-notes.pdf",
        [["Field notes from the coast", "The tide came in at noon."], ["Second page: we left early."]],
        {"Title": "Field notes", "CreationDate": "D:20240501093000+02'00'"},
    )
    fmt, docs, _ = run_parser(pdf)
    assert fmt == "documents"
    doc = docs[0]
    assert doc.title == "Field notes"
    assert doc.date == datetime(2024, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert "The tide came in at noon." in doc.text and "Second page: we left early." in doc.text
    assert doc.text.index("tide") < doc.text.index("Second page")


def test_pdf_date_forms():
    assert pdf_date("D:2024") == datetime(2024, 1, 1)
    assert pdf_date("D:20240501093000Z") == datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)
    assert pdf_date("D:20240501093000-05'30'").utcoffset() == -timedelta(hours=5, minutes=30)
    assert pdf_date("May 2024") is None


def test_docx_title_style_lists_tables_and_created_date(tmp_path):
    fmt, docs, _ = run_parser(write_docx(tmp_path / "letter.docx"))
    assert fmt == "documents"
    doc = docs[0]
    assert doc.title == "Quarterly letter"
    assert doc.date == datetime(2024, 6, 30, 12, 0, tzinfo=timezone.utc)
    assert doc.text == (
        "Dear friends, this quarter we moved to Hangzhou 🏙️.\n\nPlans\n\n"
        "- Finish the book\n- Run a half marathon\n\n| Month | Goal |\n| June | Book |"
    )


def test_empty_document_is_skipped_not_stored(tmp_path):
    empty = tmp_path / "blank.md"
    empty.write_text("---\ntitle: Draft\n---\n\n", encoding="utf-8")
    _, docs, ctx = run_parser(empty)
    assert docs == [] and ctx.skipped == {"empty document": 1}


def test_corrupt_pdf_and_docx_name_the_file(tmp_path):
    for name in ("broken.pdf", "broken.docx"):
        bad = tmp_path / name
        bad.write_bytes(b"%PDF-1.4\n this is not really a pdf" if name.endswith("pdf") else b"PK\x03\x04 not a zip")
        with pytest.raises(InputError) as err:
            run_parser(bad)
        assert err.value.path == str(bad) and "unreadable" in err.value.reason


def test_detection_is_by_extension_only(tmp_path):
    from twin.ingest.formats.documents import Documents

    assert Documents.detect(Path("a.MD"), "") and Documents.detect(Path("b.htm"), "")
    assert not Documents.detect(Path("c.csv"), "Date,ShareLink,ShareCommentary")
    # documents accept any .txt/.md: they score lowest, so a chat export of the same type wins
    assert 0 < Documents.detect(Path("a.txt"), "") < min(
        registry.get_parser(name).detect(Path("a.txt"), "") or 1 for name in registry.formats() if name != "documents")
