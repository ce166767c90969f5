"""Batch throughput: requests per second of ``hugginggpt batch`` against concurrency and expert replicas.

The README's OCR → TTS request ("Read the text in examples/sign.png aloud"; ``--mix`` alternates it with the
ASR → NER one) runs through :func:`orchestrator.batch.run_batch` at each concurrency (1, 2, 4, 8) with the
experts at 1 and at 2 replicas each (the model cards' autoscaling set to min = max = replicas), in one run on
one Ray cluster: both replica counts are deployed side by side (two Serve applications) and their cells
alternate, so a load that comes and goes on the machine touches both alike. Beside each cell: the
single-request latency at that replica count (median of sequential runs), the latency under load, the speedup
over concurrency 1, and requests/s × single latency, the number of requests effectively overlapping (the
ideal is min(concurrency, what the cores allow)).

    python benchmarks/batch_throughput.py [--requests 12] [--concurrency 1 2 4 8] [--replicas 1 2] [--mix]
        [--out benchmarks/results/batch_throughput.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from deployments.runtime import apply_env_defaults

apply_env_defaults()  # before anything imports ray.serve, which reads it once

REPO = Path(__file__).resolve().parents[1]
SIGN = "Read the text in examples/sign.png aloud"
MEETING = "Transcribe examples/meeting.wav and list the people and places mentioned"
LATENCY_REPEATS = 3


def write_catalog(path: Path, replicas: int) -> Path:
    """The shipped catalog with every card at a fixed replica count."""
    from deployments.catalog import DEFAULT_CATALOG, load_catalog

    lines = []
    for card in load_catalog(DEFAULT_CATALOG):
        card.autoscaling.min_replicas = card.autoscaling.max_replicas = replicas
        lines.append(card.model_dump_json())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def items(n: int, mix: bool, prefix: str):
    from orchestrator.batch import BatchItem

    requests = [SIGN, MEETING] if mix else [SIGN]
    return [BatchItem(f"{prefix}-{i}", requests[i % len(requests)]) for i in range(n)]


def single_latency(hugginggpt, mix: bool) -> float:
    """Median seconds of one request alone (sequential, warm experts)."""
    seconds = []
    for i in range(LATENCY_REPEATS):
        started = time.perf_counter()
        result = hugginggpt.run(MEETING if mix and i % 2 else SIGN)
        assert all(t["status"] == "ok" for t in result.tasks), result.tasks
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def cell(hugginggpt, n: int, concurrency: int, mix: bool, scratch: Path) -> dict:
    from orchestrator.batch import run_batch

    out = scratch / f"out-{time.monotonic_ns()}.jsonl"
    summary = asyncio.run(run_batch(hugginggpt, items(n, mix, f"c{concurrency}"), out, concurrency))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.failed == 0 and len(records) == n, [r["error"] for r in records if r["error"]]
    return {"wall_s": summary.seconds, "requests_per_s": round(summary.requests_per_second, 3),
            "latency_under_load_s": round(statistics.median(r["seconds"] for r in records), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=12, help="requests per cell")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--mix", action="store_true", help="alternate the OCR → TTS and ASR → NER requests")
    parser.add_argument("--out", default="benchmarks/results/batch_throughput.json")
    args = parser.parse_args()
    out_file = Path(args.out).resolve()

    import ray
    from ray import serve

    from deployments.runtime import init_ray, start_serve
    from orchestrator.pipeline import Config, HuggingGPT

    os.chdir(REPO)  # the requests name examples/… relative to the repository
    scratch = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    init_ray(num_cpus=2, log_to_driver=False)
    start_serve()
    rows, started, load_before = [], time.perf_counter(), os.getloadavg()[0]
    bots = {}
    for replicas in args.replicas:  # every replica count up at once: cells alternate, sharing any background load
        config = Config(catalog=str(write_catalog(scratch / f"catalog-r{replicas}.jsonl", replicas)),
                        out_dir=str(scratch / "runs"), app_name=f"bench-r{replicas}")
        bots[replicas] = HuggingGPT(config)
        cell(bots[replicas], 2, 2, args.mix, scratch)  # deploy the experts, load the models, warm the routers
    latency = {replicas: single_latency(bot, args.mix) for replicas, bot in bots.items()}
    base: dict[int, float] = {}
    for concurrency in args.concurrency:
        for replicas, bot in bots.items():
            row = {"replicas": replicas, "concurrency": concurrency, "requests": args.requests,
                   "single_latency_s": round(latency[replicas], 3),
                   **cell(bot, args.requests, concurrency, args.mix, scratch)}
            base.setdefault(replicas, row["requests_per_s"])
            row["speedup_vs_concurrency_1"] = round(row["requests_per_s"] / base[replicas], 2)
            row["overlap"] = round(row["requests_per_s"] * latency[replicas], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    for row in rows:  # the same concurrency with 1 replica, when it was measured
        one = next((r for r in rows if r["replicas"] == 1 and r["concurrency"] == row["concurrency"]), None)
        if one:
            row["ratio_vs_1_replica"] = round(row["requests_per_s"] / one["requests_per_s"], 2)
    serve.shutdown()
    ray.shutdown()
    result = {"machine": f"{os.cpu_count()} cores", "request": "mix of OCR→TTS and ASR→NER" if args.mix else SIGN,
              "latency_repeats": LATENCY_REPEATS, "seconds": round(time.perf_counter() - started, 1),
              "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
              "note": "other jobs on the machine show as a load average above the core count", "rows": rows}
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
