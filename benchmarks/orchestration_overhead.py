"""Per-node overhead of the DAG executor: N trivial expert calls as a chain and as a fan-out.

Each node is a real call to a real Serve deployment (the diagnostic ``delay`` expert with no delay, which
returns its input) made by the executor; the baseline is the same backend called directly in-process N
times. Overhead per node = (wall time − in-process time) / N, the median of three runs, for N from 1 to
1000. Beside it, the same N calls made straight through a deployment handle with no executor (Serve's own
cost), so the ratio shows what the executor adds.

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


def serve_floor(handle, shape: str, n: int) -> float:
    """The same N expert calls made straight through one deployment handle, with no executor: Serve's own cost."""
    import asyncio

    from deployments.artifacts import Text
    from deployments.backends.base import ExpertRequest

    async def calls() -> None:
        if shape == "chain":
            text = "hello"
            for _ in range(n):
                result = await handle.remote(ExpertRequest("text2text-generation", {"text": Text(text)}))
                text = result.outputs[0].text
        else:
            await asyncio.gather(*[handle.remote(ExpertRequest("text2text-generation", {"text": Text(f"hello {i}")}))
                                   for i in range(n)])

    started = time.perf_counter()
    asyncio.run(calls())
    return time.perf_counter() - started


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
    from orchestrator.executor import Candidate, run_plan

    echo = card()
    backend = DelayBackend(echo)
    backend.load()
    init_ray(num_cpus=2, log_to_driver=False)
    start_serve()
    serve.run(build_app([echo]), name="bench", route_prefix=None)
    candidate = Candidate(echo.id, echo.deployment_name)
    handle = serve.get_deployment_handle(echo.deployment_name, app_name="bench")
    rows = []
    for shape in ("chain", "fanout"):
        for n in args.sizes:
            the_plan = plan(shape, n)
            walls, directs, floors = [], [], []
            for _ in range(REPEATS):
                started = time.perf_counter()
                chosen = {t.id: [candidate] for t in the_plan}
                outcomes = list(run_plan(the_plan, chosen, {}, app_name="bench").values())
                walls.append(time.perf_counter() - started)
                assert all(o.status == "ok" for o in outcomes), [o.error for o in outcomes if o.error][:1]
                floors.append(serve_floor(handle, shape, n))
                started = time.perf_counter()
                for i in range(n):
                    backend.predict_one(ExpertRequest("text2text-generation", {"text": Text(f"hello {i}")}))
                directs.append(time.perf_counter() - started)
            wall, direct, floor = statistics.median(walls), statistics.median(directs), statistics.median(floors)
            row = {"shape": shape, "n": n, "wall_s": round(wall, 4), "in_process_s": round(direct, 6),
                   "overhead_ms_per_node": round(1000 * (wall - direct) / n, 3),
                   "serve_calls_only_s": round(floor, 4),
                   "serve_calls_only_ms_per_node": round(1000 * (floor - direct) / n, 3),
                   "executor_vs_serve_calls_only": round(wall / floor, 3)}
            rows.append(row)
            print(json.dumps(row))
    serve.shutdown()
    ray.shutdown()
    result = {"machine": "2 cores", "repeats": REPEATS, "rows": rows, "target": "<= 5 ms per node, flat in N"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
