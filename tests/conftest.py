"""Shared fixtures: TaskBench data from ../shared (skipped with a reason when absent)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# the demonstration bank of this test session, never the user's own
os.environ["HUGGINGGPT_DEMOS"] = str(Path(tempfile.mkdtemp(prefix="hugginggpt-test-")) / "demos.sqlite")

REPO = Path(__file__).resolve().parents[1]
TASKBENCH = Path(os.environ.get("TASKBENCH_DIR", REPO.parent / "shared" / "taskbench" / "huggingface"))


@pytest.fixture(scope="session")
def taskbench_dir() -> Path:
    if not (TASKBENCH / "dev.jsonl").exists():
        pytest.skip(f"TaskBench data not found at {TASKBENCH} (set TASKBENCH_DIR to its huggingface/ folder)")
    return TASKBENCH


@pytest.fixture(scope="session")
def taskbench_records(taskbench_dir: Path) -> list[dict]:
    with open(taskbench_dir / "dev.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="session")
def tool_desc(taskbench_dir: Path) -> dict[str, dict]:
    data = json.loads((taskbench_dir / "tool_desc.json").read_text(encoding="utf-8"))
    return {node["id"]: node for node in data["nodes"]}


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster (2 CPUs) and Serve without an HTTP proxy, for the whole test session."""
    import ray
    from ray import serve

    from deployments.runtime import init_ray, start_serve

    init_ray(num_cpus=2, log_to_driver=False)
    start_serve()
    yield ray
    serve.shutdown()
    ray.shutdown()


@pytest.fixture
def serve_apps(ray_cluster):
    """Serve on the session cluster; every application a test started is deleted after it."""
    from ray import serve

    yield serve
    for name in list(serve.status().applications):
        serve.delete(name)


@pytest.fixture(scope="session")
def embed():
    """The bundled MiniLM sentence embedder, loaded once for the session."""
    from orchestrator.embedded_planner import load_embed

    return load_embed()
