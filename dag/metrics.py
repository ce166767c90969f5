"""TaskBench's plan metrics, node F1 and edge F1, exactly as its ``evaluate.py`` computes them.

For the Hugging Face domain evaluate.py runs in ``resource`` mode:

* **node F1** (the paper's n-F1): per record, the *set* of node names (``_`` read as a space) that are one
  of the 23 tools, gold against predicted; true/false positives and negatives pooled over all records
  (micro average). Names outside the 23 tools count nowhere.
* **edge F1** (e-F1): per record, the set of (source name, target task) pairs rebuilt from ``"<node-j>"``
  in the arguments (the first reference of each argument; a reference to the node itself is ignored;
  ``task_links`` is not used); pooled as a binary F1. Edge names are not limited to the tools.

A gold record evaluate.py cannot read (a node without ``arguments``, ``task_nodes`` that is not a list) is
dropped from every figure, as there. Unlike evaluate.py, which skips them, a gold id with no prediction
scores as an empty plan (``missing="empty"``) unless ``missing="skip"`` is asked for. An F1 with nothing
to count (no edges on either side) is ``None``.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dag.registry import REGISTRY

TOOLS: frozenset[str] = frozenset(REGISTRY.taskbench_tools())
"""TaskBench's 23 Hugging Face tools, the labels node F1 counts."""


class RecordError(ValueError):
    """A record evaluate.py could not parse; such a record is dropped from every metric."""


def node_names(nodes: Any) -> list[str]:
    """Names of a record's nodes as evaluate.py reads them (``_`` → space)."""
    if not isinstance(nodes, list):
        raise RecordError(f"task_nodes is {type(nodes).__name__}, not a list")
    try:
        return [node["task"].replace("_", " ") for node in nodes]
    except (KeyError, TypeError, AttributeError) as err:
        raise RecordError(f"a node has no task name ({err!r})") from None


def resource_edges(nodes: list[dict], *, gold: bool) -> set[tuple[str, str]]:
    """The (source name, target task) pairs rebuilt from ``<node-j>`` references, as evaluate.py does."""
    names = node_names(nodes)
    edges: set[tuple[str, str]] = set()
    for i, node in enumerate(nodes):
        if gold:
            if "arguments" not in node:
                raise RecordError(f"node {i} has no arguments")
            arguments = node["arguments"]
        else:
            arguments = node.get("arguments", [])
        for arg in arguments:
            try:
                if gold:
                    if isinstance(arg, dict):
                        arg = list(arg.values())[0]
                    if isinstance(arg, list):
                        arg = " ".join(arg)
                elif not isinstance(arg, str):
                    continue
                if "<node-" in arg:
                    j = int(arg.split("<node-")[1].split(">")[0])
                    if j != i:
                        edges.add((names[j], node["task"]))
            except Exception:  # noqa: BLE001 - evaluate.py silently makes no edge on any error
                continue
    return edges


@dataclass
class Counts:
    """Pooled true positives, false positives and false negatives of nodes and edges."""

    node_tp: int = 0
    node_fp: int = 0
    node_fn: int = 0
    edge_tp: int = 0
    edge_fp: int = 0
    edge_fn: int = 0
    n: int = 0

    def add(self, gold_nodes: set, pred_nodes: set, gold_edges: set, pred_edges: set) -> None:
        self.node_tp += len(gold_nodes & pred_nodes)
        self.node_fp += len(pred_nodes - gold_nodes)
        self.node_fn += len(gold_nodes - pred_nodes)
        self.edge_tp += len(gold_edges & pred_edges)
        self.edge_fp += len(pred_edges - gold_edges)
        self.edge_fn += len(gold_edges - pred_edges)
        self.n += 1

    def summary(self) -> dict[str, Any]:
        return {
            "node_f1": _f1(self.node_tp, self.node_fp, self.node_fn),
            "edge_f1": _f1(self.edge_tp, self.edge_fp, self.edge_fn),
            "n": self.n,
        }


def _f1(tp: int, fp: int, fn: int) -> float | None:
    denominator = 2 * tp + fp + fn
    return round(2 * tp / denominator, 6) if denominator else None


