"""Puts the pieces together for the CLI: loads models, the memory index and the judge from the
config, runs the requested sections and returns one report dict (see eval.report)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from twin.config import TwinConfig
from twin.errors import ConfigError, StoreError
from twin.eval.chat import ChatModel, OpenAIChatModel, TransformersChatModel, load_transformers_chat
from twin.eval.judge import AnswerJudge, StyleJudge
from twin.eval.questions import Question

Say = Callable[[str], None]


@dataclass
class ModelChoice:
    """Where answers come from: in-process (base [+ adapter]) or an OpenAI-compatible endpoint."""

    adapter: Path | None = None  # in-process adapter folder; None = newest under paths.adapters
    no_adapter: bool = False  # base model only
    url: str | None = None  # endpoint instead of in-process models
    model: str = "twin"  # model name at `url` (the adapter, for vLLM --enable-lora)
    base_model: str | None = None  # model name at `url` for the "base" ablation arm
    api_key: str | None = None


@dataclass
class Models:
    chat: dict[str, ChatModel] = field(default_factory=dict)  # "base"/"adapter" -> model
    adapter_path: Path | None = None

    def best(self) -> ChatModel:
        return self.chat.get("adapter") or self.chat["base"]

    def in_process(self) -> dict[str, tuple]:
        return {label: (m.model, m.tokenizer) for label, m in self.chat.items() if isinstance(m, TransformersChatModel)}


def load_models(cfg: TwinConfig, choice: ModelChoice, say: Say = lambda _: None) -> Models:
    from twin.eval.provenance import newest_adapter

    if choice.url:
        chat: dict[str, ChatModel] = {"adapter" if choice.base_model else "served": OpenAIChatModel(choice.url, choice.model, choice.api_key)}
        if choice.base_model:
            chat = {"base": OpenAIChatModel(choice.url, choice.base_model, choice.api_key), **chat}
        return Models(chat)
    from twin.models import resolve_base_model

    adapter = None if choice.no_adapter else (cfg.resolve(choice.adapter) if choice.adapter else newest_adapter(cfg))
    if choice.adapter and (adapter is None or not adapter.is_dir()):
        raise StoreError(f"{adapter}: adapter folder not found")
    ref = resolve_base_model(cfg.train.base_model, cfg.train.gguf_file, cfg.train.revision)
    say(f"loading base model {ref.display}")
    chat = {"base": load_transformers_chat(ref)}
    if adapter is not None:
        say(f"loading adapter {adapter}")
        chat["adapter"] = load_transformers_chat(ref, adapter)
    return Models(chat, adapter)


def load_judges(cfg: TwinConfig, wanted: bool) -> tuple[AnswerJudge | None, StyleJudge | None]:
    if not wanted:
        return None, None
    if not cfg.eval.judge_url:
        raise ConfigError("--judge needs eval.judge_url and eval.judge_model in twin.toml (any OpenAI-compatible endpoint)")
    model = OpenAIChatModel(cfg.eval.judge_url, cfg.eval.judge_model or "", cfg.eval.judge_api_key)
    return AnswerJudge(model), StyleJudge(model, seed=cfg.eval.seed)


def open_retriever(cfg: TwinConfig):
    """(retrieve function, index) over the twin's memory store, as deep as the service retrieves
    for the QA models' budget (QAOptions: an in-process model of unknown window) over this store."""
    from twin.budget import memory_budget
    from twin.retrieval.memory import MemoryIndex

    index = MemoryIndex.open(cfg)
    k = memory_budget(cfg, None, "eval", index.tokens_per_memory()).top_k

    def retrieve(q: Question):
        return index.search(q.question, k=k)

    return retrieve, index


def refuse_leaky_style(dataset: str | None, choice: ModelChoice | None) -> None:
    """Style fidelity sends holdout contexts; a twin service would retrieve from its store, which
    holds the holdout sessions themselves, and could quote the very reply being scored."""
    if dataset and choice is not None and choice.url and not choice.base_model:
        raise ConfigError(
            "--dataset with --url asks a twin service, whose memory store holds the holdout sessions: it could "
            "quote the real replies. Run style fidelity in-process (drop --url), or against a plain model server "
            "(e.g. vLLM) naming --base-model and --model"
        )


def run_sections(
    cfg: TwinConfig,
    *,
    qa_file: Path | None = None,
    locomo_file: Path | None = None,
    locomo_samples: list[str] | None = None,
    locomo_qa: int = 0,
    dataset: str | None = None,
    choice: ModelChoice | None = None,
    judge: bool = False,
    ablation: bool = True,
    say: Say = lambda _: None,
    on_answer: Callable[[str, int, int], None] | None = None,
) -> dict:
    """The full report: recall (own set and/or LoCoMo), QA ablation, style fidelity.

    `locomo_qa` > 0 also answers that many LoCoMo questions per conversation (eval.locomo_qa)."""
    from twin.eval.provenance import provenance
    from twin.eval.questions import load_questions

    refuse_leaky_style(dataset, choice)
    report: dict = {"recall": {}}
    ks = cfg.eval.k
    questions: Sequence[Question] = load_questions(qa_file) if qa_file else []
    if locomo_file:
        from twin.eval.recall import locomo_recall

        say(f"LoCoMo recall on {locomo_file}")
        report["recall"]["locomo"] = locomo_recall(locomo_file, ks, cfg, samples=locomo_samples)
    answer_judge, style_judge = load_judges(cfg, judge)
    models = None
    locomo_answers = locomo_file is not None and locomo_qa > 0
    if questions or dataset or locomo_answers:
        models = load_models(cfg, choice or ModelChoice(), say)
    if locomo_answers:
        from twin.eval.locomo_qa import locomo_ablation

        chat = models.chat if ablation or len(models.chat) == 1 else {"best": models.best()}
        report["locomo_ablation"] = locomo_ablation(locomo_file, cfg, chat, per_conversation=locomo_qa,
                                                    samples=locomo_samples, judge=answer_judge, say=say,
                                                    on_answer=on_answer)
    if questions:
        from twin.eval.qa import run_ablation, run_qa
        from twin.eval.recall import index_recall

        retrieve, index = open_retriever(cfg)
        try:
            say(f"recall on {qa_file}")
            report["recall"]["qa"] = index_recall(index, questions, ks)
            report["memory_stats"] = index.stats()
            if ablation and not (choice and choice.url and not choice.base_model):
                report["ablation"] = run_ablation(questions, models.chat, cfg, retrieve, judge=answer_judge,
                                                  progress=lambda name: say(f"QA: {name}"), on_answer=on_answer)
            else:
                say("QA through the served twin")
                report["qa"] = run_qa(questions, models.best(), cfg, served=True, judge=answer_judge)
        finally:
            index.close()
    if dataset:
        from twin.eval.fidelity import holdout_pairs, run_style

        pairs = holdout_pairs(cfg.path("datasets") / dataset, cfg.eval.style_samples, cfg.eval.seed)
        report["style"] = run_style(pairs, models.best(), perplexity_models=models.in_process(), judge=style_judge,
                                    reply_tokens=cfg.eval.style_reply_tokens, progress=say)
        report["style"]["dataset"] = dataset
    report["provenance"] = provenance(cfg, models.adapter_path if models else None,
                                      (report.get("memory_stats") or {}).get("embedder"))
    report["answer_models"] = {label: m.id for label, m in models.chat.items()} if models else {}
    if not report["recall"]:
        del report["recall"]
    return report
