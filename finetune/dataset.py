"""The style dataset: corpus -> SFT samples -> train / validation / holdout files.

`build_dataset(cfg, name)` reads the corpus (`paths.corpus`) and writes
`<paths.datasets>/<name>/`:

    train.jsonl, validation.jsonl, holdout.jsonl   one sample per line (the format below)
    openai/<split>.jsonl                           {"messages": [...]} only (OpenAI fine-tuning format)
    sharegpt/<split>.jsonl + dataset_info.json     ShareGPT rows and the LLaMA-Factory entries for them
    manifest.json                                  corpus hash, config, filter counts, split sizes, token stats

One line of train/validation/holdout.jsonl (holdout is what the style evaluation reads):

    {"id": "<uuid5>",
     "messages": [{"role": "system", "content": <persona prompt + "Today is <session date>." [+ memories]>},
                  {"role": "user", "content": "..."}, {"role": "assistant", "content": <owner's words>},
                  ...],                       # user/assistant alternate; the last one is the owner's
     "kind": "chat" | "post",                 # post: a post or article as an instruction sample
     "conversation_id": "wechat:...",         # the chat (or the document's source id for posts)
     "session_id": "<uuid5>",                 # every window of a session lands in the same split
     "window": 0,                             # index of the window inside its session
     "chat_kind": "private" | "group",        # chats only; posts carry "doc_kind": "post" | "article"
     "memory": {"mode": "grounded" | "distractor", "ids": [<memory ids quoted>],
                "before": <session start: every quoted memory ends before it>}   # memory samples only
    }

What a sample holds, and why (finetune.sessions, finetune.samples, finetune.grounding):
- the owner's openers, with a context cue as the user turn (`[与 妈妈 的对话 · 2024-10-12 周六
  19:40 · 上次聊天 3 天前]`), because that is where people announce their news;
- messages with a PII placeholder, kept with it (`dataset.pii_messages`), and non-text messages as
  typed placeholders (`[图片]`, `[链接: title]`), so the talk around them keeps its order and a
  reply to a photo stays paired with the photo;
- turns that follow the exchange: a sender's messages merge within `dataset.merge_minutes`; a
  reply more than `dataset.exchange_minutes` after the message before it opens a new exchange;
- the session's date in the system message, stated as the service states today's date;
- for `dataset.memory_share` of the samples, memories from the twin's store that end before the
  session begins, rendered by the service's own prompt code (some only distractors).

Pipeline, every drop counted in the manifest's `filters`: system notices and recalls
(`system_or_recalled`), empty texts (`empty`), messages holding a blocked word (`blocked_word`) or,
with `pii_messages = "drop"`, a PII placeholder (`pii_placeholder`), non-text messages with
`media = "drop"` (`non_text`); owner-less tails (`unanswered_turns`), windows over budget
(`too_long`), samples whose owner turns are all shorter than `min_owner_chars` (`short_owner`),
near-duplicates (`near_duplicate`, finetune.dedupe). What was kept is under `counts`
(`openers_kept`, `media_placeholders`, `pii_messages_kept`, `pairs`, `cross_exchange_pairs`,
`late_replies_opened`), `memory` (store, retrieval settings, samples by mode, leak check) and
`coverage` (the owner's distinctive messages that reach an assistant turn).

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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from twin.config import TwinConfig
from twin.errors import InputError, StoreError
from twin.manifest import library_versions, read_manifest, write_manifest
from twin.private import private_dir, private_tree, touch_private
from twin.prompt import system_prompt
from twin.records import Message, MessageKind, stable_id
from twin.finetune.dedupe import NearDuplicates
from twin.finetune.grounding import Grounding, Retriever, leak_check
from twin.finetune.samples import TokenCounter, Sample, approx_tokens, document_sample, session_samples
from twin.finetune.sessions import MessageFilter, build_sessions

SPLITS = ("train", "validation", "holdout")
APPROX_TOKENIZER = "approx"
DISTINCTIVE_CHARS = 12
# What the build kept rather than dropped; reported under counts, not filters.
STAT_KEYS = ("openers_kept", "media_placeholders", "pii_messages_kept", "late_replies_opened", "pairs",
             "cross_exchange_pairs", "pairs_reply_over_5min", "memory_skipped_no_room")


@dataclass
class DatasetReport:
    folder: Path
    corpus_hash: str
    tokenizer: str
    filters: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)  # sessions, chat/post samples before the split
    splits: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, dict] = field(default_factory=dict)
    memory: Counter = field(default_factory=Counter)  # memory_<mode>_<kind>_samples
    memory_store: dict | None = None  # what was retrieved from, or why nothing was
    leak_check: dict = field(default_factory=dict)
    coverage: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "corpus_hash": self.corpus_hash, "tokenizer": self.tokenizer, "filters": dict(self.filters),
            "counts": dict(self.counts), "splits": self.splits, "tokens": self.tokens,
            "memory": {"store": self.memory_store, "samples": dict(self.memory), "leak_check": self.leak_check},
            "coverage": self.coverage,
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


class OwnerTexts:
    """Counts the owner's text messages as they stream past, to measure how many of the
    distinctive ones (written once, at least DISTINCTIVE_CHARS long) reach an assistant turn."""

    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.ids: dict[str, str] = {}

    def watch(self, messages: Iterable[Message]) -> Iterator[Message]:
        for message in messages:
            if message.is_owner and message.kind is MessageKind.TEXT:
                text = message.text.strip()
                self.counts[text] += 1
                self.ids[text] = message.source_id
            yield message

    def coverage(self, samples: Iterable[Sample]) -> dict:
        distinctive = {self.ids[t] for t, n in self.counts.items() if n == 1 and len(t) >= DISTINCTIVE_CHARS}
        reached = distinctive & {sid for s in samples for sid in s.owner_ids}
        return {"distinctive_owner_messages": len(distinctive), "reached_assistant_turn": len(reached),
                "share": round(len(reached) / len(distinctive), 4) if distinctive else None}


def sample_memory_budget(cfg: TwinConfig, tokens_per_memory: float | None = None):
    """The service's memory budget (twin.budget) for a model whose window is a sample's length,
    over a store whose memories average `tokens_per_memory` (the service sizes top_k by it)."""
    from twin.budget import memory_budget

    return memory_budget(cfg, cfg.dataset.max_tokens, "dataset.max_tokens", tokens_per_memory)


def with_room_for_memories(make, reserve: int, stats: Counter, losses: tuple[str, ...]) -> list[Sample]:
    """`make(reserve)` -> (samples, stats). When keeping `reserve` tokens free for a memory block
    would lose words (an exchange over budget, a cut post), the samples are made without the room
    and stay plain: the owner's words matter more than the memories beside them."""
    made, local = make(reserve)
    if reserve and any(local[key] for key in losses):
        made, local = make(0)
        for sample in made:
            sample.memory_room = False
        stats["memory_skipped_no_room"] += len(made)
    stats.update(local)
    return made


