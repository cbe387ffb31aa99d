"""Will vLLM load this adapter? The rules vLLM's LoRA loader applies (v0.6-v0.11), checked on the
folder before a GPU server is started with it, and the `vllm serve` command that fits.

What vLLM refuses, and what we check for it:
- rank above `--max-lora-rank` (default 16; the flag takes only the values in MAX_LORA_RANKS);
- `modules_to_save` (vLLM loads only LoRA A/B matrices) and DoRA (`use_dora`);
- a bias (`bias` other than "none") unless the server runs with `--enable-lora-bias`;
- LoRA on modules vLLM has no LoRA layer for in that architecture, and weights for the embeddings
  or the output head (a resized vocabulary: vLLM serves the base model's vocabulary);
- a base it cannot load: vLLM needs a safetensors model (Hub id or folder), never a GGUF.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from twin.errors import ModelError

# Values vLLM's --max-lora-rank accepts; it refuses others.
MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
VLLM_DEFAULT_MAX_LORA_RANK = 16

# Linear layers vLLM has LoRA support for, by Hugging Face `model_type` (HF module names; vLLM
# packs q/k/v and gate/up itself). Families not listed are checked against the common set.
_LLAMA_LIKE = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
SUPPORTED_MODULES: dict[str, frozenset[str]] = {
    "qwen2": _LLAMA_LIKE, "qwen3": _LLAMA_LIKE, "llama": _LLAMA_LIKE, "mistral": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE, "gemma2": _LLAMA_LIKE, "gemma3_text": _LLAMA_LIKE, "granite": _LLAMA_LIKE,
    "phi3": frozenset({"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}),
}
EMBEDDING_MODULES = ("embed_tokens", "lm_head", "wte", "word_embeddings")


def vllm_max_lora_rank(rank: int) -> int:
    """The --max-lora-rank to serve a rank-`rank` adapter with: the smallest value vLLM accepts that
    holds it, never below vLLM's default (0 when no value holds it)."""
    return min((r for r in MAX_LORA_RANKS if r >= max(rank, VLLM_DEFAULT_MAX_LORA_RANK)), default=0)


@dataclass
class AdapterCheck:
    folder: Path
    rank: int = 0
    base_model: str = ""
    model_type: str | None = None
    target_modules: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def max_lora_rank(self) -> int:
        return vllm_max_lora_rank(self.rank)

    def vllm_command(self, name: str = "twin", max_model_len: int | None = None) -> str:
        parts = ["vllm serve", self.base_model or "<base model>", "--enable-lora",
                 f"--max-lora-rank {self.max_lora_rank}", f"--lora-modules {name}={self.folder.resolve()}"]
        if max_model_len:
            parts.append(f"--max-model-len {max_model_len}")
        return " ".join(parts)


def check_adapter(folder: Path, *, max_lora_rank: int | None = None) -> AdapterCheck:
    """Every rule above, applied to an adapter folder. `max_lora_rank`: the value a server already
    runs with (e.g. the compose file's), checked too when given."""
    folder = Path(folder)
    config = _read_json(folder / "adapter_config.json", required=True)
    check = AdapterCheck(folder=folder)
    check.rank = int(config.get("r") or 0)
    check.base_model = str(config.get("base_model_name_or_path") or "")
    manifest = _read_json(folder / "manifest.json", required=False)
    recorded = manifest.get("base_model") or {}
    check.model_type = (recorded.get("fingerprint") or {}).get("model_type") or _model_type_of(check.base_model)

    if check.rank <= 0:
        check.errors.append(f"adapter_config.json: r = {config.get('r')!r} is not a positive rank")
    elif check.rank > MAX_LORA_RANKS[-1]:
        check.errors.append(f"rank {check.rank} is above the largest --max-lora-rank vLLM accepts ({MAX_LORA_RANKS[-1]})")
    if max_lora_rank is not None:
        if max_lora_rank not in MAX_LORA_RANKS:
            check.errors.append(f"--max-lora-rank {max_lora_rank} is not a value vLLM accepts ({', '.join(map(str, MAX_LORA_RANKS))})")
        elif check.rank > max_lora_rank:
            check.errors.append(f"rank {check.rank} is greater than the server's --max-lora-rank {max_lora_rank}: "
                                f"start it with --max-lora-rank {check.max_lora_rank}")
    if config.get("modules_to_save"):
        check.errors.append(f"modules_to_save = {config['modules_to_save']!r}: vLLM loads only LoRA matrices; "
                            "train without modules_to_save")
    if config.get("use_dora"):
        check.errors.append("use_dora = true: vLLM does not serve DoRA adapters")
    if config.get("bias", "none") != "none":
        check.warnings.append(f"bias = {config['bias']!r}: start vLLM with --enable-lora-bias")
    _check_targets(check, config)
    _check_weights(check, folder)
    _check_base(check, recorded)
    return check


