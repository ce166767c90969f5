"""How far can the embedded planner's edge F1 go? TaskBench scores with parts of each plan taken from gold.

Each row plans the same records; everything not taken from the gold plan is the shipped planner's own:

1. the planner as shipped;
2. the gold order for the tasks it got right (its task set, its dependencies);
3. the gold task set (its order, its dependencies);
4. the gold task set and order (its dependencies). The gold order is one the gold plan can run in
   (``task_tagger.gold_tools``): gold plans may list their nodes in any order, some alphabetically;
5. a perfect plan in our vocabulary: the gold tasks that are among TaskBench's 23 tools, in gold order,
   with the dependencies the gold plan means (its ``<node-j>`` references read from 0, or from 1 where
   the record numbers them from 1: ``dag.taskbench.meant_dependencies``), scored against the gold as
   evaluate.py reads it.

Row 5 is the most any planner that writes correct plans with the 23 tools can score: gold plans name
steps outside the 23 tools ("Audio Enhancement") and some number their references from 1, which
evaluate.py reads as the next node. The script also counts both.

    python benchmarks/planner_ceiling.py [--data ../shared/taskbench/huggingface/dev.jsonl]
        [--part test|all] [--seed 0] [--out benchmarks/results/planner_ceiling.json]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "taskbench" / "huggingface" / "dev.jsonl"


class GoldGuide:
    """The shipped tagger, but with the gold task set (``tasks``) and/or the gold order (``order``) of the
    record being planned."""

    def __init__(self, tagger: Any, gold: Sequence[str], *, tasks: bool, order: bool) -> None:
        self.tagger, self.gold, self.tasks, self.gold_order = tagger, list(gold), tasks, order

    def revise(self, request: str, cue_tools: Sequence[str]) -> tuple[set[str], list[str]]:
        if not self.tasks:
            return self.tagger.revise(request, cue_tools)
        return {t for t in cue_tools if t not in self.gold}, [t for t in self.gold if t not in cue_tools]

    def locate(self, tool: str, clauses: Sequence[tuple[int, str]]) -> Any:
        return self.tagger.locate(tool, clauses)

    def order(self, names: Sequence[str | None], keys: Sequence[Any]) -> list[int]:
        own = self.tagger.order(names, keys)
        if not self.gold_order:
            return own
        right = sorted((i for i in own if names[i] in self.gold), key=lambda i: self.gold.index(names[i]))
        slots = iter(right)  # the gold tasks take the places the planner gave them, in gold order
        return [next(slots) if names[i] in self.gold else i for i in own]


def perfect_plan(record: Mapping[str, Any], tools: frozenset[str]) -> dict[str, list]:
    """The gold plan as meant, in the 23 tools: its tool nodes in an order they can run in, each
    referencing the nodes its gold references mean (``dag.taskbench.meant_dependencies``)."""
    from dag.taskbench import meant_dependencies, runnable_order

    nodes = record["task_nodes"]
    kept = [i for i in runnable_order(nodes) if str(nodes[i].get("task", "")).replace("_", " ") in tools]
    index = {old: new for new, old in enumerate(kept)}
    parents = meant_dependencies(nodes)
    return {"task_nodes": [{"task": nodes[i]["task"],
                            "arguments": [f"<node-{index[j]}>" for j in sorted(parents[i] & set(index))] or ["input"]}
                           for i in kept]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--part", choices=("test", "all"), default="test",
                        help="test: the half planner_learning.py scores (seed --seed); all: every record")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/planner_ceiling.json")
    args = parser.parse_args()

    from dag.metrics import TOOLS, evaluate_plans, read_jsonl, resource_edges, split_halves
    from dag.taskbench import reference_numbering, to_taskbench
    from orchestrator.embedded_planner import load_embedded_planner
    from orchestrator.task_tagger import gold_tools

    if not Path(args.data).exists():
        raise SystemExit(f"TaskBench data not found at {args.data}; pass --data")
    records = read_jsonl(args.data)
    if args.part == "test":
        records = split_halves(records, args.seed)[1]
    unreadable = evaluate_plans(records, {}).dropped  # gold records evaluate.py cannot read: left out here too
    readable = [r for r in records if str(r.get("id")) not in unreadable]
    planner = load_embedded_planner()
    shipped = planner.tagger

    def planned(tasks: bool, order: bool) -> dict[str, dict]:
        predictions = {}
        for record in readable:
            gold = gold_tools(record, sorted(TOOLS)) or []
            planner.tagger = GoldGuide(shipped, gold, tasks=tasks, order=order) if tasks or order else shipped
            predictions[str(record["id"])] = to_taskbench(planner.plan(record["instruction"]))
        planner.tagger = shipped
        return predictions

    rows = []
    for label, predictions in (
            ("the planner as shipped", lambda: planned(False, False)),
            ("+ gold order of the tasks it got right", lambda: planned(False, True)),
            ("gold task set, its order and dependencies", lambda: planned(True, False)),
            ("gold task set and order, its dependencies", lambda: planned(True, True)),
            ("perfect plan in the 23 tools (gold tasks, order, meant dependencies)",
             lambda: {str(r["id"]): perfect_plan(r, TOOLS) for r in readable})):
        overall = evaluate_plans(readable, predictions()).to_dict()["overall"]
        rows.append({"plan": label, **overall})
        print(json.dumps(rows[-1]), flush=True)
    gold_edges = [e for r in readable for e in resource_edges(r["task_nodes"], gold=True)]
    outside = sum(not (a in TOOLS and b in TOOLS) for a, b in gold_edges)
    multi = [r for r in readable if len(r["task_nodes"]) > 1]
    kinds = Counter(reference_numbering(r["task_nodes"]) for r in multi)
    facts = {"records": len(readable), "multi_task_records": len(multi), "gold_edges": len(gold_edges),
             "gold_edges_with_a_step_outside_the_23_tools": outside,
             "multi_task_references": dict(sorted(kinds.items()))}
    print(json.dumps(facts), flush=True)
    result = {"data": str(args.data), "part": args.part, "seed": args.seed, "rows": rows, **facts}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
