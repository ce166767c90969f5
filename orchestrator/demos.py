"""The demonstration bank: past requests with their plans, retrieved by similarity to plan new ones.

HuggingGPT puts a few fixed demonstrations in front of every planning prompt. Here the planner is shown
the bank's demonstrations most similar to the request (MiniLM cosine), so a request like one planned
before is planned from it. Demonstrations come from TaskBench files, from the plans the project ships
(``orchestrator/data/demos.jsonl``) and from runs. Counter-examples (plans marked bad) live in the same
table with ``kind = "counter"``.

The bank is one SQLite file (WAL mode, so every orchestrator process on the machine can read and write it
at once); a demonstration is stored once: its key is a hash of the normalised request and the plan, and a
second ``add`` of the same pair only updates its kind. Embeddings are stored with each row, so retrieval
embeds only the new request.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dag.resources import file_modality
from orchestrator.embedded_planner import FILE_NAME, LANGUAGES

Embed = Callable[[list[str]], np.ndarray]

SHIPPED_DEMOS = Path(__file__).with_name("data") / "demos.jsonl"
KINDS = ("demo", "counter")


def default_bank_path() -> Path:
    """``$HUGGINGGPT_DEMOS`` or ``~/.cache/hugginggpt-ray/demos.sqlite``."""
    configured = os.environ.get("HUGGINGGPT_DEMOS")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "hugginggpt-ray" / "demos.sqlite"


@dataclass
class Demo:
    request: str
    plan: list[dict[str, Any]]
    kind: str = "demo"
    source: str = ""
    """Where it came from: ``taskbench:dev.jsonl``, ``shipped``, ``run``, ``user``."""
    source_id: str | None = None
    """The id of the record it came from, so an evaluation can leave the record being scored out."""
    score: float = 0.0
    """Cosine similarity to the request it was retrieved for."""


_QUOTE = re.compile(r"[\"“”]([^\"“”]+)[\"“”]")
_LANGUAGE = re.compile(rf"\b({'|'.join(LANGUAGES)})\b")


def retrieval_text(request: str) -> str:
    """What a request is embedded as: file names, quotes and languages replaced by what they are, so two
    requests that differ only in those (and plan alike) come out as near-identical."""
    text = FILE_NAME.sub(lambda m: f"the {file_modality(m.group(0))} file", request)
    text = _QUOTE.sub("the quoted text", text)
    return _LANGUAGE.sub("another language", text)


def demo_key(request: str, plan: list[dict[str, Any]]) -> str:
    normalised = " ".join(request.lower().split())
    canonical = json.dumps(plan, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(f"{normalised}\n{canonical}".encode()).hexdigest()


SCHEMA = """
CREATE TABLE IF NOT EXISTS demos (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    plan TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('demo', 'counter')),
    source TEXT NOT NULL,
    source_id TEXT,
    created REAL NOT NULL,
    embedding BLOB
);
CREATE INDEX IF NOT EXISTS demos_kind ON demos(kind);
"""


class DemoBank:
    """A durable, shared, duplicate-free store of demonstrations with similarity retrieval."""

    def __init__(self, path: str | Path | None = None, embed: Embed | None = None) -> None:
        self.path = Path(path) if path is not None else default_bank_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.embed = embed
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._cache: tuple[tuple[int, int], list[Demo], np.ndarray] | None = None
        self._last_query: tuple[str, np.ndarray] | None = None
        """The latest request's embedding: a planner asks for demonstrations and counter-examples in turn."""

    # ------------------------------------------------------------------ writing

    def add(self, request: str, plan: list[dict[str, Any]], *, kind: str = "demo", source: str = "user",
            source_id: str | None = None) -> bool:
        """Store one demonstration; ``False`` when that request and plan were there already (kind updated)."""
        return self.add_many([Demo(request, plan, kind, source, source_id)]) == 1

    def add_many(self, demos: Iterable[Demo]) -> int:
        """Store demonstrations (embedding them in one batch); returns how many were new."""
        demos = list(demos)
        for demo in demos:
            if demo.kind not in KINDS:
                raise ValueError(f"kind must be one of {KINDS}, not {demo.kind!r}")
        keys = [demo_key(d.request, d.plan) for d in demos]
        known = self._known(keys)
        fresh = [(k, d) for k, d in dict(zip(keys, demos)).items() if k not in known]
        vectors = self._embed([retrieval_text(d.request) for _, d in fresh]) if fresh else None
        now = time.time()
        with self._db:
            for key, demo in zip(keys, demos):
                if key in known:
                    self._db.execute("UPDATE demos SET kind = ? WHERE key = ?", (demo.kind, key))
            for i, (key, demo) in enumerate(fresh):
                blob = vectors[i].astype(np.float32).tobytes() if vectors is not None else None
                self._db.execute(
                    "INSERT OR IGNORE INTO demos VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, demo.request, json.dumps(demo.plan, ensure_ascii=False), demo.kind, demo.source,
                     demo.source_id, now, blob))
        return len(fresh)

    def _known(self, keys: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self._db.execute(f"SELECT key FROM demos WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update(row[0] for row in rows)
        return found

    def _embed(self, texts: list[str]) -> np.ndarray | None:
        if self.embed is None:
            return None
        vectors = [self.embed(texts[i:i + 256]) for i in range(0, len(texts), 256)]
        return np.concatenate(vectors).astype(np.float32)

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM demos").fetchone()[0]

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT kind, count(*) FROM demos GROUP BY kind").fetchall()
        return {kind: 0 for kind in KINDS} | dict(rows)

    def all(self, kind: str | None = None) -> list[Demo]:
        query = "SELECT request, plan, kind, source, source_id FROM demos"
        rows = self._db.execute(query + (" WHERE kind = ?" if kind else "") + " ORDER BY created, rowid",
                                (kind,) if kind else ())
        return [Demo(r[0], json.loads(r[1]), r[2], r[3], r[4]) for r in rows]

    def _matrix(self) -> tuple[list[Demo], np.ndarray]:
        """Every row with its embedding, cached until the table changes (any process may write to it)."""
        if self._cache is None or self._cache[0] != self._version():
            missing = self._db.execute("SELECT key, request FROM demos WHERE embedding IS NULL").fetchall()
            if missing and self.embed is not None:
                vectors = self._embed([retrieval_text(m[1]) for m in missing])
                with self._db:
                    for (key, _), vector in zip(missing, vectors):
                        self._db.execute("UPDATE demos SET embedding = ? WHERE key = ?", (vector.tobytes(), key))
            rows = self._db.execute("SELECT request, plan, kind, source, source_id, embedding FROM demos "
                                    "WHERE embedding IS NOT NULL ORDER BY created, rowid").fetchall()
            demos = [Demo(r[0], json.loads(r[1]), r[2], r[3], r[4]) for r in rows]
            matrix = (np.stack([np.frombuffer(r[5], dtype=np.float32) for r in rows]) if rows
                      else np.zeros((0, 1), dtype=np.float32))
            self._cache = (self._version(), demos, matrix)
        return self._cache[1], self._cache[2]

    def _version(self) -> tuple[int, int]:
        """Changes by other connections (``data_version``) and by this one (``total_changes``)."""
        return self._db.execute("PRAGMA data_version").fetchone()[0], self._db.total_changes

    def retrieve(self, request: str, k: int = 4, *, kind: str = "demo",
                 exclude_ids: Iterable[str] = (), exclude_requests: Iterable[str] = ()) -> list[Demo]:
        """The ``k`` demonstrations most similar to ``request``, best first.

        ``exclude_ids`` / ``exclude_requests`` leave out the records being scored in an evaluation, so a
        demonstration is never the very record it is shown for.
        """
        if self.embed is None:
            raise ValueError("retrieval needs an embedding function (DemoBank(embed=...))")
        demos, matrix = self._matrix()
        if not demos:
            return []
        skip_ids = {str(i) for i in exclude_ids}
        skip_requests = {" ".join(r.lower().split()) for r in exclude_requests}
        scores = matrix @ self._query_vector(request)
        chosen = []
        for index in np.argsort(-scores):
            demo = demos[int(index)]
            if demo.kind != kind or (demo.source_id is not None and demo.source_id in skip_ids):
                continue
            if " ".join(demo.request.lower().split()) in skip_requests:
                continue
            chosen.append(replace(demo, score=float(scores[index])))  # a copy: banks are shared
            if len(chosen) == k:
                break
        return chosen

    def _query_vector(self, request: str) -> np.ndarray:
        text = retrieval_text(request)
        last = self._last_query  # read once: another thread's request may replace it meanwhile
        if last is None or last[0] != text:
            last = (text, self.embed([text])[0].astype(np.float32))
            self._last_query = last
        return last[1]

    def close(self) -> None:
        self._db.close()


def taskbench_demos(path: str | Path) -> list[Demo]:
    """A TaskBench file's records as demonstrations (our plan form), each keeping its record id."""
    from dag.metrics import read_jsonl
    from dag.taskbench import TaskBenchFormatError, from_taskbench

    demos = []
    for record in read_jsonl(path):
        try:
            plan, _ = from_taskbench(record)
        except TaskBenchFormatError:
            continue
        if record.get("instruction") and len(plan):
            demos.append(Demo(record["instruction"], plan.to_data(), "demo", f"taskbench:{Path(path).name}",
                              str(record.get("id"))))
    return demos


def shipped_demos() -> list[Demo]:
    """The demonstrations the project ships (our own requests and plans), one JSON object per line."""
    demos = []
    for line in SHIPPED_DEMOS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            demos.append(Demo(data["request"], data["plan"], "demo", "shipped"))
    return demos
