"""Batch workloads: ``hugginggpt batch IN.jsonl --out OUT.jsonl [--resume] [--concurrency N]``.

Every input line ``{"id", "request", "files": [...]}`` becomes one output line: the run record of
``hugginggpt run --json`` plus ``"id"`` and ``"error": null``, or ``{"id", "request", "error"}`` when the
request failed. All requests share one :class:`~orchestrator.pipeline.HuggingGPT` on one event loop, so the
experts' deployments batch across requests, and at most ``concurrency`` run at once.

Nothing is lost: each line is appended, flushed and fsync'd as its request finishes, so a job that is killed
(even with ``kill -9``) keeps every finished result; ``--resume`` drops a half-written last line and runs only
the ids not yet in OUT, which leaves every input id exactly once in OUT.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from orchestrator.pipeline import HuggingGPT


class BatchInputError(ValueError):
    """An input or output file the batch cannot use; the message names the file and line."""


@dataclass(frozen=True)
class BatchItem:
    """One input line: the request to run, its files, and where it came from (for messages)."""

    id: str | int
    request: str
    files: list[str] = field(default_factory=list)
    line: int = 0

    @property
    def key(self) -> str:
        """The id as compared with OUT's ids (``7`` and ``"7"`` are the same request)."""
        return str(self.id)


@dataclass
class BatchSummary:
    done: int = 0
    """Requests finished in this call, failed ones included."""
    failed: int = 0
    seconds: float = 0.0

    @property
    def requests_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def line(self, skipped: int = 0) -> str:
        resumed = f", {skipped} already in OUT" if skipped else ""
        return (f"batch: {self.done} done, {self.failed} failed{resumed}, {self.seconds:.1f} s, "
                f"{self.requests_per_second:.2f} requests/s")


# ---------------------------------------------------------------------------------------------- input


def read_requests(path: str | Path) -> list[BatchItem]:
    """Every request of a JSON-lines file, in order; blank lines are skipped.

    Raises :class:`BatchInputError` naming the line for malformed JSON, a line without ``id`` or ``request``,
    ``files`` that is not a list of paths, and an id used twice — before anything runs.
    """
    items: list[BatchItem] = []
    seen: dict[str, int] = {}
    try:
        handle = open(path, encoding="utf-8")
    except OSError as err:
        raise BatchInputError(f"cannot read {path}: {err.strerror}") from None
    with handle:
        try:
            for number, text in enumerate(handle, 1):
                if not text.strip():
                    continue
                item = _parse_line(path, number, text)
                if item.key in seen:
                    raise BatchInputError(f"{path}, line {number}: id {item.id!r} was already used on line "
                                          f"{seen[item.key]}; every request needs its own id")
                seen[item.key] = number
                items.append(item)
        except UnicodeDecodeError:
            raise BatchInputError(f"{path} is not UTF-8 text; give one JSON object per line") from None
    return items


def _parse_line(path: str | Path, number: int, text: str) -> BatchItem:
    where = f"{path}, line {number}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise BatchInputError(f"{where}: not valid JSON ({err.msg} at column {err.colno}); give one object "
                              'per line such as {"id": "a1", "request": "...", "files": []}') from None
    if not isinstance(data, dict):
        raise BatchInputError(f"{where}: expected a JSON object with id and request, got {type(data).__name__}")
    missing = [key for key in ("id", "request") if key not in data]
    if missing:
        raise BatchInputError(f"{where}: no {' and no '.join(missing)}; every line needs an id and a request")
    ident, request, files = data["id"], data["request"], data.get("files") or []
    if isinstance(ident, bool) or not isinstance(ident, str | int) or str(ident) == "":
        raise BatchInputError(f"{where}: id must be a non-empty string or an integer, got {ident!r}")
    if not isinstance(request, str) or not request.strip():
        raise BatchInputError(f"{where}: request must be non-empty text")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise BatchInputError(f"{where}: files must be a list of paths")
    return BatchItem(ident, request, list(files), number)


