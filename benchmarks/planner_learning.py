"""Does the embedded planner plan better once it has learned demonstrations? TaskBench node/edge F1.

TaskBench's Hugging Face dev set is split (fixed seed) into a bank part and a test part. The test part is
planned with an empty demonstration bank, then with the planner's own plans for the bank part's requests
learned (its runs), then with the bank part's gold plans learned (each record stored as a demonstration,
as a run that passed would be), for several adoption similarities: a request whose nearest
demonstration is at least that similar is planned from it (``EmbeddedPlanner.adopt_at``); others are
planned clause by clause. No test record is ever in the bank. The first row is the planner without its
task tagger (``orchestrator/task_tagger.py``, learned from TaskBench records outside this dev slice), the
second with the tagger's regression but not its neural half (``orchestrator/neural_tagger.py``), the rest
use all of it.

    python benchmarks/planner_learning.py [--data ../shared/taskbench/huggingface/dev.jsonl] [--seed 0]
        [--out benchmarks/results/planner_learning.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "taskbench" / "huggingface" / "dev.jsonl"


def score(planner, bank, records, adopt_at: float | None) -> dict:
    from dag.metrics import evaluate_plans
    from dag.taskbench import to_taskbench
    from orchestrator.pipeline import embedded_plan

    predictions, seconds, adopted, invalid = {}, 0.0, 0, 0
    planner.adopt_at = adopt_at if adopt_at is not None else 2.0
    for record in records:
        started = time.perf_counter()  # the service's own path: bank searched while the planner plans
        report, demo = embedded_plan(planner, record["instruction"], bank=bank if adopt_at is not None else None)
        seconds += time.perf_counter() - started
        adopted += demo is not None
        invalid += not report.valid
        predictions[str(record["id"])] = {"id": record["id"], **to_taskbench(report.plan)}
    overall = evaluate_plans(records, predictions).to_dict()["overall"]
    return {**overall, "adopted": adopted, "invalid_plans": invalid,
            "ms_per_request": round(1000 * seconds / len(records), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/planner_learning.json")
    args = parser.parse_args()

    from dag.metrics import read_jsonl, split_halves
    from dag.validate import check_plan
    from orchestrator.demos import DemoBank, taskbench_demos
    from orchestrator.embedded_planner import load_embed, load_embedded_planner

    if not Path(args.data).exists():
        raise SystemExit(f"TaskBench data not found at {args.data}; pass --data")
    bank_part, test_part = split_halves(read_jsonl(args.data), args.seed)
    planner = load_embedded_planner()
    bank = DemoBank(":memory:", load_embed())
    rows = [{"bank": "empty, cues only (no task tagger)", "adopt_at": None,
             **score(load_embedded_planner(tagger=False), bank, test_part, None)}]
    print(json.dumps(rows[-1]), flush=True)
    rows.append({"bank": "empty, tagger's regression only (no neural half)", "adopt_at": None,
                 **score(load_embedded_planner(neural=False), bank, test_part, None)})
    print(json.dumps(rows[-1]), flush=True)
    rows.append({"bank": "empty", "adopt_at": None, **score(planner, bank, test_part, None)})
    print(json.dumps(rows[-1]), flush=True)
    # the planner's own runs: its plans for the bank part's requests (no gold plan seen), kept when valid,
    # as HuggingGPT.learn keeps a run whose plan validated and whose nodes passed their checks
    own = DemoBank(":memory:", load_embed())
    planner.adopt_at = 2.0
    for record in bank_part:
        report = check_plan(planner.plan(record["instruction"]))
        if report.valid:
            own.add(record["instruction"], report.plan.to_data(), source="run")
    for adopt_at in (0.95, 0.9, 0.85, 0.8):
        rows.append({"bank": f"{len(own)} of its own runs", "adopt_at": adopt_at,
                     **score(planner, own, test_part, adopt_at)})
        print(json.dumps(rows[-1]), flush=True)
    demos = [d for d in taskbench_demos(args.data) if d.source_id in {str(r["id"]) for r in bank_part}]
    bank.add_many(demos)
    for adopt_at in (0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.0):
        rows.append({"bank": f"{len(demos)} TaskBench demonstrations", "adopt_at": adopt_at,
                     **score(planner, bank, test_part, adopt_at)})
        print(json.dumps(rows[-1]), flush=True)
    result = {"data": str(args.data), "seed": args.seed, "bank_records": len(bank_part),
              "test_records": len(test_part), "test_ids": [str(r["id"]) for r in test_part], "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
