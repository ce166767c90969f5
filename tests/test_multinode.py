"""Experts on a multi-node cluster (``ray.cluster_utils.Cluster``): placement, a DAG across nodes, a node lost
mid-batch.

The cluster runs in a child process (a Ray driver can join only one cluster, and the session's cluster is
another), once for the three tests: starting it and deploying costs ~20 s on 2 cores. The child prints a
``RESULT {json}`` line. ``RAY_TMPDIR`` points it at a private folder, so this cluster never becomes the
machine's "current" cluster (``/tmp/ray/ray_current_cluster``) that other processes' ``ray.init()`` would
join, and its shutdown does not delete another cluster's address file.

Placement is forced by logical resources alone (cards cannot ask for custom resources): the head has 0 CPUs
like ``cluster.yaml``'s, worker A 2 CPUs + 1 fake GPU + 1 GiB memory, worker B 2 CPUs. The GPU expert needs a
GPU (A); the CPU expert needs 2 GiB memory (B); the pool expert's 2 replicas need 1.5 CPUs each, so each
worker holds exactly one. Worker C joins after placement, so the replicas lost with B can restart only there.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
APP = "experts"
GIB = 1024**3


def _card(model_id: str, seconds: float, cpus: float, gpus: float = 0.0, memory_gb: float = 0.0, replicas: int = 1):
    from deployments.catalog import ModelCard, Weights

    return ModelCard(id=model_id, task="text2text-generation", backend="delay", weights=Weights(source="none"),
                     options={"seconds": seconds},
                     resources={"num_cpus": cpus, "num_gpus": gpus, "memory_gb": memory_gb},
                     autoscaling={"min_replicas": replicas, "max_replicas": replicas})


def _chain(length: int, text: str):
    """A plan 0 -> 1 -> ... whose text passes through every task (the delay expert echoes it)."""
    from dag.plan import Plan

    return Plan.of([{"task": "text2text-generation", "id": i, "dep": [i - 1] if i else [-1],
                     "args": {"text": f"<GENERATED>-{i - 1}" if i else text}} for i in range(length)])


def _outcomes(outcomes: dict) -> list[dict]:
    return [{"task_id": o.task_id, "status": o.status, "model": o.model, "error": o.error,
             "text": o.outputs[0].text if o.outputs else None, "attempts": o.attempts}
            for o in sorted(outcomes.values(), key=lambda o: o.task_id)]


def _replicas() -> dict[str, list[str]]:
    """Node ids of the live Serve actors, by deployment name (``ServeController`` for the controller)."""
    from ray.util.state import list_actors

    nodes: dict[str, list[str]] = {}
    for actor in list_actors(filters=[("state", "=", "ALIVE")], limit=1000):
        name = actor.class_name.split(":")[-1]
        nodes.setdefault(name, []).append(actor.node_id)
    return nodes


def _wait_for(deployment: str, replicas: int, timeout_s: float) -> float:
    """Seconds until ``deployment`` has ``replicas`` RUNNING replicas and as many live actors."""
    from ray import serve

    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        status = serve.status().applications[APP].deployments[deployment]
        if status.replica_states.get("RUNNING", 0) == replicas and len(_replicas().get(deployment, [])) == replicas:
            return time.perf_counter() - started
        time.sleep(0.5)
    raise TimeoutError(f"{deployment}: not {replicas} running replicas after {timeout_s} s: {status}")


async def _batch_losing_a_node(cluster, node, pool, plans: int, remove_after_s: float) -> dict:
    """``plans`` two-task plans on the pool expert at once; ``node`` is removed while they run."""
    from orchestrator.executor import execute

    started = time.perf_counter()
    runs = [asyncio.ensure_future(execute(_chain(2, f"request {k}"), {0: [pool], 1: [pool]}, {}, app_name=APP,
                                          timeout_s=60, retries=1)) for k in range(plans)]
    await asyncio.sleep(remove_after_s)
    await asyncio.to_thread(cluster.remove_node, node)
    removed_at = time.perf_counter() - started
    done = await asyncio.gather(*runs)
    return {"removed_at_s": round(removed_at, 2), "seconds": round(time.perf_counter() - started, 2),
            "plans": [_outcomes(outcomes) for outcomes in done]}


def _scenario(cluster, started: float) -> dict:
    from ray import serve

    from deployments.app import build_app
    from deployments.runtime import init_ray, start_serve
    from orchestrator.executor import Candidate, run_plan

    worker_a = cluster.add_node(num_cpus=2, num_gpus=1, memory=GIB)
    worker_b = cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    init_ray(address=cluster.address, log_to_driver=False)
    start_serve()
    nodes = {"head": cluster.head_node.node_id, "a": worker_a.node_id, "b": worker_b.node_id}
    timings = {"cluster_s": round(time.perf_counter() - started, 1)}

    cards = [_card("test/gpu-delay", 0.2, cpus=0.1, gpus=0.5), _card("test/cpu-delay", 0.2, cpus=0.1, memory_gb=2),
             _card("test/pool-delay", 1.0, cpus=1.5, replicas=2)]
    gpu, cpu, pool = (Candidate(card.id, card.deployment_name) for card in cards)
    mark = time.perf_counter()
    router = serve.run(build_app(cards), name=APP, route_prefix=None)
    timings["deploy_s"] = round(time.perf_counter() - mark, 1)
    placed = _replicas()
    infos = {info["model_id"]: info for info in router.infos.remote().result(timeout_s=60)}

    mark = time.perf_counter()
    across = run_plan(_chain(3, "across nodes"), {0: [gpu], 1: [cpu], 2: [gpu]}, {}, app_name=APP,
                      timeout_s=30, retries=1)
    timings["dag_s"] = round(time.perf_counter() - mark, 2)
    served = {info["model_id"]: info["served"] for info in router.infos.remote().result(timeout_s=60)}

    worker_c = cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    nodes["c"] = worker_c.node_id
    batch = asyncio.run(_batch_losing_a_node(cluster, worker_b, pool, plans=8, remove_after_s=1.5))
    timings["healed_s"] = round(_wait_for(pool.deployment, 2, timeout_s=60), 1)
    healed = _replicas()
    timings["total_s"] = round(time.perf_counter() - started, 1)
    return {"nodes": nodes, "placed": placed, "infos": infos, "across": _outcomes(across), "served": served,
            "batch": batch, "healed": healed, "timings": timings}


def child() -> None:
    """Runs in the child process: the cluster, the three scenarios, a ``RESULT`` line; always shuts down."""
    import ray
    from ray import serve
    from ray.cluster_utils import Cluster

    started = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        result = _scenario(cluster, started)
    finally:
        if ray.is_initialized():
            serve.shutdown()
            ray.shutdown()
        cluster.shutdown()
    print("RESULT " + json.dumps(result), flush=True)


@pytest.fixture(scope="module")
def report() -> dict:
    ray_tmp = tempfile.mkdtemp(prefix="hgmn-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = ray_tmp
    process = subprocess.Popen([sys.executable, "-m", "tests.test_multinode"], cwd=REPO, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the child and the Ray processes it started
        stdout, stderr = process.communicate()
        pytest.fail(f"the multi-node child ran past 300 s:\n{stderr[-3000:]}")
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert process.returncode == 0, stderr[-4000:]
    line = next(line for line in stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_gpu_expert_on_the_gpu_node_and_nothing_on_the_zero_cpu_head(report):
    nodes, placed, infos = report["nodes"], report["placed"], report["infos"]
    gpu, cpu = infos["test/gpu-delay"], infos["test/cpu-delay"]
    assert gpu["node_id"] == nodes["a"] and gpu["gpu_ids"]  # Ray gave it the (fake) GPU
    assert cpu["node_id"] == nodes["b"] and cpu["gpu_ids"] == []
    assert sorted(placed["test--pool-delay"]) == sorted([nodes["a"], nodes["b"]])
    # a 0-CPU head (cluster.yaml's) still runs Serve's controller; no expert replica lands on it
    assert placed["ServeController"] == [nodes["head"]]
    experts = [node for name, where in placed.items() if name.startswith("test--") for node in where]
    assert len(experts) == 4 and nodes["head"] not in experts


def test_a_dag_runs_across_nodes(report):
    across, infos, served = report["across"], report["infos"], report["served"]
    assert [o["status"] for o in across] == ["ok", "ok", "ok"], across
    assert across[-1]["text"] == "across nodes"
    assert [o["model"] for o in across] == ["test/gpu-delay", "test/cpu-delay", "test/gpu-delay"]
    # one replica each, so the replica that served a task is the one infos() names, on its node
    assert served["test/gpu-delay"] - infos["test/gpu-delay"]["served"] == 2
    assert served["test/cpu-delay"] - infos["test/cpu-delay"]["served"] == 1
    assert len({infos["test/gpu-delay"]["node_id"], infos["test/cpu-delay"]["node_id"]}) == 2


def test_a_node_lost_mid_batch_loses_no_request(report):
    batch, nodes = report["batch"], report["nodes"]
    assert batch["removed_at_s"] < batch["seconds"] - 1  # the node went while calls were still running
    for k, plan in enumerate(batch["plans"]):
        assert [o["status"] for o in plan] == ["ok", "ok"], plan
        assert plan[-1]["text"] == f"request {k}"
    failed = [a for plan in batch["plans"] for o in plan for a in o["attempts"] if a["error"]]
    assert failed, "no call was running on the removed node: the test proved nothing"
    assert all("Died" in a["error"] for a in failed), failed
    # Serve replaced the lost replica on the node that had room
    assert sorted(report["healed"]["test--pool-delay"]) == sorted([nodes["a"], nodes["c"]])


if __name__ == "__main__":
    child()
