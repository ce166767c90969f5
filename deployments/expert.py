"""One expert model as its own Ray Serve deployment: own replicas, autoscaling, resources and batching.

The deployment class is generic; a model card parameterises it. Each replica loads its backend once,
runs inference on one worker thread so the event loop stays free for Serve's queue-length probes and
health checks (blocking the loop on 2 cores made those probes time out), and batches concurrent
requests with ``@serve.batch`` when the backend gains from it. A request that fails comes back as an
:class:`ExpertResult` with ``error`` naming the model and the problem; the replica keeps serving.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ray import serve

from deployments.artifacts import Audio, Image, Json, Text
from deployments.backends import backend_class
from deployments.backends.base import ExpertError, ExpertRequest, ExpertResult
from deployments.catalog import ModelCard
from deployments.routing import ROUTER_PATH

_ARTIFACT_TYPES = (Text, Image, Audio, Json)


def limit_threads(threads: int) -> None:
    """Cap the math libraries' threads in this process, so replicas sharing a node do not oversubscribe it."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


class ExpertDeployment:
    """Serves one model card. Call it with an :class:`ExpertRequest`; it answers an :class:`ExpertResult`."""

    def __init__(self, card: dict[str, Any]) -> None:
        self.card = ModelCard.model_validate(card)
        limit_threads(self.card.resources.threads)
        backend_type = backend_class(self.card.backend)
        self.backend = backend_type(self.card)
        started = time.perf_counter()
        self.backend.load()
        self.load_seconds = time.perf_counter() - started
        self.tasks = set(backend_type.tasks) | {self.card.task}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"expert-{self.card.deployment_name}")
        self.batched = backend_type.batched and self.card.batching.max_batch_size > 1
        self.predict_batch.set_max_batch_size(max(1, self.card.batching.max_batch_size))
        self.predict_batch.set_batch_wait_timeout_s(self.card.batching.batch_wait_timeout_s)
        self.served = 0
        self.replica = _replica_id()
        self.busy_seconds = 0.0
        self.batch_sizes: collections.deque[int] = collections.deque(maxlen=1000)
        """The latest batches' sizes (bounded: a replica may serve for months)."""

    async def __call__(self, request: ExpertRequest) -> ExpertResult:
        problem = self._check(request)
        if problem:
            return ExpertResult(model_id=self.card.id, error=f"{self.card.id}: {problem}", replica=self.replica)
        if self.batched:
            return await self.predict_batch(request)
        loop = asyncio.get_running_loop()
        return (await loop.run_in_executor(self._worker, self._run, [request]))[0]

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def predict_batch(self, requests: list[ExpertRequest]) -> list[ExpertResult]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._run, requests)

    def _check(self, request: Any) -> str | None:
        if not isinstance(request, ExpertRequest):
            return f"expected an ExpertRequest, got {type(request).__name__}"
        if request.task not in self.tasks:
            return f"this model does {', '.join(sorted(self.tasks))}, not {request.task!r}"
        for name, value in request.inputs.items():
            if not isinstance(value, _ARTIFACT_TYPES):
                return f"input {name!r} is {type(value).__name__}, not an artifact (Text, Image, Audio, Json)"
        return None

    def _run(self, requests: list[ExpertRequest]) -> list[ExpertResult]:
        """Inference for a batch on the worker thread; any failure becomes an error result, never a crash."""
        started = time.perf_counter()
        try:
            outcomes = self.backend.predict(requests)
        except Exception as err:  # noqa: BLE001 - a model failure must not take the replica down
            outcomes = [RuntimeError(f"model failed: {type(err).__name__}: {err}")] * len(requests)
        seconds = time.perf_counter() - started
        self.busy_seconds += seconds
        self.served += len(requests)
        self.batch_sizes.append(len(requests))
        results = []
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                kind = "bad input" if isinstance(outcome, ExpertError) else "error"
                results.append(ExpertResult(self.card.id, error=f"{self.card.id}: {kind}: {outcome}",
                                            seconds=seconds, batch_size=len(requests), replica=self.replica))
            else:
                results.append(ExpertResult(self.card.id, outputs=list(outcome), seconds=seconds,
                                            batch_size=len(requests), replica=self.replica))
        return results

    def check_health(self) -> None:
        self.backend.health()

    async def info(self) -> dict[str, Any]:
        """What this replica serves and has done: for ``hugginggpt experts up`` and the tests."""
        import ray

        return {
            "model_id": self.card.id,
            "tasks": sorted(self.tasks),
            "replica": self.replica,
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "load_seconds": round(self.load_seconds, 3),
            "served": self.served,
            "busy_seconds": round(self.busy_seconds, 3),
            "batch_sizes": list(self.batch_sizes),
            "gpu_ids": ray.get_gpu_ids(),
        }


def _replica_id() -> str:
    """This replica's id (``""`` outside Serve, e.g. when a test builds the class directly)."""
    try:
        return serve.get_replica_context().replica_id.unique_id
    except Exception:  # noqa: BLE001 - no replica context
        return ""


def deployment_options(card: ModelCard) -> dict[str, Any]:
    """Serve deployment options for a card: name, resources, request limits, replicas or autoscaling."""
    actor: dict[str, Any] = {"num_cpus": card.resources.num_cpus}
    if card.resources.num_gpus:
        actor["num_gpus"] = card.resources.num_gpus
    if card.resources.memory_gb:
        actor["memory"] = int(card.resources.memory_gb * 1024**3)
    options: dict[str, Any] = {
        "name": card.deployment_name,
        "ray_actor_options": actor,
        "max_ongoing_requests": card.max_ongoing_requests,
        "max_queued_requests": card.max_queued_requests,
        "health_check_period_s": 10,
    }
    if os.environ.get("HUGGINGGPT_ROUTER", "least-ongoing") != "serve-default":
        options["request_router_config"] = {"request_router_class": ROUTER_PATH}
    scaling = card.autoscaling
    if scaling.min_replicas == scaling.max_replicas:
        options["num_replicas"] = scaling.max_replicas
    else:
        options["autoscaling_config"] = {
            "min_replicas": scaling.min_replicas,
            "initial_replicas": max(scaling.min_replicas, 1),
            "max_replicas": scaling.max_replicas,
            "target_ongoing_requests": scaling.target_ongoing_requests,
        }
    return options


def expert_deployment(card: ModelCard) -> serve.Deployment:
    """The Serve deployment for one card (not yet bound or running)."""
    return serve.deployment(ExpertDeployment).options(**deployment_options(card))
