"""A live view of a run for the terminal: the plan's tasks, their models and their state as they change.

It consumes the run's events (``planned``, ``selected``, ``started``, ``finished``, ``failed``,
``skipped``, ``answered``) and redraws a rich table on stderr. On a terminal the table updates in place;
elsewhere (a pipe, a CI log) rich prints it once, when the run ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

STYLES = {"waiting": "dim", "running": "yellow", "ok": "green", "failed": "bold red", "skipped": "magenta"}


@dataclass
class Row:
    task_id: int
    task: str
    deps: list[int]
    model: str = ""
    state: str = "waiting"
    started: float | None = None
    seconds: float | None = None
    note: str = ""


@dataclass
class RunProgress:
    """Call it with each event; use it as a context manager around the run."""

    request: str
    console: Console = field(default_factory=lambda: Console(stderr=True))
    rows: dict[int, Row] = field(default_factory=dict)
    stage: str = "planning"
    _live: Live | None = None

    def __enter__(self) -> RunProgress:
        if not self.console.is_terminal:
            self.console.width = max(self.console.width, 140)  # a log file is not an 80-column screen
        self._live = Live(self.render(), console=self.console, refresh_per_second=8, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.__exit__(*exc)
            if not self.console.is_terminal:
                self.console.line()  # rich leaves the last line open off a terminal

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "planned":
            self.stage = "choosing models"
            for task in event["plan"]:
                deps = [d for d in task.get("dep", []) if d >= 0]
                self.rows[task["id"]] = Row(task["id"], task["task"], deps)
        elif kind == "selected":
            self.stage = "running"
            for task_id, model in event["selections"].items():
                if int(task_id) in self.rows:
                    self.rows[int(task_id)].model = model
        elif kind in ("started", "finished", "failed", "skipped") and event.get("task_id") in self.rows:
            row = self.rows[event["task_id"]]
            row.state = {"started": "running", "finished": "ok"}.get(kind, kind)
            if kind == "started":
                row.started = event.get("time", time.time())
            if kind == "finished":
                row.model = event.get("model") or row.model
                row.seconds = event.get("seconds")
            if kind in ("failed", "skipped"):
                row.note = str(event.get("error", ""))[:120]
        elif kind == "answered":
            self.stage = "answered"
        if self._live is not None:
            self._live.update(self.render())

    def render(self) -> Group:
        table = Table(title=None, expand=False, show_edge=False, pad_edge=False)
        notes = any(row.note for row in self.rows.values())
        for column in ("id", "task", "after", "model", "state", "s") + (("note",) if notes else ()):
            note = column == "note"
            table.add_column(column, no_wrap=not note, overflow="fold", min_width=12 if note else None)
        now = time.time()
        for row in self.rows.values():
            seconds = row.seconds if row.seconds is not None else (now - row.started if row.started else None)
            cells = [str(row.task_id), row.task, ",".join(map(str, row.deps)) or "-", row.model or "…",
                     Text(row.state, style=STYLES.get(row.state, "")), f"{seconds:.2f}" if seconds is not None else ""]
            table.add_row(*cells, *([row.note] if notes else []))
        done = sum(r.state in ("ok", "failed", "skipped") for r in self.rows.values())
        header = Text(f"{self.stage}: {done}/{len(self.rows)} tasks done", style="bold")
        return Group(header, table)
