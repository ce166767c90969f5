"""The four stages end to end: ``HuggingGPT(config).run(request, files=[...]) -> RunResult`` (and ``arun``).

Plan (embedded or LLM) → select a model per task → make sure those experts run on Serve → execute the DAG
on Ray → answer (the LLM's words, or a structured summary without one) → write the artifacts and the run
record (``run.json``) into the run's output folder.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dag.graph import build_graph
from dag.plan import Plan
from dag.validate import PlanReport, check_plan
from deployments.artifacts import Artifact, ArtifactError, Text, load_file, save
from deployments.catalog import DEFAULT_CATALOG, ModelCard, find_card, load_catalog
from orchestrator.demos import Demo, DemoBank
from orchestrator.executor import Candidate, ExecutionError, NodeOutcome, check_runnable, execute
from orchestrator.llm import RUN_RECORD, LLMClient, LLMConfig, LLMError
from orchestrator.planner import LLMPlanner, PlanningError
from orchestrator.selector import Selection, SelectionError, select_models

if TYPE_CHECKING:
    from orchestrator.embedded_planner import EmbeddedPlanner

RESPONSE_SYSTEM = ("#4 Response Generation Stage: With the task execution logs, the AI assistant needs to describe "
                   "the process and inference results.")
RESPONSE_PROMPT = (
    "Yes. Please first think carefully and directly answer my request based on the inference results. Some of the "
    "inferences may not always turn out to be correct and require you to make careful consideration in making "
    "decisions. Then please detail your workflow including the used models and inference results for my request "
    "in your friendly tone. Please filter out information that is not relevant to my request. Tell me the complete "
    "path or urls of files in inference results. If there is nothing in the results, please tell me you can't "
    "make it."
)


RUN_ERRORS = (PlanningError, SelectionError, ExecutionError, ArtifactError, LLMError)
"""What a run can end with whose message says what was wrong and what to do: the CLI, a batch and the
HTTP service report these as they are (anything else is a bug)."""


@dataclass
class Config:
    planner: str = "embedded"
    """``embedded`` (no LLM) or ``llm``."""
    llm: LLMConfig = field(default_factory=LLMConfig.from_env)
    catalog: str = str(DEFAULT_CATALOG)
    out_dir: str = "runs"
    address: str | None = None
    app_name: str = "experts"
    timeout_s: float = 120.0
    retries: int = 1
    demos: str | None = None
    """The demonstration bank (SQLite file); default ``$HUGGINGGPT_DEMOS`` or ``~/.cache/hugginggpt-ray``."""
    demos_k: int = 4
    """How many of the most similar demonstrations the LLM planner is shown."""
    read_named_files: bool = True
    """Also read files the request names by path (the CLI); a service sets False: only uploads are read."""
    learn: bool = True
    """Store runs whose tasks all passed their checks as demonstrations, so similar requests reuse the plan."""
    experts: list[str] | None = None
    """Model ids already running in ``app_name`` (a service's experts): use only these, deploy nothing."""


@dataclass
class RunResult:
    request: str
    plan: list[dict[str, Any]]
    edges: list[list[int]]
    selections: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    answer: str
    out_dir: str
    seconds: float
    llm_calls: list[dict[str, Any]] = field(default_factory=list)
    learned: bool = False
    """Whether this run became a new demonstration (every task ok and every check passed)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class HuggingGPT:
    """One orchestrator: keeps Ray, the planner's model and the experts up between requests."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self.cards = load_catalog(self.config.catalog)
        self._deployed: dict[str, ModelCard] = {}
        if self.config.experts is not None:
            self._deployed = {model_id: find_card(self.cards, model_id) for model_id in self.config.experts}
            self.cards = list(self._deployed.values())
        self.llm = LLMClient(self.config.llm) if self.config.planner == "llm" or self.config.llm.configured else None
        self._embedded = None
        self._bank = None
        self._lock = threading.RLock()
        """Concurrent runs (a batch, an HTTP service) share the planner, the bank and the deployed experts."""

    # ------------------------------------------------------------------ stages

    def plan(self, request: str, files: list[str] | tuple[str, ...] = (),
             context: list[dict[str, str]] | None = None) -> Plan:
        """Stage 1. ``context``: the chat so far (earlier messages), which the LLM planner is shown."""
        if self.config.planner == "llm":
            if self.llm is None:
                raise PlanningError("--planner llm needs an LLM: set --llm-base-url (or HUGGINGGPT_LLM_BASE_URL)")
            demos = self.demo_bank().retrieve(request, k=self.config.demos_k) if self.config.demos_k else []
            return LLMPlanner(self.llm).plan(request, context=context, demos=demos).plan
        with self._lock:
            if self._embedded is None:
                from orchestrator.embedded_planner import load_embedded_planner

                self._embedded = load_embedded_planner()
        report = self._embedded_plan(request, files)
        if not report.valid:
            raise PlanningError("the embedded planner made no runnable plan for this request",
                                report.plan.to_json(), [str(p) for p in report.problems])
        return report.plan

    def _embedded_plan(self, request: str, files: list[str] | tuple[str, ...]) -> PlanReport:
        """The embedded planner's plan, from the bank when it has a very similar demonstration."""
        bank = self.demo_bank() if self.config.demos_k else None
        return embedded_plan(self._embedded, request, files, bank)[0]

    def learn(self, request: str, plan: list[dict[str, Any]], good: bool = True, source: str = "user") -> bool:
        """Store a run's plan as a demonstration (``good``) or a counter-example; ``False`` if it was known."""
        return self.demo_bank().add(request, plan, kind="demo" if good else "counter", source=source)

    def demo_bank(self) -> DemoBank:
        """The demonstration bank, opened once, with the shipped demonstrations in it."""
        with self._lock:
            if self._bank is None:
                from orchestrator.demos import shipped_demos
                from orchestrator.embedded_planner import load_embed

                self._bank = DemoBank(self.config.demos, load_embed())
                self._bank.add_many(shipped_demos())
            return self._bank

    def _ensure_experts(self, selections: dict[int, Selection]) -> dict[int, list[Candidate]]:
        from ray import serve

        from deployments.app import build_app

        wanted = {model_id for s in selections.values() for model_id in s.ranked[:2]}
        with self._lock:  # one serve.run at a time, each with every expert any run needs
            if self.config.experts is not None:
                missing = wanted - set(self._deployed)
                if missing:
                    raise ExecutionError(f"models {sorted(missing)} are not among this service's experts")
            else:
                # what really runs in the app: another orchestrator on this cluster may have changed it
                running = self._running_cards()
                if wanted - set(running):
                    for model_id in wanted - set(running):
                        running[model_id] = find_card(self.cards, model_id)
                    serve.run(build_app(list(running.values())), name=self.config.app_name, route_prefix=None)
                self._deployed = running
        return {task_id: [Candidate(m, self._deployed[m].deployment_name) for m in s.ranked[:2]]
                for task_id, s in selections.items()}

    def _running_cards(self) -> dict[str, ModelCard]:
        """The catalog cards of the experts now deployed in this orchestrator's Serve application."""
        from ray import serve

        app = serve.status().applications.get(self.config.app_name)
        names = set(app.deployments) if app is not None else set()
        return {card.id: card for card in self.cards if card.deployment_name in names}

    def _files(self, paths: list[str], plan: Plan) -> dict[str, Artifact]:
        """The input files: those given, and those the plan names that exist here (loaded, never trusted blindly)."""
        named = {v for t in plan for v in t.args.values() if isinstance(v, str) and Path(v).suffix}
        if not self.config.read_named_files:
            named = set()
        files: dict[str, Artifact] = {}
        for name in dict.fromkeys([*paths, *sorted(named)]):
            path = Path(name)
            if path.is_file():
                try:
                    files[name] = load_file(path)
                except ArtifactError as err:
                    raise ArtifactError(f"{name}: {err}") from None
                files.setdefault(path.name, files[name])
        return files

    def respond(self, request: str, outcomes: dict[int, NodeOutcome], paths: dict[int, list[str]]) -> str:
        lines = []
        for task_id, outcome in sorted(outcomes.items()):
            if outcome.status != "ok":
                lines.append(f"task {task_id} ({outcome.task}) {outcome.status}: {outcome.error}")
                continue
            texts = [a for a in outcome.outputs if isinstance(a, Text)]
            shown = [texts[0].text] if texts else [outcome.outputs[0].describe()]
            files = f" → {', '.join(paths.get(task_id, []))}" if paths.get(task_id) else ""
            lines.append(f"task {task_id} ({outcome.task}, {outcome.model}): {' '.join(shown)[:500]}{files}")
        summary = "\n".join(lines)
        if self.llm is None:
            return summary
        messages = [{"role": "system", "content": RESPONSE_SYSTEM}, {"role": "user", "content": request},
                    {"role": "assistant", "content": summary}, {"role": "user", "content": RESPONSE_PROMPT}]
        return self.llm.chat(messages, stage="respond")

    # ------------------------------------------------------------------ the whole run

    def run(self, request: str, files: list[str] | tuple[str, ...] = (),
            on_event: Callable[[dict[str, Any]], None] | None = None,
            context: list[dict[str, str]] | None = None) -> RunResult:
        """Plan, select, execute and answer one request; writes the artifacts and ``run.json``."""
        return asyncio.run(self.arun(request, files, on_event, context))

    async def arun(self, request: str, files: list[str] | tuple[str, ...] = (),
                   on_event: Callable[[dict[str, Any]], None] | None = None,
                   context: list[dict[str, str]] | None = None) -> RunResult:
        """:meth:`run` for async callers (a web handler, a batch of concurrent requests): the DAG's tasks are
        coroutines on the caller's event loop; planning and selection run off it."""
        import ray

        from deployments.runtime import init_ray, start_serve

        started = time.perf_counter()
        emit = on_event or (lambda event: None)
        llm_calls: list = []
        RUN_RECORD.set(llm_calls)  # this coroutine's context: concurrent runs keep their own LLM records
        plan = await asyncio.to_thread(self.plan, request, files, context)
        graph = build_graph(plan)
        emit({"event": "planned", "plan": plan.to_data(), "edges": [list(e) for e in graph.edges]})
        selections = await asyncio.to_thread(select_models, plan, self.cards, request=request, llm=self.llm,
                                             deployed=set(self._deployed) if self.config.experts is not None else None)
        emit({"event": "selected", "selections": {k: v.model for k, v in selections.items()}})
        inputs = self._files(list(files), plan)
        if not ray.is_initialized():
            init_ray(address=self.config.address, log_to_driver=False)
            start_serve()
        candidates = await asyncio.to_thread(self._ensure_experts, selections)
        check_runnable(plan, candidates, inputs)
        outcomes = await execute(plan, candidates, inputs, app_name=self.config.app_name,
                                 timeout_s=self.config.timeout_s, retries=self.config.retries, on_event=emit)
        out = _run_folder(Path(self.config.out_dir))
        paths = {tid: [str(save(a, out / f"task-{tid}-{o.task}-{i}")) for i, a in enumerate(o.outputs)
                       if a.type in ("image", "audio")] for tid, o in outcomes.items()}
        answer = await asyncio.to_thread(self.respond, request, outcomes, paths)
        learned = False
        if self.config.learn and all(o.status == "ok" and all(c["ok"] for c in o.checks) for o in outcomes.values()):
            learned = await asyncio.to_thread(self.learn, request, plan.to_data(), True, "run")
        emit({"event": "answered", "answer": answer})
        result = RunResult(
            request=request, plan=plan.to_data(), edges=[list(e) for e in graph.edges],
            selections=[asdict(s) for s in selections.values()],
            tasks=[_task_record(outcomes[t.id], paths.get(t.id, [])) for t in plan],
            answer=answer, out_dir=str(out), seconds=round(time.perf_counter() - started, 3),
            llm_calls=[asdict(c) for c in llm_calls], learned=learned,
        )
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        return result


_PLANNING = ThreadPoolExecutor(max_workers=32, thread_name_prefix="embedded-plan")
"""Where the embedded planner plans clause by clause while the demonstration bank is searched (as many
threads as the service runs requests at once, twice its default ``--max-concurrent-runs``)."""


def embedded_plan(planner: EmbeddedPlanner, request: str, files: list[str] | tuple[str, ...] = (),
                  bank: DemoBank | None = None) -> tuple[PlanReport, Demo | None]:
    """The embedded planner's plan, with the demonstration it was adopted from: one at least
    ``planner.adopt_at`` similar in ``bank``, unless an equally similar request's same plan was marked bad,
    and only if the adopted plan validates; else the plan made clause by clause. Both need a MiniLM pass
    (the bank's query, the tagger's), so the clause-by-clause plan is made in another thread while the
    bank is searched: on two cores a bank adds a few milliseconds, not a second pass."""
    if bank is None:
        return check_plan(planner.plan(request, files)), None
    own = _PLANNING.submit(planner.plan, request, files)
    demos = bank.retrieve(request, k=1)
    if demos and demos[0].score >= planner.adopt_at:
        bad = {_shape(c.plan) for c in bank.retrieve(request, k=3, kind="counter") if c.score >= planner.adopt_at}
        if _shape(demos[0].plan) not in bad:
            report = check_plan(planner.plan(request, files, demos=demos))
            if report.valid:
                own.cancel()  # not needed; stops it only if it has not started
                return report, demos[0]
    return check_plan(own.result()), None


def _shape(plan: list[dict[str, Any]]) -> tuple:
    """A plan's tasks and dependencies, without arguments: what a counter-example rules out."""
    return tuple((t.get("task"), tuple(t.get("dep") or ())) for t in plan)


def _run_folder(root: Path) -> Path:
    """A new folder for one run's artifacts: a timestamp, with a suffix when runs start in the same second."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        folder = root / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise RuntimeError(f"could not make a run folder under {root}")


def _task_record(outcome: NodeOutcome, paths: list[str]) -> dict[str, Any]:
    outputs = []
    files = iter(paths)
    for artifact in outcome.outputs:
        entry: dict[str, Any] = {"type": artifact.type}
        if artifact.type in ("image", "audio"):
            entry["path"] = next(files)
        elif artifact.type == "text":
            entry["text"] = artifact.text
        else:
            entry["text"] = artifact.describe()
        outputs.append(entry)
    return {"id": outcome.task_id, "task": outcome.task, "model": outcome.model, "status": outcome.status,
            "seconds": round(outcome.seconds, 3), "error": outcome.error, "attempts": outcome.attempts,
            "checks": outcome.checks, "outputs": outputs}
