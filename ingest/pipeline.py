"""Ingest files into the corpus: detect -> parse -> scrub PII -> store, one transaction per file."""

from __future__ import annotations

import dataclasses
import marshal
import multiprocessing as mp
import pickle
import queue
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from twin.config import TwinConfig
from twin.errors import InputError, StoreError, TwinError
from twin.manifest import file_sha256
from twin.records import Message
from twin.ingest import registry
from twin.ingest.base import ParseContext, Parser
from twin.ingest.owner import OwnerResolver
from twin.ingest.pii import Scrubber, load_key
from twin.corpus import CorpusStore, document_row, message_row

BATCH = 5000


@dataclass
class FileReport:
    path: Path
    format: str = "-"
    messages: int = 0  # parsed
    documents: int = 0
    new: int = 0  # of those, not already in the corpus
    skipped: Counter = field(default_factory=Counter)
    pii: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def ingest_paths(
    paths: list[Path],
    config: TwinConfig,
    store: CorpusStore,
    *,
    fmt: str | None = None,
    on_progress: Callable[[Path, int], None] | None = None,
) -> list[FileReport]:
    """Ingest every input; a bad file is reported and rolled back, the others still go in."""
    owner = OwnerResolver(config.owner)
    # The pseudonym key lives beside the corpus, so a corpus keeps one pseudonym per person.
    key = load_key(Path(store.path).parent) if config.ingest.pii.enabled else b""
    reports = []
    for path in registry.expand(paths):
        if isinstance(path, registry.NotFollowed):
            reports.append(FileReport(path.path, skipped=Counter({path.reason: 1}), warnings=[path.detail]))
            continue
        report = FileReport(path)
        try:
            if not path.exists():
                raise InputError(path, "no such file or folder")
            parser_cls = registry.get_parser(fmt) if fmt else registry.detect(path)
            report.format = parser_cls.name
            _ingest_one(path, parser_cls(), config, store, owner, key, report, on_progress)
        except TwinError as exc:
            report.error = str(exc)
        except RecursionError:  # a parser walking a value nested deeper than the stack allows
            report.error = str(InputError(path, "nested too deeply to read (a hostile or broken file?)"))
        except sqlite3.Error:
            raise  # the corpus itself failed: every later file would too
        except Exception as exc:  # noqa: BLE001 - one file's failure must not abort the others:
            # it is reported in the summary with its type (and the file rolled back), not swallowed.
            report.error = f"{path}: unexpected {type(exc).__name__} while reading it: {exc} (please report this)"
        reports.append(report)
    return reports


@dataclass
class _Parsed:
    """What parsing a file yields besides its rows (sent back from the worker process)."""

    messages: int = 0
    documents: int = 0
    owners_seen: dict[str, bool] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    pii: Counter = field(default_factory=Counter)


def _ingest_one(path, parser: Parser, config, store, owner, key: bytes, report: FileReport, on_progress) -> None:
    parsed = _Parsed()
    batches = _row_batches_in_worker if _worth_a_worker(path) else _row_batches
    # Message rows are scrubbed here, on the storing side, not in the parse worker: with a worker
    # the two processes then do about equal work per message (parse vs scrub + id + insert).
    row_pii: Counter = Counter()
    scrubber = Scrubber(config.ingest.pii, counts=row_pii, key=key) if config.ingest.pii.enabled else None
    scrub_rows = MessageRowScrubber(scrubber) if scrubber else None
    with store.transaction():  # all of the file or none of it
        for message_rows, document_rows in batches(path, parser, config, owner, key, parsed):
            report.new += store.add_message_rows(message_rows, scrub_rows) + store.add_document_rows(document_rows)
            if on_progress:
                on_progress(path, parsed.messages + parsed.documents)
        if parsed.messages + parsed.documents == 0 and not parsed.skipped:
            raise InputError(path, "no messages or documents found")
        # File names carry chat names ("WhatsApp Chat with +86 139 ..."): scrubbed like them.
        stored_path = Scrubber(config.ingest.pii, key=key).identity(str(path)) if key else str(path)
        store.record_file(stored_path, file_sha256(path) if path.is_file() else "-", parser.name, parsed.messages, parsed.documents)
    report.messages, report.documents = parsed.messages, parsed.documents
    report.skipped, report.pii, report.warnings = parsed.skipped, parsed.pii + row_pii, parsed.warnings
    for conversation, seen in parsed.owners_seen.items():
        if not seen:  # named as stored, so a warning shows no phone number either
            shown = scrubber.identity(conversation) if scrubber else conversation
            report.warnings.append(f"{shown}: none of these messages is the owner's; set [owner] ids/names in twin.toml")


