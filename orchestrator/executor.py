"""Stage 3: run a plan's DAG on the experts' Serve deployments, each task the moment its own inputs exist.

Every plan task is one coroutine that awaits the coroutines of the tasks it depends on and then calls its
expert's deployment handle; all of them start at once on one event loop, so a task begins the instant its
last input is done: no waves, no barrier between levels, no polling. Independent branches are concurrent
calls to Ray Serve, which places them on the cluster's replicas; artifacts travel to the replicas as
Ray objects (Serve passes large arguments through the object store), never through a shared folder.

Why coroutines and not a Ray task per node: that design (measured in ``benchmarks/``) paid for a Ray
worker process per concurrently running node, 50–80 ms per node in a fan-out and ~2 s of process start-up
before eight parallel branches got going. A node's work is waiting on a remote expert, which a coroutine
does for microseconds of CPU; the experts themselves are where Ray schedules the compute.

On an error or a timeout a task is retried, then the next candidate model is tried, then it is marked
failed. A task whose input failed is skipped with the reason; every other task completes, so a run
returns partial results. ``started`` and ``finished``/``failed``/``skipped`` events go to a callback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dag.plan import Plan
from dag.registry import arg_modality, can_feed
from dag.resources import REFERENCE, file_modality, whole_reference
from deployments.artifacts import MODALITY_OF, Artifact, Json, Text
from deployments.backends.base import ExpertRequest
from orchestrator.checks import Check, check_outputs, failures


class ExecutionError(ValueError):
    """A plan that cannot start (a file it names was not given, a task without a model); says what to do."""


LOST_REPLICA = ("ActorDiedError", "ActorUnavailableError")
"""Attempt errors that mean the replica's process or node went away, not that the model failed."""
MAX_LOST_REPLICAS = 3
"""Such attempts per model that do not count against ``retries`` (a node drained mid-run, then another)."""


@dataclass
class Candidate:
    model_id: str
    deployment: str


@dataclass
class NodeSpec:
    """What one Ray task needs to run one plan task."""

    task_id: int
    task: str
    args: dict[str, Any]
    deps: list[int]
    candidates: list[Candidate]
    timeout_s: float
    retries: int


@dataclass
class NodeOutcome:
    task_id: int
    task: str
    status: str
    """``ok``, ``failed`` or ``skipped``."""
    model: str | None = None
    outputs: list[Artifact] = field(default_factory=list)
    error: str | None = None
    started: float = 0.0
    finished: float = 0.0
    attempts: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    """The result checks of the last attempt that returned outputs (``orchestrator/checks.py``)."""

    @property
    def seconds(self) -> float:
        return max(0.0, self.finished - self.started)


EventSink = Callable[[dict[str, Any]], None]


def _emit(on_event: EventSink | None, **event: Any) -> None:
    if on_event is not None:
        try:
            on_event({"time": time.time(), **event})
        except Exception:  # noqa: BLE001 - a failing display must not fail the task
            pass


def _output_for(modality: str, outcome: NodeOutcome) -> Artifact | None:
    """The first output of an upstream task that can fill an argument of ``modality``."""
    for artifact in outcome.outputs:
        if can_feed(MODALITY_OF[artifact.type], modality):
            return artifact
    return None


def _as_text(artifact: Artifact) -> str:
    return artifact.text if isinstance(artifact, Text) else artifact.describe()


def resolve_inputs(spec: NodeSpec, files: dict[str, Artifact], upstream: dict[int, NodeOutcome]) -> dict[str, Artifact]:
    """The task's arguments as artifacts: references replaced by upstream outputs, files by their contents."""
    inputs: dict[str, Artifact] = {}
    for key, value in spec.args.items():
        modality = arg_modality(key) or "text"
        source = whole_reference(value)
        if source is not None:
            artifact = _output_for(modality, upstream[source])
            if artifact is None:
                produced = ", ".join(a.type for a in upstream[source].outputs) or "nothing"
                raise ValueError(f"argument {key!r} wants {modality} from task {source}, which produced {produced}")
            inputs[key] = artifact
        elif isinstance(value, str) and REFERENCE.search(value):
            inputs[key] = Text(REFERENCE.sub(
                lambda m: _as_text(_output_for("text", upstream[int(m.group(1))]) or Text("")), value))
        elif isinstance(value, str) and value in files:
            inputs[key] = files[value]
        elif modality == "text":
            inputs[key] = Text(value) if isinstance(value, str) else Json(value)
        else:
            raise ValueError(f"argument {key!r} names {value!r}, which is not one of the input files")
    return inputs


_HANDLES: dict[tuple[str, str], Any] = {}
"""Deployment handles of this process, reused across runs: a new handle sets up its own router."""


def _handle(deployment: str, app_name: str) -> Any:
    from ray import serve

    key = (deployment, app_name)
    if key not in _HANDLES:
        _HANDLES[key] = serve.get_deployment_handle(deployment, app_name=app_name)
    return _HANDLES[key]


async def _call(candidate: Candidate, spec: NodeSpec, inputs: dict[str, Artifact],
                app_name: str) -> tuple[list[Artifact] | None, str, list[Check]]:
    """One attempt on one model: its outputs, or ``None`` and what went wrong; and the result checks."""
    try:
        response = _handle(candidate.deployment, app_name).remote(ExpertRequest(spec.task, inputs))
        try:
            result = await asyncio.wait_for(response, timeout=spec.timeout_s)  # a DeploymentResponse is awaitable
        except (TimeoutError, asyncio.TimeoutError):
            response.cancel()
            return None, f"timed out after {spec.timeout_s:g} s", []
    except Exception as err:  # noqa: BLE001 - a dead replica or a missing deployment is one failed attempt
        first_line = (str(err).strip().splitlines() or [""])[0]
        return None, f"{type(err).__name__}: {first_line[:300]}", []
    if not result.ok:
        return None, result.error or "unknown error", []
    checks = check_outputs(spec.task, result.outputs)
    failed = failures(checks)
    if failed:
        return None, f"result check failed: {failed}", checks
    return result.outputs, "", checks


