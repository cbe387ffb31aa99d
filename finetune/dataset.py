"""The style dataset: corpus -> SFT samples -> train / validation / holdout files.

`build_dataset(cfg, name)` reads the corpus (`paths.corpus`) and writes
`<paths.datasets>/<name>/`:

    train.jsonl, validation.jsonl, holdout.jsonl   one sample per line (the format below)
    openai/<split>.jsonl                           {"messages": [...]} only (OpenAI fine-tuning format)
    sharegpt/<split>.jsonl + dataset_info.json     ShareGPT rows and the LLaMA-Factory entries for them
    manifest.json                                  corpus hash, config, filter counts, split sizes, token stats

One line of train/validation/holdout.jsonl (holdout is what the style evaluation reads):

    {"id": "<uuid5>",
     "messages": [{"role": "system", "content": <persona prompt>},
                  {"role": "user", "content": "..."}, {"role": "assistant", "content": <owner's words>},
                  ...],                       # user/assistant alternate; the last one is the owner's
     "kind": "chat" | "post",                 # post: a post or article as an instruction sample
     "conversation_id": "wechat:...",         # the chat (or the document's source id for posts)
     "session_id": "<uuid5>",                 # every window of a session lands in the same split
     "window": 0,                             # index of the window inside its session
     "chat_kind": "private" | "group"         # chats only; posts carry "doc_kind": "post" | "article"
    }

Pipeline, every drop counted in the manifest's `filters`: messages that are not text
(`non_text`, `empty`), system notices and recalls (`system_or_recalled`), messages holding a PII
placeholder from the ingest scrubber (`pii_placeholder`) or a blocked word (`blocked_word`);
then sessions (finetune.sessions), samples and windows (finetune.samples), samples whose owner
turns are all shorter than `min_owner_chars` (`short_owner`), near-duplicates
(`near_duplicate`, finetune.dedupe). Emoji codes like [旺柴] are ordinary text and stay.
The split hashes the session id with `dataset.seed`, so it is deterministic and a session (with
all its windows) is in exactly one split; when a split with a non-zero share would be empty and
train has sessions to spare, the train session with the highest hash moves there.

The folder is written under a temporary name and swapped in at the end, so a failed build never
leaves half a dataset and an earlier one survives it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from twin.config import TwinConfig
from twin.errors import InputError, StoreError
from twin.manifest import library_versions, read_manifest, write_manifest
from twin.prompt import system_prompt
from twin.finetune.dedupe import NearDuplicates
from twin.finetune.samples import TokenCounter, Sample, approx_tokens, document_sample, session_samples
from twin.finetune.sessions import MessageFilter, build_sessions

SPLITS = ("train", "validation", "holdout")
APPROX_TOKENIZER = "approx"


@dataclass
class DatasetReport:
    folder: Path
    corpus_hash: str
    tokenizer: str
    filters: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)  # sessions, chat/post samples before the split
    splits: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, dict] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "corpus_hash": self.corpus_hash, "tokenizer": self.tokenizer, "filters": dict(self.filters),
            "counts": dict(self.counts), "splits": self.splits, "tokens": self.tokens,
        }


def make_token_counter(cfg: TwinConfig, tokenizer: str | None = None) -> tuple[str, TokenCounter]:
    """(name, counter). None means the training base model's tokenizer; "approx" needs no model."""
    spec = tokenizer or cfg.dataset.tokenizer
    if spec == APPROX_TOKENIZER:
        return APPROX_TOKENIZER, approx_tokens
    from twin.models import load_tokenizer, resolve_base_model

    if spec is None:
        ref = resolve_base_model(cfg.train.base_model, cfg.train.gguf_file, cfg.train.revision)
    else:
        ref = resolve_base_model(spec)
    loaded = load_tokenizer(ref)

    def count(text: str) -> int:
        return len(loaded(text, add_special_tokens=False)["input_ids"])

    return ref.spec if not ref.gguf_file else f"{ref.spec} ({ref.gguf_file})", count


