"""Stage 2: choose an expert model for every task of a plan, with the reason, before anything runs.

Candidates are the catalog's models for the task that are deployed or deployable here. They are ranked by
whether they already run, by popularity (downloads, likes) and by how well their description matches
the task's arguments (MiniLM cosine when an embedding function is given, word overlap otherwise). With an
LLM, HuggingGPT's model-selection prompt lets it choose among the top k and say why (its
``{"id": ..., "reason": ...}`` answer is parsed leniently); without one, the best ranked wins. The ranked
list is kept as the fallback order for the executor. A task no usable model can do is an error that
names the task and how to enable a model for it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from dag.plan import Plan, Task
from deployments.catalog import ModelCard
from orchestrator.llm import LLMClient, LLMError

CHOOSE_MODEL_SYSTEM = (
    "#2 Model Selection Stage: Given the user request and the parsed tasks, the AI assistant helps the user to "
    "select a suitable model from a list of models to process the user request. The assistant should focus more "
    "on the description of the model and find the model that has the most potential to solve requests and tasks. "
    "Also, prefer models with local inference endpoints for speed and stability."
)
CHOOSE_MODEL_PROMPT = (
    "Please choose the most suitable model from {metas} for the task {task}. The output must be in a strict JSON "
    'format: {{"id": "id", "reason": "your detail reasons for the choice"}}.'
)

Embed = Callable[[list[str]], np.ndarray]


class SelectionError(ValueError):
    """Tasks without a usable model; the message lists each with what would enable one."""


@dataclass
class Selection:
    task_id: int
    task: str
    model: str
    reason: str
    ranked: list[str] = field(default_factory=list)
    """Usable models best first: the chosen one, then the fallbacks."""


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _task_text(task: Task) -> str:
    parts = [task.task.replace("-", " ")]
    parts += [v for v in task.args.values() if isinstance(v, str) and "<GENERATED>" not in v]
    return " ".join(parts)


def usable_models(task: str, cards: Iterable[ModelCard], deployed: set[str] | None = None,
                  gpus: float | None = None) -> tuple[list[ModelCard], list[str]]:
    """The cards for ``task`` that run or can run here, and why each other card for it cannot."""
    usable, blocked = [], []
    for card in cards:
        if card.task != task:
            continue
        if deployed is not None and card.id in deployed:
            usable.append(card)
            continue
        ok, why = card.availability(gpus=gpus)
        (usable if ok else blocked).append(card if ok else f"{card.id}: {why}")
    return usable, blocked


def rank(task: Task, cards: list[ModelCard], deployed: set[str] | None = None,
         embed: Embed | None = None) -> list[tuple[ModelCard, float, str]]:
    """Cards best first, each with its score and a short account of it."""
    if not cards:
        return []
    query = _task_text(task)
    if embed is not None:
        vectors = embed([query] + [c.description or c.id for c in cards])
        similarity = [float(vectors[0] @ v) for v in vectors[1:]]
    else:
        q = _words(query)
        similarity = [len(q & _words(c.description)) / (len(q) or 1) for c in cards]
    top_popularity = max(math.log10(1 + c.downloads) + 0.5 * math.log10(1 + c.likes) for c in cards) or 1.0
    ranked = []
    for card, sim in zip(cards, similarity):
        popularity = (math.log10(1 + card.downloads) + 0.5 * math.log10(1 + card.likes)) / top_popularity
        running = 1.0 if deployed and card.id in deployed else 0.0
        local = 0.5 if card.weights.source in ("package", "local", "none") else 0.0
        score = running + local + 0.5 * popularity + sim
        why = ", ".join(filter(None, [
            "already deployed" if running else "",
            "runs offline from local weights" if local else "",
            f"{card.downloads} downloads" if card.downloads else "",
            f"description matches the task ({sim:.2f})",
        ]))
        ranked.append((card, score, why))
    ranked.sort(key=lambda item: (-item[1], item[0].id))
    return ranked


def parse_choice(text: str, allowed: list[str]) -> tuple[str | None, str]:
    """The model id and reason in an LLM's answer, read leniently; (None, why) when no allowed id is in it."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match:
        try:
            data = json.loads(match.group(0))
            if isinstance(data, dict) and str(data.get("id", "")).strip() in allowed:
                return str(data["id"]).strip(), str(data.get("reason", "")).strip()
        except json.JSONDecodeError:
            pass
    quoted = re.search(r"""["']?id["']?\s*[:=]\s*["']([^"']+)["']""", text)
    if quoted and quoted.group(1).strip() in allowed:
        reason = re.search(r"""["']?reason["']?\s*[:=]\s*["'](.+?)["']\s*[,}]""", text, re.DOTALL)
        return quoted.group(1).strip(), reason.group(1).strip() if reason else ""
    named = [model_id for model_id in allowed if model_id in text]
    if len(named) == 1:
        return named[0], "named in the LLM's answer"
    return None, f"the LLM's answer names none of {allowed}: {text[:200]!r}"


def select_models(plan: Plan, cards: list[ModelCard], *, request: str = "", llm: LLMClient | None = None,
                  deployed: set[str] | None = None, embed: Embed | None = None, top_k: int = 5,
                  gpus: float | None = None) -> dict[int, Selection]:
    """A model for every task of a plan, chosen before anything runs; raises SelectionError listing gaps."""
    selections: dict[int, Selection] = {}
    gaps = []
    for task in plan:
        usable, blocked = usable_models(task.task, cards, deployed, gpus)
        if not usable:
            hint = ("; ".join(blocked) if blocked else
                    "no model in the catalog does it: add a card to deployments/catalog.jsonl")
            gaps.append(f"task {task.id} ({task.task}) has no usable model: {hint}")
            continue
        ranked = rank(task, usable, deployed, embed)
        chosen, reason = ranked[0][0].id, f"best ranked: {ranked[0][2]}"
        if llm is not None and len(ranked) > 1:
            top = ranked[:top_k]
            metas = json.dumps([{"id": c.id, "likes": c.likes, "description": c.description[:100],
                                 "tags": c.tags} for c, _, _ in top], ensure_ascii=False)
            messages = [
                {"role": "system", "content": CHOOSE_MODEL_SYSTEM},
                {"role": "user", "content": request},
                {"role": "assistant", "content": json.dumps(task.model_dump(), ensure_ascii=False)},
                {"role": "user", "content": CHOOSE_MODEL_PROMPT.format(metas=metas, task=task.task)},
            ]
            try:
                picked, why = parse_choice(llm.chat(messages, stage="select"), [c.id for c, _, _ in top])
            except LLMError as err:
                picked, why = None, str(err)
            if picked:
                chosen, reason = picked, f"chosen by the LLM: {why}" if why else "chosen by the LLM"
            else:
                reason = f"{reason} (LLM choice unusable: {why})"
        order = [chosen] + [c.id for c, _, _ in ranked if c.id != chosen]
        selections[task.id] = Selection(task.id, task.task, chosen, reason, order)
    if gaps:
        raise SelectionError("cannot run the plan: " + " | ".join(gaps)
                             + ". `hugginggpt models --task TASK` shows each model's status.")
    return selections