def build_samples(
    messages: Iterable, documents: Iterable, cfg: TwinConfig, count: TokenCounter,
    report: DatasetReport, on_session: Callable[[], None] | None = None, retriever: Retriever | None = None,
) -> list[Sample]:
    d = cfg.dataset
    budget = sample_memory_budget(cfg, retriever.tokens_per_memory() if retriever is not None else None)
    grounding = Grounding(
        persona=cfg.persona, count=count, max_tokens=d.max_tokens, memory_tokens=budget.memory_tokens,
        top_k=budget.top_k, share=d.memory_share, distractor_share=d.distractor_share, seed=d.seed,
        retriever=retriever,
    )
    keep = MessageFilter(d.blocked_words, pii=d.pii_messages, labels=d.placeholder_labels, media=d.media)
    owner = OwnerTexts()
    stats: Counter = Counter()
    samples: list[Sample] = []
    for session in build_sessions(owner.watch(messages), cfg.sessions.gap_minutes, d.joiner, keep, d.merge_minutes):
        report.counts["sessions"] += 1
        plain, _ = grounding.system([], "", session.start.date() if session.start else None, writer=False)

        def cut(reserve: int, session=session, plain=plain) -> tuple[list[Sample], Counter]:
            local: Counter = Counter()
            return session_samples(
                session, plain, budget=d.max_tokens, overlap=d.window_overlap_turns,
                group_context_turns=d.group_context_turns, joiner=d.joiner, count=count, stats=local,
                exchange_minutes=d.exchange_minutes, reserve=reserve,
            ), local

        samples.extend(with_room_for_memories(cut, grounding.reserve(session.id), stats, ("too_long",)))
        if on_session:
            on_session()
    if d.include_documents:
        for document in documents:
            report.counts["documents"] += 1
            plain, _ = grounding.system([], "", document.date.date() if document.date else None, writer=True)

            def post(reserve: int, document=document, plain=plain) -> tuple[list[Sample], Counter]:
                local: Counter = Counter()
                sample = document_sample(document, plain, budget=d.max_tokens, count=count, keep=keep, stats=local,
                                         reserve=reserve)
                return ([sample] if sample is not None else []), local

            reserve = grounding.reserve(stable_id("document", document.id))
            samples.extend(with_room_for_memories(post, reserve, stats, ("too_long", "document_truncated")))
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
    grounding.apply(kept, report.memory)
    report.leak_check = leak_check(kept)
    if report.leak_check["leaking_samples"]:
        raise StoreError(f"{report.leak_check['leaking_samples']} samples quote memories from their own session "
                         "or later; this is a bug in twin.finetune.grounding, the dataset was not written")
    report.filters.update(keep.dropped)
    for key in STAT_KEYS:
        report.counts[key] = stats.pop(key, 0) + keep.kept.pop(key, 0)
    report.filters.update(stats)
    report.counts.update(Counter(f"{s.kind}_samples" for s in kept))
    report.coverage = owner.coverage(kept)
    return kept