# ---------------------------------------------------------------------------------------------- output


def completed_ids(out_path: str | Path) -> set[str]:
    """The ids already in OUT (as strings). A last line without its newline is what ``kill -9`` leaves of
    a write in flight: OUT is truncated back to its last complete line, so that request runs again."""
    path = Path(out_path)
    if not path.exists():
        return set()
    _drop_torn_tail(path)
    ids: set[str] = set()
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                ids.add(str(record["id"]))
            except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError):
                raise BatchInputError(f"{path}, line {number}: not a result line of hugginggpt batch; "
                                      "give --out a results file of this batch or a new path") from None
    return ids


def _drop_torn_tail(path: Path) -> None:
    """Cut ``path`` after its last newline (a no-op for a file that ends in one)."""
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "r+b") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        keep, position = 0, size
        while position > 0:  # scan back in blocks for the last newline
            start = max(0, position - 65536)
            handle.seek(start)
            block = handle.read(position - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            position = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())


class ResultWriter:
    """The one writer of OUT: appends a line, flushes and fsyncs it before the next one starts."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "ab")
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            self._handle.write(line)  # one write call per line: a crash leaves at most one torn line, the last
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        with self._lock:
            self._handle.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------- running


async def run_one(hugginggpt: HuggingGPT, item: BatchItem, known: tuple[type[Exception], ...] = ()) -> dict:
    """The output line of one request: its run record, or its error. Unexpected exceptions are recorded
    with their type too, so one odd request cannot stop a batch of thousands."""
    try:
        result = await hugginggpt.arun(item.request, files=item.files)
    except known as err:
        return {"id": item.id, "request": item.request, "error": str(err)}
    except Exception as err:  # noqa: BLE001 - recorded in OUT with its type; the batch goes on
        return {"id": item.id, "request": item.request, "error": f"{type(err).__name__}: {err}"}
    return {"id": item.id, **result.to_dict(), "error": None}


async def run_batch(hugginggpt: HuggingGPT, items: Iterable[BatchItem], out_path: str | Path, concurrency: int = 4,
                    on_result: Callable[[dict[str, Any]], None] | None = None) -> BatchSummary:
    """Run ``items`` with at most ``concurrency`` in flight, appending each line to OUT as it finishes.

    ``concurrency`` workers pull from one queue: the same bound as a semaphore around ``arun``, without a
    waiting coroutine per request (a batch may hold millions). Lines land in the order requests finish.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    from orchestrator.pipeline import RUN_ERRORS
    pending = iter(items)
    summary = BatchSummary()
    started = time.perf_counter()

    async def worker(writer: ResultWriter) -> None:
        for item in pending:  # one event loop: next() is never called by two workers at once
            record = await run_one(hugginggpt, item, RUN_ERRORS)
            await asyncio.to_thread(writer.write, record)
            summary.done += 1
            summary.failed += record["error"] is not None
            if on_result is not None:
                on_result(record)

    with ResultWriter(out_path) as writer:
        await asyncio.gather(*(worker(writer) for _ in range(concurrency)))
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def pending_items(items: list[BatchItem], done: set[str]) -> list[BatchItem]:
    return [item for item in items if item.key not in done]


# ---------------------------------------------------------------------------------------------- progress


