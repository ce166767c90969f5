"""Shared fixtures: TaskBench data from ../shared (skipped with a reason when absent)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
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


# ---------------------------------------------------------------- the HTTP service (test_ingress, test_web)

SIGN = REPO / "examples" / "sign.png"
OCR, TTS = "RapidAI/RapidOCR-PP-OCRv4", "rhasspy/piper-en_US-joe-medium"
TOKEN = "test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def file_host():
    """A plain HTTP server for the examples folder: the one host the service may fetch URLs from."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SIGN.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def service(tmp_path_factory, file_host):
    """`hugginggpt serve` in a child process (its own Ray, a Serve proxy on a free port), for the session."""
    port = free_port()
    runs = tmp_path_factory.mktemp("service-runs")
    log = open(runs.parent / "service.log", "w")
    child = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "serve", "--port", str(port), "--model", OCR, "--model", TTS,
         "--token", TOKEN, "--allow-url-host", file_host, "--runs", str(runs), "--max-concurrent-runs", "1",
         "--max-body-mb", "1"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "RAY_ADDRESS": ""})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            if child.poll() is not None:
                pytest.fail("the service exited:\n" + Path(log.name).read_text()[-3000:])
            try:
                if httpx.get(base + "/v1/models", headers=auth(), timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            pytest.fail("the service did not answer in 240 s:\n" + Path(log.name).read_text()[-3000:])
        yield base
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
        log.close()


def auth() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"}