def split_of(session_id: str, fractions: tuple[float, float, float], seed: int) -> str:
    digest = hashlib.sha256(f"{seed}:{session_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = 0.0
    for name, share in zip(SPLITS, fractions):
        cumulative += share
        if point < cumulative:
            return name
    return SPLITS[-1]


def assign_splits(samples: list[Sample], fractions: tuple[float, float, float], seed: int) -> dict[str, list[Sample]]:
    by_session = {s.session_id: split_of(s.session_id, fractions, seed) for s in samples}
    for target, share in zip(SPLITS[1:], fractions[1:]):
        if share <= 0 or target in by_session.values():
            continue
        train_sessions = sorted(
            (sid for sid, split in by_session.items() if split == "train"),
            key=lambda sid: hashlib.sha256(f"{seed}:{sid}".encode()).digest(),
        )
        if len(train_sessions) > 1:
            by_session[train_sessions[-1]] = target
    out: dict[str, list[Sample]] = {name: [] for name in SPLITS}
    for sample in samples:
        out[by_session[sample.session_id]].append(sample)
    return out


def token_stats(samples: list[Sample], count: TokenCounter) -> dict:
    """Content tokens (4 per message added for the template) and the owner's share of them."""
    if not samples:
        return {"samples": 0, "tokens": 0, "owner_tokens": 0}
    totals, owner = [], 0
    for sample in samples:
        costs = [(m["role"], count(m["content"]) + 4) for m in sample.messages]
        totals.append(sum(c for _, c in costs))
        owner += sum(c for role, c in costs if role == "assistant")
    ordered = sorted(totals)
    return {
        "samples": len(samples), "tokens": sum(totals), "owner_tokens": owner,
        "mean": round(statistics.fmean(totals), 1), "p50": ordered[len(ordered) // 2],
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], "max": ordered[-1],
    }


def build_samples(
    messages: Iterable, documents: Iterable, cfg: TwinConfig, count: TokenCounter,
    report: DatasetReport, on_session: Callable[[], None] | None = None,
) -> list[Sample]:
    d = cfg.dataset
    system = system_prompt(cfg.persona)
    keep = MessageFilter(d.blocked_words)
    stats: Counter = Counter()
    samples: list[Sample] = []
    for session in build_sessions(messages, cfg.sessions.gap_minutes, d.joiner, keep):
        report.counts["sessions"] += 1
        samples.extend(session_samples(
            session, system, budget=d.max_tokens, overlap=d.window_overlap_turns,
            group_context_turns=d.group_context_turns, joiner=d.joiner, count=count, stats=stats,
        ))
        if on_session:
            on_session()
    if d.include_documents:
        for document in documents:
            report.counts["documents"] += 1
            sample = document_sample(document, system, budget=d.max_tokens, count=count, keep=keep, stats=stats)
            if sample is not None:
                samples.append(sample)
    report.counts["samples_before_filters"] = len(samples)

    kept: list[Sample] = []
    duplicates = NearDuplicates(d.dedupe_threshold)
    for sample in samples:
        if all(len(text.strip()) < d.min_owner_chars for text in sample.owner_texts()):
            stats["short_owner"] += 1
            continue
        body = "\n".join(m["content"] for m in sample.messages[1:])
        if duplicates.seen(body):
            stats["near_duplicate"] += 1
            continue
        kept.append(sample)
    report.filters.update(keep.dropped)
    report.filters.update(stats)
    report.counts.update(Counter(f"{s.kind}_samples" for s in kept))
    return kept


def build_dataset(
    cfg: TwinConfig, name: str = "style", *, tokenizer: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> DatasetReport:
    """Build `<paths.datasets>/<name>/` from the corpus; returns what happened, for the stats table."""
    from twin.corpus import CorpusStore

    if not name or "/" in name or name.startswith("."):
        raise InputError(name, "dataset name must be a plain folder name", field="--name")
    tokenizer_name, count = make_token_counter(cfg, tokenizer)
    with CorpusStore.open_existing(cfg.path("corpus")) as store:
        corpus_hash = store.content_hash()
        conversations = store.conversations()
        folder = cfg.path("datasets") / name
        report = DatasetReport(folder=folder, corpus_hash=corpus_hash, tokenizer=tokenizer_name)
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            if on_progress:
                on_progress(done, 0)

        if on_progress:
            on_progress(0, len(conversations))
        samples = build_samples(store.messages(), store.documents(), cfg, count, report, tick)
    if not samples:
        raise StoreError(
            f"{cfg.path('corpus')}: no training samples: the corpus has no text turns by the owner "
            f"answering someone (is [owner] set right? filters: {dict(report.filters)})"
        )
    splits = assign_splits(samples, cfg.dataset.split, cfg.dataset.seed)
    report.splits = {k: len(v) for k, v in splits.items()}
    report.tokens = {k: token_stats(v, count) for k, v in splits.items()}
    _write_folder(folder, splits, cfg, report)
    return report


def _write_folder(folder: Path, splits: dict[str, list[Sample]], cfg: TwinConfig, report: DatasetReport) -> None:
    from twin.finetune.export import write_exports

    partial = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        for split, samples in splits.items():
            _write_jsonl(partial / f"{split}.jsonl", (s.to_json() for s in samples))
        write_exports(partial, folder.name, splits, _write_jsonl)
        write_manifest(partial, {
            "kind": "twin-dataset", "name": folder.name, "format_version": 1,
            "system_prompt": system_prompt(cfg.persona), "config": cfg.dataset.model_dump(mode="json"),
            **report.to_json(), "libraries": library_versions("transformers", "tokenizers"),
        })
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        if folder.exists():
            os.replace(folder, old)
        os.replace(partial, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def dataset_folder(cfg: TwinConfig, name_or_path: str | Path) -> Path:
    """A dataset by name (under paths.datasets) or by path; must have a manifest."""
    path = Path(name_or_path)
    folder = path if path.is_dir() else cfg.path("datasets") / str(name_or_path)
    if not folder.is_dir():
        raise StoreError(f"{folder}: no such dataset; run `twin dataset build` first")
    read_manifest(folder)
    return folder


def read_split(folder: Path, split: str) -> list[dict]:
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        raise StoreError(f"{path}: missing from the dataset folder")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(path, f"not JSON ({exc.msg})", line=number) from None
            if not isinstance(row.get("messages"), list) or not row["messages"]:
                raise InputError(path, "no messages", line=number, field="messages")
            rows.append(row)
    return rows


def load_split(folder: Path, split: str):
    """A `datasets.Dataset` of one split, the form the trainer consumes."""
    from datasets import Dataset

    rows = read_split(folder, split)
    return Dataset.from_list([{"messages": r["messages"], "kind": r.get("kind", "chat")} for r in rows])