@dataclass
class Evaluation:
    """Scores overall and by record type and tool count, and which records were left out and why."""

    overall: Counts = field(default_factory=Counts)
    by_type: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    by_n_tools: dict[int, Counts] = field(default_factory=lambda: defaultdict(Counts))
    dropped: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.summary(),
            "by_type": {k: self.by_type[k].summary() for k in sorted(self.by_type)},
            "by_n_tools": {str(k): self.by_n_tools[k].summary() for k in sorted(self.by_n_tools)},
            "dropped": self.dropped,
            "missing_predictions": len(self.missing),
        }


def prediction_nodes(prediction: Mapping[str, Any]) -> Any:
    """The predicted nodes of a prediction line: ``task_nodes``, or ``result.task_nodes`` as evaluate.py reads."""
    if "task_nodes" in prediction:
        return prediction["task_nodes"]
    result = prediction.get("result")
    if isinstance(result, Mapping) and "task_nodes" in result:
        return result["task_nodes"]
    raise RecordError("no task_nodes (nor result.task_nodes)")


def evaluate_plans(
    gold: Iterable[Mapping[str, Any]],
    predictions: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]],
    *,
    missing: str = "empty",
    tools: Iterable[str] = TOOLS,
) -> Evaluation:
    """Node and edge F1 of predictions against gold records (both in TaskBench's form), keyed by ``id``."""
    if missing not in ("empty", "skip"):
        raise ValueError("missing must be 'empty' or 'skip'")
    labels = set(tools)
    if not isinstance(predictions, Mapping):
        predictions = {str(p["id"]): p for p in predictions}
    result = Evaluation()
    for record in gold:
        record_id = str(record.get("id"))
        prediction = predictions.get(record_id)
        if prediction is None:
            result.missing.append(record_id)
            if missing == "skip":
                continue
            prediction = {"task_nodes": []}
        try:
            gold_nodes = record.get("task_nodes")
            gold_names = set(node_names(gold_nodes)) & labels
            gold_edges = resource_edges(gold_nodes, gold=True)
        except RecordError as err:
            result.dropped[record_id] = f"gold: {err}"
            continue
        try:
            pred_nodes = prediction_nodes(prediction)
            pred_names = set(node_names(pred_nodes)) & labels
            pred_edges = resource_edges(pred_nodes, gold=False)
        except RecordError as err:
            result.dropped[record_id] = f"prediction: {err}"
            continue
        counts = (gold_names, pred_names, gold_edges, pred_edges)
        result.overall.add(*counts)
        result.by_type[str(record.get("type", "unknown"))].add(*counts)
        result.by_n_tools[len(gold_nodes)].add(*counts)
    return result


def split_halves(records: list[dict[str, Any]], seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Records shuffled with ``seed`` and cut in two: a part to learn from and a part to score, none in both."""
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    return [records[i] for i in order[:half]], [records[i] for i in order[half:]]


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file; a bad line raises ValueError naming the file and line."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {number}: not JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(record, dict) or "id" not in record:
                raise ValueError(f"{path}, line {number}: each line must be an object with an \"id\"")
            records.append(record)
    return records


MISSING = "(none)"


def confusions(gold: Iterable[Mapping[str, Any]], predictions: Mapping[str, Mapping[str, Any]],
               top: int = 15) -> list[dict[str, Any]]:
    """The task names a planner mixes up, most frequent first.

    Per record, the gold tools it missed are paired in order with the tools it predicted that are not in
    the gold plan (``image-to-text`` → ``image-classification``); a missed tool with no extra prediction
    pairs with ``(none)`` and an extra one with nothing missed comes from ``(none)``.
    """
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for record in gold:
        prediction = predictions.get(str(record.get("id")))
        try:
            gold_names = node_names(record.get("task_nodes"))
            predicted = node_names(prediction_nodes(prediction)) if prediction is not None else []
        except RecordError:
            continue
        missed = [n for n in gold_names if n not in predicted]
        extra = [n for n in predicted if n not in gold_names]
        for i in range(max(len(missed), len(extra))):
            pair = (missed[i] if i < len(missed) else MISSING, extra[i] if i < len(extra) else MISSING)
            counts[pair] += 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return [{"gold": g, "predicted": p, "count": c} for (g, p), c in ranked]
