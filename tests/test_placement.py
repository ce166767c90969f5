"""GPU placement on a multi-node cluster with fake GPU resources (``ray.cluster_utils.Cluster``).

It runs in a child process: a Ray driver can join only one cluster, and the session's cluster is another.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

pytest.importorskip("cv2", reason="pip install opencv-python-headless (the embedded extra)")

SCRIPT = textwrap.dedent("""
    import json, ray
    from ray import serve
    from ray.cluster_utils import Cluster
    from deployments.app import build_app
    from deployments.catalog import ModelCard, Weights

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"head": 1}})
    gpu_node = cluster.add_node(num_cpus=1, num_gpus=1)
    from deployments.runtime import init_ray, start_serve
    init_ray(address=cluster.address, log_to_driver=False)
    start_serve()
    def card(model_id, gpus):
        return ModelCard(id=model_id, task="canny-control", backend="canny", weights=Weights(source="none"),
                         resources={"num_cpus": 0.25, "num_gpus": gpus, "memory_gb": 0})
    router = serve.run(build_app([card("gpu/expert", 0.5), card("cpu/expert", 0)]), name="experts",
                       route_prefix=None)
    infos = {i["model_id"]: i for i in router.infos.remote().result(timeout_s=120)}
    print("RESULT " + json.dumps({"gpu_node": gpu_node.node_id, "infos": infos}), flush=True)
    serve.shutdown(); ray.shutdown(); cluster.shutdown()
""")


def test_gpu_experts_land_on_the_gpu_node():
    # a private RAY_TMPDIR: cluster_utils records its cluster as "the machine's current one", which a plain
    # ray.init() elsewhere on the machine would then join
    ray_tmp = tempfile.mkdtemp(prefix="hgpl-", dir="/tmp")
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"} | {"RAY_TMPDIR": ray_tmp}
    try:
        done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    report = json.loads(line.removeprefix("RESULT "))
    gpu, cpu = report["infos"]["gpu/expert"], report["infos"]["cpu/expert"]
    assert gpu["node_id"] == report["gpu_node"]
    assert gpu["gpu_ids"]  # Ray assigned it a (fake) GPU
    assert cpu["gpu_ids"] == []
    assert cpu["node_id"] != report["gpu_node"]  # Ray keeps CPU-only work off GPU nodes
