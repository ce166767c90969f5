"""Parallel efficiency of the DAG executor against a sequential executor and HuggingGPT's polling loop.

k independent tasks, and a chain of c tasks, each an expert call of known duration d (the diagnostic
``delay`` expert with k replicas). Three executors run the same plans against the same deployment, in one
run: ours (every task starts when its own inputs exist; experts routed by ``deployments/routing.py``), ours
with Serve's default power-of-two-choices router, a sequential one (one task after another, as LangChain's
HuggingGPT runs them) and HuggingGPT's own loop (start every task whose dependencies are done, else sleep
0.5 s). Efficiency = ideal wall time (critical path) / measured.

    python benchmarks/parallel_speedup.py [--k 8] [--chain 4] [--seconds 1.0] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from pathlib import Path

from deployments.runtime import apply_env_defaults

apply_env_defaults()  # before anything imports ray.serve, which reads it once

REPEATS = 3


def plans(k: int, chain: int):
    from dag.plan import Plan

    independent = Plan.of([{"task": "text2text-generation", "id": i, "args": {"text": f"t{i}"}} for i in range(k)])
    chained = Plan.of([{"task": "text2text-generation", "id": 0, "args": {"text": "t0"}}] + [
        {"task": "text2text-generation", "id": i, "dep": [i - 1], "args": {"text": f"<GENERATED>-{i - 1}"}}
        for i in range(1, chain)])
    return {"independent": independent, "chain": chained}


def request(task, outputs):
    from deployments.artifacts import Text
    from deployments.backends.base import ExpertRequest

    text = task.args["text"]
    for dep in task.deps:
        text = text.replace(f"<GENERATED>-{dep}", outputs[dep])
    return ExpertRequest("text2text-generation", {"text": Text(text)})


def sequential(plan, handle) -> float:
    started, outputs = time.perf_counter(), {}
    for task in plan:
        outputs[task.id] = handle.remote(request(task, outputs)).result().outputs[0].text
    return time.perf_counter() - started


def polling(plan, handle) -> float:
    """HuggingGPT's loop: start each task whose dependencies are done in a thread; otherwise sleep 0.5 s."""
    started, outputs, remaining, threads = time.perf_counter(), {}, list(plan), []

    def run(task):
        outputs[task.id] = handle.remote(request(task, outputs)).result().outputs[0].text

    while remaining or any(t.is_alive() for t in threads):
        ready = [t for t in remaining if all(d in outputs for d in t.deps)]
        for task in ready:
            remaining.remove(task)
            thread = threading.Thread(target=run, args=(task,))
            thread.start()
            threads.append(thread)
        if not ready:
            time.sleep(0.5)
    return time.perf_counter() - started


def ours(plan, candidate, app_name: str = "bench") -> float:
    from orchestrator.executor import run_plan

    started = time.perf_counter()
    outcomes = run_plan(plan, {t.id: [candidate] for t in plan}, {}, app_name=app_name)
    assert all(o.status == "ok" for o in outcomes.values()), [o.error for o in outcomes.values()]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--chain", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--max-ongoing", type=int, default=128,
                        help="the delay expert's max_ongoing_requests (the model cards' default: 128)")
    parser.add_argument("--out", default="benchmarks/results/parallel_speedup.json")
    args = parser.parse_args()

    import ray
    from ray import serve

    from deployments.app import build_app
    from deployments.catalog import ModelCard, Weights
    from deployments.runtime import init_ray, start_serve
    from orchestrator.executor import Candidate

    card = ModelCard(id="bench/delay", task="text2text-generation", backend="delay", weights=Weights(source="none"),
                     options={"seconds": args.seconds}, resources={"num_cpus": 0.05, "memory_gb": 0},
                     autoscaling={"min_replicas": args.k, "max_replicas": args.k},
                     max_ongoing_requests=args.max_ongoing)
    init_ray(num_cpus=2, log_to_driver=False)
    start_serve()
    serve.run(build_app([card]), name="bench", route_prefix=None)
    os.environ["HUGGINGGPT_ROUTER"] = "serve-default"  # the same expert again, routed by Serve's own router
    serve.run(build_app([card]), name="bench-serve-router", route_prefix=None)
    del os.environ["HUGGINGGPT_ROUTER"]
    handle = serve.get_deployment_handle(card.deployment_name, app_name="bench")
    candidate = Candidate(card.id, card.deployment_name)
    rows = []
    for shape, plan in plans(args.k, args.chain).items():
        ideal = args.seconds * (1 if shape == "independent" else args.chain)
        ours(plan, candidate)  # warm up the routers
        ours(plan, candidate, "bench-serve-router")
        row = {"shape": shape, "tasks": len(plan), "task_seconds": args.seconds, "ideal_s": ideal}
        runners = (("ours", lambda p=plan: ours(p, candidate)),
                   ("ours_with_serve_default_router", lambda p=plan: ours(p, candidate, "bench-serve-router")),
                   ("sequential", lambda p=plan: sequential(p, handle)),
                   ("hugginggpt_polling", lambda p=plan: polling(p, handle)))
        for name, run in runners:
            wall = statistics.median(run() for _ in range(REPEATS))
            row[f"{name}_s"] = round(wall, 3)
            row[f"{name}_efficiency"] = round(ideal / wall, 3)
        rows.append(row)
        print(json.dumps(row))
    serve.shutdown()
    ray.shutdown()
    result = {"machine": "2 cores", "repeats": REPEATS, "rows": rows, "target": "ours >= 0.9 efficiency"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