def _budget_fields(budget) -> dict:
    return {"top_k": budget.top_k, "memory_tokens": budget.memory_tokens, "tokens_per_memory": budget.tokens_per_memory}


def open_memory(cfg: TwinConfig):
    """(the twin's memory index, what the manifest says about it); (None, why) when there is none:
    the dataset is then built from plain samples."""
    if cfg.dataset.memory_share <= 0:
        return None, {"used": False, "why": "dataset.memory_share is 0"}
    from twin.errors import UnavailableError
    from twin.retrieval.memory import MemoryIndex

    if not cfg.memory.qdrant_url and not (cfg.path("memory") / "manifest.json").is_file():
        return None, {"used": False, "why": f"no memory store at {cfg.path('memory')} (run `twin memory index` "
                                            "before `twin dataset build` for memory-grounded samples)"}
    try:
        index = MemoryIndex.open(cfg)
        ids = sorted(index.store.all_ids())
    except (StoreError, UnavailableError) as exc:
        return None, {"used": False, "why": f"memory store unavailable: {exc}"}
    m = cfg.memory
    return index, {
        "used": True, "backend": index.store.backend,
        "location": m.qdrant_url and f"{m.qdrant_url} / {m.collection}" or str(cfg.path("memory")),
        "store_id": hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16], "memories": len(ids),
        "embedder": index.embedder.id, "lexical": index.lexical.id,
        "retrieval": {**_budget_fields(sample_memory_budget(cfg, index.tokens_per_memory())), "dense_weight": m.dense_weight,
                      "sparse_weight": m.sparse_weight, "rrf_k": m.rrf_k, "candidates": m.candidates,
                      "time_mode": m.time_mode, "reranker": m.reranker,
                      "filter": "memories that end before the sample's session begins (posts: before the post)",
                      "now": "the session's start"},
        "memory_share": cfg.dataset.memory_share, "distractor_share": cfg.dataset.distractor_share,
    }


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
        index, report.memory_store = open_memory(cfg)
        try:
            samples = build_samples(store.messages(), store.documents(), cfg, count, report, tick, index)
        finally:
            if index is not None:
                index.close()
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
    private_dir(partial)
    try:
        for split, samples in splits.items():
            _write_jsonl(partial / f"{split}.jsonl", (s.to_json() for s in samples))
        write_exports(partial, folder.name, splits, _write_jsonl)
        write_manifest(partial, {
            "kind": "twin-dataset", "name": folder.name, "format_version": 2,
            "system_prompt": system_prompt(cfg.persona), "config": cfg.dataset.model_dump(mode="json"),
            **report.to_json(), "libraries": library_versions("transformers", "tokenizers"),
        })
        private_tree(partial)  # export files written by other helpers: owner-only too
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        if folder.exists():
            os.replace(folder, old)
        os.replace(partial, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    private_dir(path.parent)
    touch_private(path)
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
