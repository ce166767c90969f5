"""Throughput of the MiniLM expert: Serve with @serve.batch, Serve unbatched, and the raw model in-process.

All three run in one process on the same machine, one after another, with the same requests, the same batch
size and the same thread budget (1 torch thread); each figure is the median of three passes, so the ratios
compare like with like on a noisy machine.

    python benchmarks/expert_throughput.py [--requests 256] [--batch 16] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from pathlib import Path

from deployments.runtime import apply_env_defaults

apply_env_defaults()  # before anything imports ray.serve, which reads it once

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
REPEATS = 3
"""Each figure is the median of this many passes over all the requests."""


def requests(n: int):
    from deployments.artifacts import Text
    from deployments.backends.base import ExpertRequest

    return [ExpertRequest("sentence-similarity", {"text": Text(f"Request {i}: a photo of a dog on the beach."),
                                                  "text2": Text(f"Item {i}: a dog runs along the sea shore.")})
            for i in range(n)]


def raw_throughput(card, reqs, batch: int) -> float:
    from deployments.backends import backend_class
    from deployments.expert import limit_threads

    limit_threads(card.resources.threads)
    backend = backend_class(card.backend)(card)
    backend.load()
    backend.predict(reqs[:batch])  # warm up
    rates = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for i in range(0, len(reqs), batch):
            backend.predict(reqs[i : i + batch])
        rates.append(len(reqs) / (time.perf_counter() - started))
    return statistics.median(rates)

def serve_throughput(card, reqs, name: str) -> tuple[float, float]:
    from ray import serve

    from deployments.app import build_app

    serve.run(build_app([card]), name=name, route_prefix=None)
    handle = serve.get_deployment_handle(card.deployment_name, app_name=name)
    handle.remote(reqs[0]).result()  # warm up

    async def burst():
        started = time.perf_counter()
        results = await asyncio.gather(*[handle.remote(r) for r in reqs])
        elapsed = time.perf_counter() - started
        assert all(r.ok for r in results), results[0].error
        return elapsed, sum(r.batch_size for r in results) / len(results)

    runs, busy = [], []
    for _ in range(REPEATS):
        before = handle.info.remote().result()["busy_seconds"]
        runs.append(asyncio.run(burst()))
        busy.append(handle.info.remote().result()["busy_seconds"] - before)
    print(f"{name}: passes took {[round(r[0], 2) for r in runs]} s; replica busy {[round(b, 2) for b in busy]} s")
    elapsed = statistics.median(r[0] for r in runs)
    mean_batch = statistics.mean(r[1] for r in runs)
    serve.delete(name)
    return len(reqs) / elapsed, mean_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--wait", type=float, default=0.05, help="@serve.batch wait timeout in seconds")
    parser.add_argument("--out", default="benchmarks/results/expert_throughput.json")
    args = parser.parse_args()

    import ray
    from ray import serve

    from deployments.catalog import Batching, find_card, load_catalog
    from deployments.runtime import init_ray, start_serve

    card = find_card(load_catalog(), MODEL)
    batched = card.model_copy(update={"batching": Batching(max_batch_size=args.batch, batch_wait_timeout_s=args.wait),
                                      "max_ongoing_requests": args.requests})
    unbatched = card.model_copy(update={"batching": Batching(max_batch_size=1, batch_wait_timeout_s=0.0),
                                        "max_ongoing_requests": args.requests})
    reqs = requests(args.requests)

    init_ray(num_cpus=2, log_to_driver=False)
    start_serve()
    serve_batched, mean_batch = serve_throughput(batched, reqs, "bench-batched")
    serve_unbatched, _ = serve_throughput(unbatched, reqs, "bench-unbatched")
    serve.shutdown()
    ray.shutdown()
    raw = raw_throughput(card, reqs, args.batch)  # last, so the driver's own model does not compete with Serve
    raw_single = raw_throughput(card, reqs, 1)

    figures = {
        "model": MODEL,
        "requests": args.requests,
        "max_batch_size": args.batch,
        "batch_wait_timeout_s": args.wait,
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "raw_batched_in_process_rps": round(raw, 1),
        "raw_one_at_a_time_in_process_rps": round(raw_single, 1),
        "serve_batched_rps": round(serve_batched, 1),
        "serve_unbatched_rps": round(serve_unbatched, 1),
        "serve_batched_mean_batch_size": round(mean_batch, 2),
        "ratio_batched_to_raw": round(serve_batched / raw, 3),
        "ratio_batched_to_unbatched": round(serve_batched / serve_unbatched, 2),
        "ratio_raw_batched_to_raw_one_at_a_time": round(raw / raw_single, 2),
        "targets": {"ratio_batched_to_raw": ">= 0.7", "ratio_batched_to_unbatched": ">= 3"},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