def _check_targets(check: AdapterCheck, config: dict) -> None:
    targets = config.get("target_modules") or []
    if isinstance(targets, str):  # PEFT stores a regex when it expanded e.g. "all-linear"
        check.target_modules = [targets]
        return
    # PEFT may save full paths ("model.layers.0.self_attn.q_proj"); vLLM matches the last name.
    targets = sorted({name.rsplit(".", 1)[-1] for name in targets})
    check.target_modules = targets
    supported = SUPPORTED_MODULES.get(check.model_type or "", _LLAMA_LIKE)
    family = check.model_type or "this architecture"
    embeddings = [m for m in targets if m in EMBEDDING_MODULES]
    unsupported = [m for m in targets if m not in supported and m not in EMBEDDING_MODULES]
    if embeddings:
        check.errors.append(f"LoRA on {', '.join(embeddings)}: vLLM serves LoRA on the linear layers only")
    if unsupported:
        check.errors.append(f"target modules {', '.join(sorted(unsupported))} have no LoRA support in vLLM for "
                            f"{family} (supported: {', '.join(sorted(supported))})")


def _check_weights(check: AdapterCheck, folder: Path) -> None:
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        if (folder / "adapter_model.bin").is_file():
            check.warnings.append("adapter_model.bin (pickle): vLLM loads it, but safetensors is safer and faster")
        else:
            check.errors.append(f"{weights.name}: missing (no LoRA weights in the folder)")
        return
    keys = _safetensors_keys(weights)
    stray = sorted({k.split(".lora_")[0].rsplit(".", 1)[-1] for k in keys if any(e in k for e in EMBEDDING_MODULES)})
    if stray:
        check.errors.append(f"{weights.name} holds weights for {', '.join(stray)} (a resized vocabulary?): vLLM serves "
                            "the base model's vocabulary, so train with a base whose tokenizer already has the chat tokens")
    non_lora = sorted(k for k in keys if ".lora_A" not in k and ".lora_B" not in k and not any(e in k for e in EMBEDDING_MODULES))
    if non_lora:
        check.errors.append(f"{weights.name} holds non-LoRA tensors (e.g. {non_lora[0]}): vLLM loads only lora_A/lora_B")


def _check_base(check: AdapterCheck, recorded: dict) -> None:
    base = check.base_model
    if not base:
        check.errors.append("adapter_config.json names no base_model_name_or_path: vLLM needs the base to serve")
        return
    path = Path(base)
    if base.endswith(".gguf") or (path.is_dir() and any(path.glob("*.gguf")) and not (path / "config.json").is_file()):
        check.errors.append(f"base {base} is a GGUF: vLLM serves LoRA only on a safetensors base (set it to a Hub id)")
    elif path.is_absolute() and not path.exists():
        check.warnings.append(f"base {base} is a path that does not exist on this machine: vLLM must see it too")
    if recorded.get("gguf_file"):
        check.warnings.append(
            f"trained on the de-quantised GGUF {recorded['gguf_file']}, served on {base}: the two bases differ by "
            "the quantisation error, so the adapter fits but is not exactly what was trained; for production, "
            "train on the same safetensors weights vLLM serves (train.base_model = the Hub id)")


def _model_type_of(base: str) -> str | None:
    config = Path(base) / "config.json"
    if config.is_file():
        return _read_json(config, required=False).get("model_type")
    return None


def _safetensors_keys(path: Path) -> list[str]:
    """Tensor names from the safetensors header (8-byte length, then JSON), without loading weights."""
    with path.open("rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        if size <= 0 or size > 100_000_000:
            raise ModelError(f"{path}: not a safetensors file (header size {size})")
        try:
            header = json.loads(handle.read(size))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: unreadable safetensors header ({exc})") from None
    return [k for k in header if k != "__metadata__"]


def _read_json(path: Path, *, required: bool) -> dict:
    if not path.is_file():
        if required:
            raise ModelError(f"{path}: not found (not a PEFT adapter folder)")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data