class MessageRowScrubber:
    """PII out of a batch of `twin.corpus.message_row` rows: the text gets placeholders; chat and
    sender ids and names, and message ids, get keyed pseudonyms (an unsaved contact's phone number
    is their id and name: see twin.ingest.pii)."""

    def __init__(self, scrubber: Scrubber):
        self.scrubber = scrubber
        # A chat has a few (chat, sender) pairs repeated on every message: each is scrubbed once.
        self._names: dict[tuple[str, str, str, str], tuple[str, str, str, str]] = {}

    def __call__(self, rows: Iterable[tuple]) -> list[tuple]:
        text, message_id, identity, scrubbed_names = (
            self.scrubber, self.scrubber.message_id, self.scrubber.identity, self._names)
        out = []
        for (source, source_id, chat_id, chat_name, chat_kind, sender_id, sender_name, is_owner, ts, time, body,
             kind, reply_to) in rows:
            who = (chat_id, chat_name, sender_id, sender_name)
            names = scrubbed_names.get(who)
            if names is None:
                names = scrubbed_names[who] = (identity(chat_id), identity(chat_name), identity(sender_id),
                                               identity(sender_name))
            out.append((source, message_id(source_id), names[0], names[1], chat_kind, names[2], names[3], is_owner, ts,
                        time, text(body), kind, message_id(reply_to)))
        return out


def _row_batches(path: Path, parser: Parser, config, owner, key: bytes, parsed: _Parsed) -> Iterator[tuple[list, list]]:
    """Parse and turn records into store rows, a batch at a time. Document text is scrubbed here;
    message rows are scrubbed on the storing side (`MessageRowScrubber`)."""
    ctx = ParseContext(path=path, tz=config.ingest.tz, owner=owner, date_order=config.ingest.date_order,
                       skipped=parsed.skipped, warnings=parsed.warnings)
    scrub = Scrubber(config.ingest.pii, counts=parsed.pii, key=key)
    owners_seen = parsed.owners_seen
    messages: list[tuple] = []
    documents: list[tuple] = []
    for record in parser.parse(path, ctx):
        if type(record) is Message:
            messages.append(message_row(record))
            if record.is_owner or record.conversation_id not in owners_seen:
                owners_seen[record.conversation_id] = record.is_owner or owners_seen.get(record.conversation_id, False)
        else:
            record = dataclasses.replace(record, text=scrub(record.text), title=scrub(record.title))
            documents.append(document_row(record))
        if len(messages) + len(documents) >= BATCH:
            parsed.messages += len(messages)
            parsed.documents += len(documents)
            yield messages, documents
            messages, documents = [], []
    parsed.messages += len(messages)
    parsed.documents += len(documents)
    yield messages, documents


# A big file is parsed in a second process while this one writes to SQLite: parsing and
# storing each take about half the time per message, so two cores nearly double throughput.
WORKER_MIN_BYTES = 4 << 20


def _worth_a_worker(path: Path) -> bool:
    return path.is_file() and path.stat().st_size >= WORKER_MIN_BYTES and "fork" in mp.get_all_start_methods()


def _row_batches_in_worker(path: Path, parser: Parser, config, owner, key: bytes, parsed: _Parsed) -> Iterator[tuple[list, list]]:
    receiver, sender = mp.Pipe(duplex=False)
    worker = mp.get_context("fork").Process(
        target=_parse_worker, args=(sender, path, parser, config, owner, key), name=f"twin-parse-{path.name}", daemon=True
    )
    worker.start()
    sender.close()
    try:
        while True:
            try:
                data = receiver.recv_bytes()
            except EOFError:
                raise StoreError(f"{path}: the parsing process died (exit code {worker.exitcode})") from None
            kind, payload = ("rows", marshal.loads(data[1:])) if data[:1] == _MARSHALLED else pickle.loads(data[1:])
            if kind == "rows":
                yield payload
            elif kind == "error":
                raise payload
            else:
                done: _Parsed = payload
                vars(parsed).update(vars(done))
                return
    finally:
        receiver.close()
        worker.join(timeout=5)
        if worker.is_alive():
            worker.terminate()


# Row batches are plain tuples of str/int/float/None, which marshal packs ~3x faster than pickle;
# anything else (a plugin's str subclass, the final report, an error) goes pickled.
_MARSHALLED, _PICKLED = b"m", b"p"


def _packed(kind: str, payload) -> bytes:
    if kind == "rows":
        try:
            return _MARSHALLED + marshal.dumps(payload)
        except ValueError:  # unmarshallable object
            pass
    return _PICKLED + pickle.dumps((kind, payload), pickle.HIGHEST_PROTOCOL)


# Batches the worker may parse ahead of the storing process. A pipe holds 64 KB and a batch is
# ~600 KB, so without a sending thread the parser would wait for every batch to be read.
AHEAD = 4


def _parse_worker(sender, path: Path, parser: Parser, config, owner, key: bytes) -> None:
    outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=AHEAD)

    def send_all() -> None:  # writes release the GIL: parsing goes on meanwhile
        while (data := outbox.get()) is not None:
            sender.send_bytes(data)

    mailer = threading.Thread(target=send_all, name="twin-parse-sender", daemon=True)
    mailer.start()
    parsed = _Parsed()
    try:
        for batch in _row_batches(path, parser, config, owner, key, parsed):
            outbox.put(_packed("rows", batch))
        outbox.put(_packed("done", parsed))
    except BaseException as exc:  # handed to the parent, which raises it: nothing is swallowed
        try:
            outbox.put(_packed("error", exc))
        except Exception:  # the exception itself does not pickle: send its text instead
            outbox.put(_packed("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        outbox.put(None)
        mailer.join()
        sender.close()
