"""The DAG executor on real Ray and Serve, with the embedded experts."""

import pytest
import ray
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from dag.plan import Plan
from deployments.app import build_app
from deployments.artifacts import Image
from deployments.catalog import ModelCard, Weights, find_card, load_catalog
from orchestrator.executor import Candidate, ExecutionError, run_plan

OCR = "RapidAI/RapidOCR-PP-OCRv4"
TTS = "rhasspy/piper-en_US-joe-medium"
CANNY = "opencv/canny-edge-detector"


def _sign(text: str) -> Image:
    picture = PILImage.new("RGB", (800, 200), "white")
    ImageDraw.Draw(picture).text((30, 70), text, fill="black", font=ImageFont.load_default(size=48))
    return Image.from_pil(picture)


@pytest.fixture(scope="module")
def experts(ray_cluster):
    from ray import serve

    catalog = load_catalog()
    cards = {i: find_card(catalog, i) for i in (OCR, TTS, CANNY)}
    serve.run(build_app(list(cards.values())), name="experts", route_prefix=None)
    yield {i: Candidate(i, c.deployment_name) for i, c in cards.items()}
    serve.delete("experts")


def run(plan, candidates, files, **kw):
    seen = []
    outcomes = run_plan(Plan.of(plan), candidates, files, on_event=seen.append, **kw)
    return outcomes, seen


def test_chain_passes_outputs_along_the_edges(experts):
    plan = [{"task": "image-to-text", "id": 0, "args": {"image": "sign.png"}},
            {"task": "text-to-speech", "id": 1, "dep": [0], "args": {"text": "<GENERATED>-0"}}]
    outcomes, events = run(plan, {0: [experts[OCR]], 1: [experts[TTS]]}, {"sign.png": _sign("OPEN LATE")})
    assert outcomes[0].status == "ok" and "OPEN LATE" in outcomes[0].outputs[0].text
    assert outcomes[1].status == "ok" and outcomes[1].outputs[0].type == "audio"
    assert outcomes[1].outputs[0].seconds > 0.5
    assert outcomes[1].started >= outcomes[0].finished - 0.01  # it waited for its own input
    assert [(e["event"], e["task_id"]) for e in events if e["event"] in ("started", "finished")] == [
        ("started", 0), ("finished", 0), ("started", 1), ("finished", 1)]


def test_independent_branches_overlap(experts):
    plan = [{"task": "image-to-text", "id": 0, "args": {"image": "sign.png"}},
            {"task": "text-to-speech", "id": 1,
             "args": {"text": "Independent branches of a plan run at the same time on the cluster."}}]
    outcomes, _ = run(plan, {0: [experts[OCR]], 1: [experts[TTS]]}, {"sign.png": _sign("PARALLEL")})
    a, b = outcomes[0], outcomes[1]
    assert a.status == b.status == "ok"
    assert max(a.started, b.started) < min(a.finished, b.finished)  # the two intervals overlap


def test_failure_falls_back_then_skips_only_descendants(experts):
    wrong = experts[CANNY]  # a real expert that cannot do image-to-text: every call to it fails
    plan = [{"task": "image-to-text", "id": 0, "args": {"image": "a.png"}},
            {"task": "image-to-text", "id": 1, "args": {"image": "b.png"}},
            {"task": "text-to-speech", "id": 2, "dep": [1], "args": {"text": "<GENERATED>-1"}},
            {"task": "text-to-speech", "id": 3, "args": {"text": "still here"}}]
    files = {"a.png": _sign("FALLBACK"), "b.png": _sign("NEVER")}
    outcomes, events = run(plan, {0: [wrong, experts[OCR]], 1: [wrong], 2: [experts[TTS]], 3: [experts[TTS]]},
                           files, retries=1)
    assert outcomes[0].status == "ok" and outcomes[0].model == OCR
    assert [a["model"] for a in outcomes[0].attempts] == [CANNY, CANNY, OCR]  # retried once, then fell back
    assert outcomes[1].status == "failed" and "not 'image-to-text'" in outcomes[1].error
    assert outcomes[2].status == "skipped" and "task 1" in outcomes[2].error
    assert outcomes[3].status == "ok"
    assert {e["event"] for e in events if e["task_id"] == 2} == {"skipped"}


