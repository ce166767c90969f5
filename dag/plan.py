"""The plan schema, HuggingGPT's: ``[{"task": str, "id": int, "dep": [int], "args": {...}}]``.

``dep: [-1]`` means no dependency; ``"<GENERATED>-k"`` in an argument means the output of task k.
Keys a task carries beyond these four are kept (``extra="allow"``) so nothing an LLM or a data set wrote
is lost on the way through.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel

from dag.resources import references

NO_DEPENDENCY = -1


class Task(BaseModel):
    """One step of a plan: a task type, its id, the ids it waits for, and its arguments."""

    model_config = ConfigDict(extra="allow")

    task: str
    id: int
    dep: list[int] = Field(default_factory=lambda: [NO_DEPENDENCY])
    args: dict[str, Any] = Field(default_factory=dict)

    @property
    def deps(self) -> list[int]:
        """Declared dependencies without the ``-1`` placeholder."""
        return [d for d in self.dep if d != NO_DEPENDENCY]

    @property
    def referenced(self) -> list[int]:
        """Task ids whose outputs the arguments reference, in argument order, without repeats."""
        out: list[int] = []
        for value in self.args.values():
            out.extend(k for k in references(value) if k not in out)
        return out


class Plan(RootModel[list[Task]]):
    """An ordered list of tasks; the order is the LLM's and is kept."""

    def __iter__(self):  # type: ignore[override]
        return iter(self.root)

    def __len__(self) -> int:
        return len(self.root)

    def __getitem__(self, index: int) -> Task:
        return self.root[index]

    @property
    def tasks(self) -> list[Task]:
        return self.root

    def by_id(self) -> dict[int, Task]:
        """Tasks keyed by id; with duplicate ids the first one wins (validation reports duplicates)."""
        out: dict[int, Task] = {}
        for task in self.root:
            out.setdefault(task.id, task)
        return out

    def to_data(self) -> list[dict[str, Any]]:
        """Plain JSON-ready data, in the plan schema."""
        return [task.model_dump() for task in self.root]

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_data(), indent=indent, ensure_ascii=False)

    @classmethod
    def of(cls, tasks: list[dict[str, Any]] | list[Task]) -> Plan:
        """A plan from well-formed task dicts (use :func:`dag.parse.parse_plan` for LLM text)."""
        return cls.model_validate([t.model_dump() if isinstance(t, Task) else t for t in tasks])
