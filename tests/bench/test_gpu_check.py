"""bench/gpu_check.py cannot rot: its CPU smoke run (--device cpu --tiny) goes through the same code
as the GPU run (twin train's LoRA + Trainer, generation with the adapter attached and merged, the
end-to-end ingest -> dataset -> train -> PeftModel reload -> vLLM check) and writes its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_tiny(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "bench/gpu_check.py", "--device", "cpu", "--tiny", "--out", str(out)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["tiny"] and report["device"].startswith("CPU") and "TFLOP/s" in report["peak"]

    train = report["train"]
    assert {r["gradient_checkpointing"] for r in train} == {False, True}
    for row in train:
        assert "error" not in row, row
        assert row["tokens_per_s"] > 0 and row["peak_gib"] > 0 and 0 < row["mfu"] < 1 and row["mfu_6n"] == pytest.approx(1.5 * row["mfu"], rel=0.01)

    generate = report["generate"]
    assert {(r["adapter"], r["batch"]) for r in generate} == {(a, b) for a in ("attached (PEFT)", "merged") for b in (1, 8)}
    assert all(r["tokens_per_s"] > 0 for r in generate)

    e2e = report["end_to_end"]
    assert e2e["ok"], e2e
    assert e2e["train_device"] == "cpu" and e2e["steps"] == 2 and e2e["generated_tokens"] == 12
    assert e2e["vllm_check"]["ok"] and e2e["vllm_check"]["command"].startswith("vllm serve ")
    assert "LoRA training" in result.stdout and "end to end" in result.stdout and str(out) in result.stdout