async def run_node(spec: NodeSpec, files: dict[str, Artifact], upstream: list[asyncio.Task], app_name: str,
                   on_event: EventSink | None = None) -> NodeOutcome:
    """One plan task: await its upstream tasks, then call the expert with retry and fallback."""
    done: list[NodeOutcome] = list(await asyncio.gather(*upstream)) if upstream else []
    started = time.time()
    outcome = NodeOutcome(spec.task_id, spec.task, "skipped", started=started)
    failed_inputs = [u for u in done if u.status != "ok"]
    if failed_inputs:
        outcome.error = "skipped: " + "; ".join(f"task {u.task_id} ({u.task}) {u.status}" for u in failed_inputs)
        outcome.finished = time.time()
        _emit(on_event, event="skipped", task_id=spec.task_id, task=spec.task, error=outcome.error)
        return outcome
    _emit(on_event, event="started", task_id=spec.task_id, task=spec.task)
    try:
        inputs = resolve_inputs(spec, files, {u.task_id: u for u in done})
    except (ValueError, KeyError) as err:
        outcome.status, outcome.error, outcome.finished = "failed", f"bad arguments: {err}", time.time()
        _emit(on_event, event="failed", task_id=spec.task_id, task=spec.task, error=outcome.error)
        return outcome
    for candidate in spec.candidates:
        tries, lost_replicas = 0, 0
        while tries <= spec.retries:
            attempt_start = time.time()
            outputs, error, checks = await _call(candidate, spec, inputs, app_name)
            outcome.attempts.append({"model": candidate.model_id, "error": error or None,
                                     "seconds": round(time.time() - attempt_start, 4)})
            if checks:
                outcome.checks = [c.to_dict() for c in checks]
            if error.startswith(LOST_REPLICA) and lost_replicas < MAX_LOST_REPLICAS:
                lost_replicas += 1  # the model did not fail, its node went away: Serve replaces the replica
                continue
            tries += 1
            if outputs is not None:
                outcome.status, outcome.model, outcome.outputs = "ok", candidate.model_id, outputs
                outcome.finished = time.time()
                _emit(on_event, event="finished", task_id=spec.task_id, task=spec.task, model=candidate.model_id,
                      seconds=round(outcome.seconds, 4))
                return outcome
    outcome.status = "failed"
    outcome.error = "; ".join(f"{a['model']}: {a['error']}" for a in outcome.attempts)
    outcome.finished = time.time()
    _emit(on_event, event="failed", task_id=spec.task_id, task=spec.task, error=outcome.error)
    return outcome


def missing_files(plan: Plan, files: dict[str, Artifact]) -> list[str]:
    """Problems with the plan's file arguments: each image/audio literal must name one of the input files."""
    problems = []
    for task in plan:
        for key, value in task.args.items():
            modality = arg_modality(key)
            if modality in ("image", "audio", "video") and isinstance(value, str) and whole_reference(value) is None:
                if value not in files:
                    kind = file_modality(value) or modality
                    given = ", ".join(sorted(files)) or "none"
                    problems.append(f"task {task.id} ({task.task}) needs the {kind} file {value!r}, which was not "
                                    f"given (input files: {given}); pass it with --file (in a batch: the line's "
                                    '"files"), or upload it')
    return problems


def check_runnable(plan: Plan, candidates: dict[int, list[Candidate]], files: dict[str, Artifact]) -> None:
    """Raise :class:`ExecutionError` naming every file that is missing and every task without a model."""
    problems = missing_files(plan, files)
    problems += [f"task {t.id} ({t.task}) has no model" for t in plan if not candidates.get(t.id)]
    if problems:
        raise ExecutionError("; ".join(problems))


async def execute(plan: Plan, candidates: dict[int, list[Candidate]], files: dict[str, Artifact], *,
                  app_name: str = "experts", timeout_s: float = 120.0, retries: int = 1,
                  on_event: EventSink | None = None) -> dict[int, NodeOutcome]:
    """Run a (normalised, valid) plan: every task starts when its own inputs are done; returns every outcome.

    Raises :class:`ExecutionError` before anything runs when a named file is missing or a task has no model.
    """
    check_runnable(plan, candidates, files)
    import networkx as nx

    from dag.graph import build_graph

    graph = build_graph(plan)
    by_id = plan.by_id()
    nodes: dict[int, asyncio.Task] = {}
    for task_id in nx.topological_sort(graph):
        task = by_id[task_id]
        spec = NodeSpec(task.id, task.task, dict(task.args), task.deps, candidates[task.id], timeout_s, retries)
        nodes[task_id] = asyncio.ensure_future(
            run_node(spec, files, [nodes[d] for d in task.deps], app_name, on_event))
    outcomes = await asyncio.gather(*nodes.values())
    return {outcome.task_id: outcome for outcome in outcomes}


def run_plan(plan: Plan, candidates: dict[int, list[Candidate]], files: dict[str, Artifact],
             **kwargs: Any) -> dict[int, NodeOutcome]:
    """:func:`execute` for synchronous callers (a CLI, a benchmark, a test)."""
    return asyncio.run(execute(plan, candidates, files, **kwargs))
