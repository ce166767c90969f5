"""Validate a plan against the task registry and report every problem at once.

Each problem names the task, its kind, what is wrong and how to fix it, as text for people and as data
for the planner, which feeds the list back to the LLM. Kinds: ``unknown_task``, ``missing_argument``,
``modality_mismatch``, ``missing_reference``, ``duplicate_id``, ``cycle``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import networkx as nx

from dag.normalize import normalize_plan
from dag.parse import parse_plan
from dag.plan import Plan, Task
from dag.registry import REGISTRY, TaskRegistry, arg_modality, can_feed, numbered_arg_names
from dag.resources import file_modality, ref, whole_reference

PROBLEM_KINDS = (
    "unknown_task",
    "missing_argument",
    "modality_mismatch",
    "missing_reference",
    "duplicate_id",
    "cycle",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a plan."""

    task_id: int | None
    kind: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"task {self.task_id}" if self.task_id is not None else "plan"
        text = f"{where}: [{self.kind}] {self.message}"
        return f"{text} Fix: {self.hint}" if self.hint else text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_plan(plan: Plan, registry: TaskRegistry = REGISTRY) -> list[Problem]:
    """Every problem of a (normalised) plan, in task order; an empty list means it can run."""
    problems: list[Problem] = []
    tasks = plan.by_id()
    seen: Counter[int] = Counter()
    for task in plan:
        seen[task.id] += 1
        if seen[task.id] == 2:
            problems.append(Problem(
                task.id, "duplicate_id",
                f"{sum(1 for t in plan if t.id == task.id)} tasks have id {task.id}.",
                "Give every task its own id and point each reference at the one meant.",
            ))
    for task in plan:
        if seen[task.id] > 1 and tasks[task.id] is not task:
            continue  # a duplicate: reported once above
        problems.extend(_task_problems(task, tasks, registry))
    problems.extend(_cycles(plan))
    return problems


def _task_problems(task: Task, tasks: dict[int, Task], registry: TaskRegistry) -> list[Problem]:
    problems: list[Problem] = []
    task_type = registry.get(task.task)
    if task_type is None:
        near = registry.suggest(task.task)
        problems.append(Problem(
            task.id, "unknown_task",
            f"unknown task {task.task!r}.",
            f"Use one of the registry's tasks{': did you mean ' + ' or '.join(map(repr, near)) + '?' if near else '.'}",
        ))
    for missing in sorted(set(task.deps) | set(task.referenced)):
        if missing not in tasks:
            problems.append(Problem(
                task.id, "missing_reference",
                f"it depends on task {missing} ({ref(missing)}), but the plan has no task {missing}.",
                f"Point it at one of the tasks {sorted(tasks)} or remove the reference.",
            ))
    if task_type is None:
        return problems

    given: Counter[str] = Counter()
    for key, value in task.args.items():
        modality = arg_modality(key)
        if modality is None or value in ("", None, []):
            continue
        given[modality] += 1
        problems.extend(_modality_problems(task, key, modality, value, task_type, tasks, registry))
    for modality, count in task_type.required_counts().items():
        if given[modality] < count:
            names = numbered_arg_names(task_type.inputs)
            wanted = [n for n, m in zip(names, task_type.inputs) if m == modality][given[modality]:]
            problems.append(Problem(
                task.id, "missing_argument",
                f"{task_type.id} needs {count} {modality} argument{'s' if count > 1 else ''}; "
                f"it has {given[modality]}.",
                f"Add {' and '.join(repr(w) for w in wanted)}: {_a(modality)} value or a <GENERATED>-k reference "
                f"to a task that outputs {modality}.",
            ))
    return problems


def _modality_problems(task, key, modality, value, task_type, tasks, registry) -> list[Problem]:
    accepted = set(task_type.inputs) | set(task_type.optional)
    if modality not in accepted:
        return [Problem(
            task.id, "modality_mismatch",
            f"argument {key!r} is {modality}, but {task_type.id} takes only {' and '.join(sorted(accepted))}.",
            f"Remove {key!r}, or use a task that takes {modality}.",
        )]
    source_id = whole_reference(value)
    if source_id is not None and source_id in tasks:
        source_type = registry.get(tasks[source_id].task)
        if source_type and not any(can_feed(out, modality) for out in source_type.outputs):
            return [Problem(
                task.id, "modality_mismatch",
                f"argument {key!r} takes {modality} from task {source_id}, but {source_type.id} outputs "
                f"{' and '.join(source_type.outputs)}, not {modality}.",
                f"Reference a task that outputs {modality}, or insert one that turns "
                f"{source_type.outputs[0]} into {modality}.",
            )]
    literal = file_modality(value)
    if literal is not None and literal != modality:
        return [Problem(
            task.id, "modality_mismatch",
            f"argument {key!r} should be {modality}, but {value!r} is {_a(literal)} file.",
            f"Pass it as {literal!r} to a task that takes {literal}, or give {_a(modality)} file.",
        )]
    return []


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _cycles(plan: Plan) -> list[Problem]:
    graph = nx.DiGraph()
    ids = {t.id for t in plan}
    for task in plan:
        graph.add_node(task.id)
        for d in set(task.deps) | set(task.referenced):
            if d in ids:
                graph.add_edge(d, task.id)
    problems = []
    for cycle in sorted(nx.simple_cycles(graph), key=lambda c: (len(c), min(c)))[:5]:
        start = cycle.index(min(cycle))
        cycle = cycle[start:] + cycle[:start]
        path = " → ".join(str(i) for i in [*cycle, cycle[0]])
        problems.append(Problem(
            min(cycle), "cycle",
            f"tasks depend on each other in a cycle: {path}.",
            "A task may only use outputs of tasks that can finish before it; remove one of these dependencies.",
        ))
    return problems


@dataclass
class PlanReport:
    """A plan read from text: the normalised plan, every problem, and what was repaired on the way."""

    plan: Plan
    problems: list[Problem] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if not self.valid:
            kinds = Counter(p.kind for p in self.problems)
            listed = ", ".join(f"{n} {k}" for k, n in kinds.items())
            return f"invalid plan: {len(self.problems)} problem{'s' if len(self.problems) > 1 else ''} ({listed})"
        edges = sum(len(t.deps) for t in self.plan)
        names = ", ".join(dict.fromkeys(t.task for t in self.plan)) or "nothing to do"
        return (f"valid plan: {len(self.plan)} task{'s' if len(self.plan) != 1 else ''}, "
                f"{edges} dependenc{'ies' if edges != 1 else 'y'} ({names})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "problems": [p.to_dict() for p in self.problems],
            "plan": self.plan.to_data(),
            "repairs": self.repairs,
            "warnings": self.warnings,
        }


def check_plan(source: str | list | dict | Plan, registry: TaskRegistry = REGISTRY) -> PlanReport:
    """Parse (with repairs), normalise and validate a plan. Raises PlanParseError on unreadable text."""
    if isinstance(source, Plan):
        plan, repairs = source, []
    else:
        parsed = parse_plan(source)
        plan, repairs = parsed.plan, parsed.repairs
    normal = normalize_plan(plan, registry)
    return PlanReport(
        plan=normal.plan,
        problems=validate_plan(normal.plan, registry),
        repairs=repairs,
        warnings=normal.warnings,
    )