def test_missing_input_file_is_an_early_clear_error(experts):
    plan = [{"task": "image-to-text", "id": 0, "args": {"image": "nowhere.png"}}]
    with pytest.raises(ExecutionError, match="nowhere.png.*--file"):
        run_plan(Plan.of(plan), {0: [experts[OCR]]}, {})


@pytest.fixture(scope="module")
def slow_expert(ray_cluster):
    from ray import serve

    card = ModelCard(id="test/slow", task="text2text-generation", backend="delay", weights=Weights(source="none"),
                     options={"seconds": 2.0}, resources={"num_cpus": 0.05, "memory_gb": 0})
    serve.run(build_app([card]), name="slow", route_prefix=None)
    yield Candidate(card.id, card.deployment_name)
    serve.delete("slow")


def test_a_node_past_its_timeout_is_retried_then_failed_and_its_descendants_skipped(slow_expert):
    plan = [{"task": "text2text-generation", "id": 0, "args": {"text": "too slow"}},
            {"task": "text2text-generation", "id": 1, "dep": [0], "args": {"text": "<GENERATED>-0"}}]
    outcomes, _ = run(plan, {0: [slow_expert], 1: [slow_expert]}, {}, app_name="slow", timeout_s=0.3, retries=1)
    assert outcomes[0].status == "failed"
    assert [a["error"] for a in outcomes[0].attempts] == ["timed out after 0.3 s"] * 2
    assert outcomes[1].status == "skipped" and "task 0" in outcomes[1].error


def test_a_replica_killed_mid_call_does_not_use_up_the_retries(slow_expert):
    import threading
    import time

    from ray import serve
    from ray.serve._private.common import DeploymentID, ReplicaID

    info = serve.get_deployment_handle(slow_expert.deployment, app_name="slow").info.remote().result()
    replica = ReplicaID(info["replica"], DeploymentID(slow_expert.deployment, "slow"))
    plan = [{"task": "text2text-generation", "id": 0, "args": {"text": "survive"}}]
    result = {}
    worker = threading.Thread(target=lambda: result.update(run(plan, {0: [slow_expert]}, {}, app_name="slow",
                                                               timeout_s=60, retries=0)[0]))
    worker.start()
    time.sleep(0.8)  # the call is running on the replica
    ray.kill(ray.get_actor(replica.to_full_id_str(), namespace="serve"), no_restart=True)
    worker.join(timeout=90)
    outcome = result[0]
    assert outcome.status == "ok" and outcome.outputs[0].text == "survive"
    # with no retries at all, the lost replica's attempt still gets a second one: the model did not fail
    assert len(outcome.attempts) == 2 and "Died" in outcome.attempts[0]["error"], outcome.attempts


def test_an_implausible_result_fails_its_check_and_falls_back(experts):
    from PIL import Image as PILImage

    blank = Image.from_pil(PILImage.new("RGB", (400, 120), "white"))  # OCR of it "succeeds" with no text
    plan = [{"task": "image-to-text", "id": 0, "args": {"image": "blank.png"}},
            {"task": "text-to-speech", "id": 1, "dep": [0], "args": {"text": "<GENERATED>-0"}}]
    outcomes, _ = run(plan, {0: [experts[OCR]], 1: [experts[TTS]]}, {"blank.png": blank}, retries=0)
    assert outcomes[0].status == "failed"
    assert "result check failed: text not empty (0 characters)" in outcomes[0].error
    assert [c["name"] for c in outcomes[0].checks if not c["ok"]] == ["text not empty"]
    assert outcomes[1].status == "skipped"
    ok, _ = run([plan[0]], {0: [experts[OCR]]}, {"blank.png": _sign("CHECKED")})
    assert ok[0].status == "ok" and all(c["ok"] for c in ok[0].checks) and len(ok[0].checks) >= 3