class BatchProgress:
    """A rich progress bar on stderr: requests done of the total, failed, requests per second.

    Off a terminal (``ray job logs``, a CI log) a bar would only show at the end, so a plain status line is
    printed instead, at most every ``every_s`` seconds and once at the end."""

    def __init__(self, total: int, already: int = 0, every_s: float = 10.0) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.total, self.already, self.every_s = total, already, every_s
        self.started = self._printed = time.perf_counter()
        self.done = self.failed = 0
        self.console = Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"), TextColumn("{task.fields[rate]} requests/s"),
            TimeElapsedColumn(), console=self.console, transient=False)
        self._task = self._progress.add_task("batch", total=total, completed=already, failed=0, rate="-")

    def __enter__(self) -> BatchProgress:
        if self.console.is_terminal:
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.console.is_terminal:
            self._progress.__exit__(*exc)
        elif self.done:
            self._print_status()

    @property
    def rate(self) -> float:
        return self.done / max(time.perf_counter() - self.started, 1e-9)

    def __call__(self, record: dict[str, Any]) -> None:
        self.done += 1
        self.failed += record.get("error") is not None
        self._progress.update(self._task, advance=1, failed=self.failed, rate=f"{self.rate:.2f}")
        if not self.console.is_terminal and time.perf_counter() - self._printed >= self.every_s:
            self._print_status()

    def _print_status(self) -> None:
        self._printed = time.perf_counter()
        self.console.print(f"batch: {self.already + self.done}/{self.total} done, {self.failed} failed, "
                           f"{self.rate:.2f} requests/s", soft_wrap=True, highlight=False)


# ---------------------------------------------------------------------------------------------- command


def _prepare(in_path: str, out_path: str, resume: bool) -> tuple[list[BatchItem], set[str]]:
    """Read the requests and what OUT already holds; any problem ends the command before Ray starts."""
    try:
        items = read_requests(in_path)
        out = Path(out_path)
        if not resume and out.exists() and out.stat().st_size > 0:
            raise BatchInputError(f"{out_path} already holds results; add --resume to run only the missing ids, "
                                  "or give --out another path (results are never overwritten)")
        if out.exists() and not out.is_file():
            raise BatchInputError(f"{out_path} is not a file; give --out a file path")
        done = completed_ids(out) if resume else set()
    except BatchInputError as err:
        from orchestrator.cli import _fail  # here: cli imports this module

        _fail(str(err))
    return items, done


@click.command("batch")
@click.argument("in_path", metavar="IN.jsonl", type=click.Path(dir_okay=False))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Results, one JSON line per request (appended as each finishes).")
@click.option("--resume", is_flag=True, help="Keep OUT and run only the ids not in it yet.")
@click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True,
              help="Requests in flight at once.")
@click.option("--planner", type=click.Choice(["embedded", "llm"]), default="embedded", show_default=True)
@click.option("--llm-base-url", default=None, help="OpenAI-compatible base URL (default: $HUGGINGGPT_LLM_BASE_URL).")
@click.option("--llm-model", default=None, help="The LLM's model name (default: $HUGGINGGPT_LLM_MODEL).")
@click.option("--address", default=None, envvar="RAY_ADDRESS", help="Ray cluster (default: a local one).")
@click.option("--runs", "runs_dir", default="runs", show_default=True, help="Where runs write their artifacts.")
def batch_command(in_path: str, out_path: str, resume: bool, concurrency: int, planner: str,
                  llm_base_url: str | None, llm_model: str | None, address: str | None, runs_dir: str) -> None:
    """Run every request of IN.jsonl (lines {"id", "request", "files": [...]}) and append one result line per
    request to OUT: the run record with "error": null, or {"id", "request", "error"}.

    Failed requests do not stop the batch (exit 0); problems with the input do (exit 2, naming the line).
    A killed job loses nothing that finished: run it again with --resume."""
    from deployments.runtime import quiet_serve_logs
    from orchestrator.llm import LLMConfig
    from orchestrator.pipeline import Config, HuggingGPT

    items, done = _prepare(in_path, out_path, resume)
    todo = pending_items(items, done)
    skipped = len(items) - len(todo)
    summary = BatchSummary()
    if todo:
        config = Config(planner=planner, llm=LLMConfig.from_env(base_url=llm_base_url, model=llm_model),
                        out_dir=runs_dir, address=address)
        quiet_serve_logs()  # keeps the bar whole
        with BatchProgress(total=len(items), already=skipped) as progress:
            summary = asyncio.run(run_batch(HuggingGPT(config), todo, out_path, concurrency, on_result=progress))
    click.echo(f"{summary.line(skipped)} → {out_path}")
