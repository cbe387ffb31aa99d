"""A full report from a tiny twin: recall on its own question set, the memory x adapter
ablation, style fidelity with perplexity, then `twin eval compare` on two runs."""

import json

from typer.testing import CliRunner

from twin.cli import build_app
from tests.eval.conftest import FIXTURES

runner = CliRunner()


def test_eval_run_writes_json_markdown_and_plots(tiny_twin):
    app = build_app()
    result = runner.invoke(app, ["eval", "run", "--qa", str(FIXTURES / "questions.jsonl"), "--dataset", "style",
                                 "--name", "tiny"])
    assert result.exit_code == 0, result.output
    folder = tiny_twin.path("reports") / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == [
        "ablation.png", "recall_qa.png", "report.json", "style_histograms.png", "summary.md"]
    for png in folder.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))

    # recall: 3 questions with evidence (the adversarial one has none and is left out)
    recall = report["recall"]["qa"]
    assert recall["questions"] == 3 and set(recall["overall"]) == {"5", "10", "25"}
    assert set(recall["by_category"]) == {"single-hop", "multi-hop", "temporal"}
    # the store holds 5 memories of 2 messages, so the top 25 cover every evidence id
    assert recall["overall"]["25"] == 1.0 and recall["messages_per_memory"] == 2.0

    # ablation: 2 memory settings x 2 models, every question answered in each
    table = report["ablation"]["table"]
    assert [(r["memory"], r["model"]) for r in table] == [(False, "base"), (True, "base"), (False, "adapter"), (True, "adapter")]
    assert all(r["n"] == 4 for r in table)
    memory_run = report["ablation"]["conditions"]["memory / base"]
    assert any(a["memories"] for a in memory_run["answers"])  # memories reached the prompt
    assert not any(a["memories"] for a in report["ablation"]["conditions"]["no memory / base"]["answers"])

    # style: perplexity under base and adapter differ (the adapter changes the model), features compared
    style = report["style"]
    assert style["replies"] == 4
    ppl = style["perplexity"]
    assert ppl["base"]["tokens"] == ppl["adapter"]["tokens"] > 0
    assert ppl["base"]["perplexity"] != ppl["adapter"]["perplexity"]
    assert set(style["features"]) == {"length_chars", "emoji_per_reply", "expressive_punct_per_100", "cjk_share"}

    # provenance: which adapter, store and embedder produced it
    prov = report["provenance"]
    assert prov["adapter"]["path"].endswith("run1") and prov["embedder"].startswith("hash")
    assert prov["memory_store"] is not None

    summary = (folder / "summary.md").read_text(encoding="utf-8")
    for heading in ("## Memory recall", "## Ablation", "## Style fidelity", "![ablation.png](ablation.png)"):
        assert heading in summary


def test_compare_shows_what_changed_between_runs(tiny_twin):
    app = build_app()
    for name, extra in (("a", ["--no-adapter"]), ("b", [])):
        result = runner.invoke(app, ["eval", "run", "--dataset", "style", "--name", name, *extra])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["eval", "compare", "a", "b", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["metric"]: r for r in json.loads(result.stdout)}
    # run a had no adapter: its perplexity row exists only in b
    assert rows["style.perplexity.adapter.perplexity"]["a"] is None
    assert rows["style.perplexity.adapter.perplexity"]["b"] > 0
    assert "style.perplexity.base.perplexity" not in rows  # same base model, same replies: unchanged
