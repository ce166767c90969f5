"""Stage 3: run a plan's DAG on Ray, each task the moment its own inputs exist.

Every task becomes one Ray task whose arguments are the object references of the tasks it depends on,
so Ray itself starts it when those finish: no waves, no driver-side barrier, no polling. All tasks are
submitted at once; independent branches run concurrently. Outputs stay in Ray's object store and flow
along the edges by reference.

A task calls its expert's Serve deployment. On an error or a timeout it is retried once, then the next
candidate model is tried, then it is marked failed. A task whose input failed is skipped with the
reason; every other task completes, so a run returns partial results. Tasks report ``started`` and
``finished``/``failed``/``skipped`` events on a Ray queue for live displays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import ray

from dag.plan import Plan
from dag.registry import arg_modality, can_feed
from dag.resources import REFERENCE, file_modality, whole_reference
from deployments.artifacts import MODALITY_OF, Artifact, Json, Text
from deployments.backends.base import ExpertRequest


class ExecutionError(ValueError):
    """A plan that cannot start (a file it names was not given, a task without a model); says what to do."""


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
    app_name: str
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

    @property
    def seconds(self) -> float:
        return max(0.0, self.finished - self.started)


def _emit(events: Any, **event: Any) -> None:
    if events is not None:
        try:
            events.put_nowait({"time": time.time(), **event})
        except Exception:  # noqa: BLE001 - a full or gone event queue must not fail the task
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
"""Deployment handles of this worker process, reused across tasks: a new handle sets up its own router."""


def _handle(deployment: str, app_name: str) -> Any:
    from ray import serve

    key = (deployment, app_name)
    if key not in _HANDLES:
        _HANDLES[key] = serve.get_deployment_handle(deployment, app_name=app_name)
    return _HANDLES[key]


def _call(candidate: Candidate, spec: NodeSpec, inputs: dict[str, Artifact]) -> tuple[list[Artifact] | None, str]:
    try:
        handle = _handle(candidate.deployment, spec.app_name)
        response = handle.remote(ExpertRequest(spec.task, inputs))
        try:
            result = response.result(timeout_s=spec.timeout_s)
        except TimeoutError:
            response.cancel()
            return None, f"timed out after {spec.timeout_s:g} s"
    except Exception as err:  # noqa: BLE001 - a dead replica or a missing deployment is one failed attempt
        return None, f"{type(err).__name__}: {err}"
    if not result.ok:
        return None, result.error or "unknown error"
    if not result.outputs:
        return None, "the model returned no output"
    return result.outputs, ""


@ray.remote(num_cpus=0)
def run_node(spec: NodeSpec, files: dict[str, Artifact], events: Any, *upstream: NodeOutcome) -> NodeOutcome:
    """One plan task: wait (Ray does) for the upstream outcomes, then call the expert with retry and fallback."""
    started = time.time()
    outcome = NodeOutcome(spec.task_id, spec.task, "skipped", started=started)
    failed_inputs = [u for u in upstream if u.status != "ok"]
    if failed_inputs:
        outcome.error = "skipped: " + "; ".join(f"task {u.task_id} ({u.task}) {u.status}" for u in failed_inputs)
        outcome.finished = time.time()
        _emit(events, event="skipped", task_id=spec.task_id, task=spec.task, error=outcome.error)
        return outcome
    _emit(events, event="started", task_id=spec.task_id, task=spec.task)
    try:
        inputs = resolve_inputs(spec, files, {u.task_id: u for u in upstream})
    except (ValueError, KeyError) as err:
        outcome.status, outcome.error, outcome.finished = "failed", f"bad arguments: {err}", time.time()
        _emit(events, event="failed", task_id=spec.task_id, task=spec.task, error=outcome.error)
        return outcome
    for candidate in spec.candidates:
        for _ in range(1 + spec.retries):
            attempt_start = time.time()
            outputs, error = _call(candidate, spec, inputs)
            outcome.attempts.append({"model": candidate.model_id, "error": error or None,
                                     "seconds": round(time.time() - attempt_start, 4)})
            if outputs is not None:
                outcome.status, outcome.model, outcome.outputs = "ok", candidate.model_id, outputs
                outcome.finished = time.time()
                _emit(events, event="finished", task_id=spec.task_id, task=spec.task, model=candidate.model_id,
                      seconds=outcome.seconds)
                return outcome
    outcome.status = "failed"
    outcome.error = "; ".join(f"{a['model']}: {a['error']}" for a in outcome.attempts)
    outcome.finished = time.time()
    _emit(events, event="failed", task_id=spec.task_id, task=spec.task, error=outcome.error)
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
                                    f"given (input files: {given}); pass it with --file")
    return problems


def launch(plan: Plan, candidates: dict[int, list[Candidate]], files: dict[str, Artifact], *,
           app_name: str = "experts", timeout_s: float = 120.0, retries: int = 1,
           events: Any = None) -> dict[int, ray.ObjectRef]:
    """Submit every task of a (normalised, valid) plan at once; returns each task's outcome reference."""
    problems = missing_files(plan, files)
    missing = [t for t in plan if not candidates.get(t.id)]
    problems += [f"task {t.id} ({t.task}) has no model" for t in missing]
    if problems:
        raise ExecutionError("; ".join(problems))
    import networkx as nx

    from dag.graph import build_graph

    graph = build_graph(plan)
    files_ref = ray.put(files)
    refs: dict[int, ray.ObjectRef] = {}
    by_id = plan.by_id()
    for task_id in nx.topological_sort(graph):
        task = by_id[task_id]
        spec = NodeSpec(task.id, task.task, dict(task.args), task.deps, candidates[task.id], app_name,
                        timeout_s, retries)
        refs[task_id] = run_node.remote(spec, files_ref, events, *[refs[d] for d in task.deps])
    return refs
