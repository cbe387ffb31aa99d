"""`twin adapter merge`: base model + LoRA -> one full transformers model folder.

The merged folder loads anywhere with `AutoModelForCausalLM.from_pretrained(folder)` (and vLLM
without --enable-lora); it carries the adapter's tokenizer, chat template and manifest facts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from twin.errors import ModelError, StoreError
from twin.manifest import library_versions, read_manifest, write_manifest
from twin.models import BaseModelRef, load_model_and_tokenizer


def merge_adapter(adapter: Path, output: Path) -> Path:
    adapter, output = Path(adapter), Path(output)
    manifest = read_manifest(adapter)
    recorded = manifest.get("base_model") or {}
    if not recorded.get("location"):
        raise ModelError(f"{adapter}/manifest.json: no base_model.location; was this adapter made by `twin train`?")
    ref = BaseModelRef(**{k: recorded.get(k) for k in ("spec", "location", "gguf_file", "revision", "hf_id", "local")})
    if output.exists() and any(output.iterdir()):
        raise StoreError(f"{output}: exists and is not empty; choose another --output")
    model, tokenizer = load_model_and_tokenizer(ref, adapter=adapter, device="cpu", dtype="float32")
    merged = model.merge_and_unload()
    partial = output.with_name(f".{output.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        merged.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        if (adapter / "system_prompt.txt").is_file():
            shutil.copy2(adapter / "system_prompt.txt", partial / "system_prompt.txt")
        write_manifest(partial, {
            "kind": "twin-merged-model", "adapter": str(adapter.resolve()), "adapter_manifest": manifest,
            "libraries": library_versions("torch", "transformers", "peft"),
        })
        if output.exists():
            output.rmdir()  # empty, checked above
        os.replace(partial, output)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return output
