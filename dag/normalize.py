"""Normalise a parsed plan the way HuggingGPT does before it runs one.

* task names become registry ids (``"Image Classification"`` → ``image-classification``);
* an argument that joins several references with commas (``"<GENERATED>-0,<GENERATED>-1"``) is unfolded
  into one copy of the task per reference, as HuggingGPT's ``unfold`` does;
* a reference to the task itself, or to a task listed after it, is dropped with a warning;
* ``dep`` becomes the declared dependencies united with the referenced tasks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dag.plan import NO_DEPENDENCY, Plan, Task
from dag.registry import REGISTRY, TaskRegistry
from dag.resources import REFERENCE, ref, references

_JOINED = re.compile(r"^\s*<GENERATED>-\d+(?:\s*,\s*<GENERATED>-\d+)+\s*$")


@dataclass
class NormalizedPlan:
    plan: Plan
    warnings: list[str] = field(default_factory=list)


def normalize_plan(plan: Plan, registry: TaskRegistry = REGISTRY) -> NormalizedPlan:
    """A new plan, normalised; the input is left as it was."""
    warnings: list[str] = []
    tasks = [task.model_copy(deep=True) for task in plan]
    for task in tasks:
        known = registry.get(task.task)
        if known is not None and known.id != task.task:
            warnings.append(f"task {task.id}: task name {task.task!r} read as {known.id!r}")
            task.task = known.id
    tasks = _unfold(tasks, warnings)
    position = {}
    for index, task in enumerate(tasks):
        position.setdefault(task.id, index)
    for index, task in enumerate(tasks):
        _drop_bad_references(task, index, position, warnings)
        declared = [d for d in task.deps if d != task.id]
        if len(declared) < len(task.deps):
            warnings.append(f"task {task.id}: dropped its dependency on itself")
        merged = sorted(set(declared) | set(task.referenced))
        task.dep = merged or [NO_DEPENDENCY]
    return NormalizedPlan(plan=Plan(tasks), warnings=warnings)


def _unfold(tasks: list[Task], warnings: list[str]) -> list[Task]:
    """One copy of a task per reference where an argument joins several; copies get fresh ids."""
    next_id = max((t.id for t in tasks), default=-1) + 1
    out: list[Task] = []
    pending = list(tasks)
    while pending:
        task = pending.pop(0)
        joined = next((k for k, v in task.args.items() if isinstance(v, str) and _JOINED.match(v)), None)
        if joined is None:
            out.append(task)
            continue
        parts = [p.strip() for p in task.args[joined].split(",")]
        copies = []
        for i, part in enumerate(parts):
            copy = task.model_copy(deep=True)
            copy.args[joined] = part
            if i > 0:
                copy.id = next_id
                next_id += 1
            copies.append(copy)
        ids = ", ".join(str(c.id) for c in copies)
        warnings.append(
            f"task {task.id}: argument {joined!r} joins {len(parts)} references; "
            f"unfolded into tasks {ids}, one per reference"
        )
        pending[:0] = copies  # a copy may hold another joined argument
    return out


def _drop_bad_references(task: Task, index: int, position: dict[int, int], warnings: list[str]) -> None:
    """Remove references to the task itself and to tasks listed after it."""
    for key in list(task.args):
        value = task.args[key]
        bad = [
            k for k in references(value)
            if k == task.id or (k in position and position[k] > index)
        ]
        if not bad:
            continue
        for k in dict.fromkeys(bad):
            why = "itself" if k == task.id else f"task {k}, which comes later in the plan"
            warnings.append(f"task {task.id}: argument {key!r} referred to {why} ({ref(k)}); reference dropped")
        if isinstance(value, str):
            kept = REFERENCE.sub(lambda m, bad=bad: "" if int(m.group(1)) in bad else m.group(0), value).strip()
            if kept:
                task.args[key] = kept
            else:
                del task.args[key]
        else:
            del task.args[key]
