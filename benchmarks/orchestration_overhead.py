"""Per-node overhead of the DAG executor: N trivial expert calls as a chain and as a fan-out.

Each node is a real Ray task calling a real Serve deployment (the diagnostic ``delay`` expert with no delay,
which returns its input); the baseline is the same backend called directly in-process N times. Overhead
per node = (wall time − in-process time) / N, the median of three runs, for N from 1 to 1000.

    python benchmarks/orchestration_overhead.py [--sizes 1 10 100 1000] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from deployments.runtime import apply_env_defaults

apply_env_defaults()  # before anything imports ray.serve, which reads it once

REPEATS = 3


def card():
    from deployments.catalog import ModelCard, Weights

    return ModelCard(id="bench/echo", task="text2text-generation", backend="delay", weights=Weights(source="none"),
                     options={"seconds": 0.0}, resources={"num_cpus": 0.1, "memory_gb": 0},
                     max_ongoing_requests=2048)


def plan(shape: str, n: int):
    from dag.plan import Plan

    if shape == "chain":
        tasks = [{"task": "text2text-generation", "id": 0, "args": {"text": "hello"}}] + [
            {"task": "text2text-generation", "id": i, "dep": [i - 1], "args": {"text": f"<GENERATED>-{i - 1}"}}
            for i in range(1, n)]
    else:
        tasks = [{"task": "text2text-generation", "id": i, "args": {"text": f"hello {i}"}} for i in range(n)]
    return Plan.of(tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--out", default="benchmarks/results/orchestration_overhead.json")
    args = parser.parse_args()

    import ray
    from ray import serve

    from deployments.app import build_app
    from deployments.artifacts import Text
    from deployments.backends.base import ExpertRequest
    from deployments.backends.diagnostic import DelayBackend
    from deployments.runtime import init_ray, start_serve
    from orchestrator.executor import Candidate, launch

    echo = card()
    backend = DelayBackend(echo)
    backend.load()
    init_ray(num_cpus=2, log_to_driver=False)
    start_serve()
    serve.run(build_app([echo]), name="bench", route_prefix=None)
    candidate = Candidate(echo.id, echo.deployment_name)
    rows = []
    for shape in ("chain", "fanout"):
        for n in args.sizes:
            the_plan = plan(shape, n)
            walls, directs = [], []
            for _ in range(REPEATS):
                started = time.perf_counter()
                refs = launch(the_plan, {t.id: [candidate] for t in the_plan}, {}, app_name="bench")
                outcomes = ray.get(list(refs.values()))
                walls.append(time.perf_counter() - started)
                assert all(o.status == "ok" for o in outcomes), [o.error for o in outcomes if o.error][:1]
                started = time.perf_counter()
                for i in range(n):
                    backend.predict_one(ExpertRequest("text2text-generation", {"text": Text(f"hello {i}")}))
                directs.append(time.perf_counter() - started)
            wall, direct = statistics.median(walls), statistics.median(directs)
            row = {"shape": shape, "n": n, "wall_s": round(wall, 4), "in_process_s": round(direct, 6),
                   "overhead_ms_per_node": round(1000 * (wall - direct) / n, 3)}
            rows.append(row)
            print(json.dumps(row))
    serve.shutdown()
    ray.shutdown()
    result = {"machine": "2 cores", "repeats": REPEATS, "rows": rows, "target": "<= 5 ms per node, flat in N"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
