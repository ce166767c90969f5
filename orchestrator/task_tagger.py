"""The task tagger: a model learned from TaskBench plans that corrects which tasks the cue planner picks.

The cue patterns (``task_cues.py``) find the tasks a request names. Requests also imply tasks they never
name ("I'm curious about the capital" is question answering; "what they are talking about" needs speech
recognition first), and name some in ways no pattern covers. The tagger is one logistic regression per
TaskBench task over two kinds of features: the request's words (TF-IDF of word 1- and 2-grams, files
and quotes masked) and the tasks the cue planner chose. A cue task the model finds unlikely is
dropped; a task it finds likely that no cue named is inserted where the training plans usually put it
(pairwise "A comes before B" counts).

Inference is plain numpy (a few hundred microseconds), so the planner needs no scikit-learn; fitting
(:func:`fit_task_tagger`, ``hugginggpt train-tagger``) uses scikit-learn. The shipped model
(``orchestrator/data/task_tagger.npz``) was fitted on TaskBench Hugging Face records that are not in the
dev slice the benchmarks score; ``meta`` says which.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dag.resources import file_modality
from orchestrator.embedded_planner import QUOTED

SHIPPED_TAGGER = Path(__file__).with_name("data") / "task_tagger.npz"
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_FILE = re.compile(r"[\w./\\-]+\.(?:jpe?g|png|gif|bmp|webp|tiff?|wav|mp3|flac|ogg|m4a|mp4|avi|mov|mkv|webm|txt)\b",
                   re.IGNORECASE)
"""The planner's ``FILE_NAME`` plus ``.txt``: TaskBench requests name text files too."""


def tagger_text(request: str) -> str:
    """What the tagger reads: the request with each file as its kind and each quote as "the quoted text",
    so a model learned on ``example.jpg`` and one user's quote generalises to another's."""
    text = _FILE.sub(lambda m: "the " + (file_modality(m.group(0)) or "text") + " file", request)
    return QUOTED.sub("the quoted text", text)


def ngrams(text: str, max_n: int = 2) -> list[str]:
    """Lower-cased word 1..max_n-grams, as scikit-learn's ``TfidfVectorizer`` makes them."""
    words = _TOKEN.findall(text.lower())
    return [" ".join(words[i:i + n]) for n in range(1, max_n + 1) for i in range(len(words) - n + 1)]


@dataclass
class TaskTagger:
    """A fitted tagger. ``tools`` are TaskBench task names; ``coef`` has one row per vocabulary term and then
    one per tool (the cue features), one column per tool."""

    tools: list[str]
    vocabulary: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    before: np.ndarray
    """``before[i, j]``: training plans with both tools in which tool i comes first."""
    together: np.ndarray
    keep_at: float = 0.3
    """A task the cue planner chose stays unless its probability is below this."""
    add_at: float = 0.4
    """A task no cue named is added when its probability is at least this."""
    max_n: int = 2
    meta: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def position(self) -> dict[str, int]:
        """Tool name → its column."""
        return {tool: i for i, tool in enumerate(self.tools)}

    def sparse_features(self, request: str, cue_tools: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """The request's features as (indices, values): l2-normalised sublinear TF-IDF of its n-grams, then
        a 1 for each cue tool (at ``len(vocabulary) + tool index``)."""
        counts: dict[int, int] = {}
        for gram in ngrams(tagger_text(request), self.max_n):
            index = self.vocabulary.get(gram)
            if index is not None:
                counts[index] = counts.get(index, 0) + 1
        indices = np.array(sorted(counts), dtype=np.int64)
        values = np.array([(1.0 + math.log(counts[i])) * self.idf[i] for i in indices], dtype=np.float64)
        norm = np.linalg.norm(values)
        if norm:
            values /= norm
        cues = sorted({len(self.vocabulary) + self.position[t] for t in cue_tools if t in self.position})
        return np.concatenate([indices, np.array(cues, dtype=np.int64)]), np.concatenate([values, np.ones(len(cues))])

    def features(self, request: str, cue_tools: Iterable[str]) -> np.ndarray:
        """The same features as a dense vector (what scikit-learn's pipeline computes; used by the tests)."""
        vector = np.zeros(len(self.vocabulary) + len(self.tools))
        indices, values = self.sparse_features(request, cue_tools)
        vector[indices] = values
        return vector

    def probabilities(self, request: str, cue_tools: Iterable[str]) -> dict[str, float]:
        """Each tool's probability of being in the request's plan."""
        indices, values = self.sparse_features(request, cue_tools)
        logits = values @ self.coef[indices].astype(np.float64) + self.intercept
        return dict(zip(self.tools, (1.0 / (1.0 + np.exp(-logits))).tolist()))

    def revise(self, request: str, cue_tools: Sequence[str]) -> tuple[set[str], list[str]]:
        """The cue tools to drop and the tools to add (most likely first)."""
        chance = self.probabilities(request, cue_tools)
        drop = {tool for tool in cue_tools if tool in chance and chance[tool] < self.keep_at}
        add = [t for t, p in chance.items() if p >= self.add_at and t not in cue_tools]
        return drop, sorted(add, key=lambda t: -chance[t])

    def insertion_point(self, tool: str, order: Sequence[str | None]) -> int:
        """Where ``tool`` goes among ``order`` (tool names, None for tasks the tagger does not know): the place
        that agrees best with how often the training plans put each pair in that order."""
        position = self.position
        if tool not in position:
            return len(order)
        me = position[tool]

        def first_chance(a: int, b: int) -> float:
            return (self.before[a, b] + 1.0) / (self.together[a, b] + 2.0)

        def fit(at: int) -> float:
            score = 0.0
            for i, other in enumerate(order):
                if other in position:
                    a, b = (position[other], me) if i < at else (me, position[other])
                    score += math.log(first_chance(a, b))
            return score

        return max(range(len(order) + 1), key=lambda at: (fit(at), at))

    def save(self, path: str | Path) -> None:
        terms = sorted(self.vocabulary, key=self.vocabulary.get)
        np.savez_compressed(
            path, tools=np.array(self.tools), terms=np.array(terms), idf=self.idf.astype(np.float32),
            coef=self.coef.astype(np.float16), intercept=self.intercept.astype(np.float32),
            before=self.before.astype(np.int32), together=self.together.astype(np.int32),
            settings=np.array(json.dumps({"keep_at": self.keep_at, "add_at": self.add_at, "max_n": self.max_n,
                                          "meta": self.meta})))

    @classmethod
    def load(cls, path: str | Path) -> TaskTagger:
        with np.load(path, allow_pickle=False) as data:
            settings = json.loads(str(data["settings"]))
            terms = [str(t) for t in data["terms"]]
            return cls(tools=[str(t) for t in data["tools"]], vocabulary={t: i for i, t in enumerate(terms)},
                       idf=data["idf"].astype(np.float64), coef=data["coef"].astype(np.float32),
                       intercept=data["intercept"].astype(np.float64), before=data["before"],
                       together=data["together"], keep_at=settings["keep_at"], add_at=settings["add_at"],
                       max_n=settings["max_n"], meta=settings.get("meta", {}))


class TaggerMissing(FileNotFoundError):
    """A tagger file that was named (``path`` or ``$HUGGINGGPT_TAGGER``) does not exist."""


def load_task_tagger(path: str | None = None) -> TaskTagger | None:
    """The tagger at ``path``, else at ``$HUGGINGGPT_TAGGER``, else the shipped one; None when there is no
    model file. A named file that is missing is an error, not a silent fallback."""
    named = path or os.environ.get("HUGGINGGPT_TAGGER")
    if named and not Path(named).exists():
        raise TaggerMissing(f"task tagger {named!r} does not exist: make one with `hugginggpt train-tagger` "
                                "or unset HUGGINGGPT_TAGGER to use the shipped one")
    return _load(str(Path(named or SHIPPED_TAGGER).resolve()))


@functools.cache
def _load(path: str) -> TaskTagger | None:
    return TaskTagger.load(path) if Path(path).exists() else None


def gold_tools(record: Mapping[str, Any], tools: Sequence[str]) -> list[str] | None:
    """The known tools of a TaskBench record's plan in plan order (each once), or None if it is malformed."""
    nodes = record.get("task_nodes")
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        return None
    names = [str(n.get("task", "")).replace("_", " ") for n in nodes]
    return list(dict.fromkeys(n for n in names if n in tools))


def fit_task_tagger(records: Sequence[Mapping[str, Any]], cue_tools: Callable[[str], list[str]],
                    tools: Sequence[str], *, c: float = 10.0, min_df: int = 2, keep_at: float = 0.3,
                    add_at: float = 0.4, meta: dict[str, Any] | None = None) -> TaskTagger:
    """Fit a tagger on TaskBench-format records. ``cue_tools(request)`` gives the cue planner's tools for a
    request (TaskBench names), the same function the planner uses when it applies the tagger."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    tools = list(tools)
    usable = [(r, g) for r in records if (g := gold_tools(r, tools)) is not None and r.get("instruction")]
    if len(usable) < 20:
        raise ValueError(f"{len(usable)} usable records: a tagger needs at least 20 TaskBench records with "
                         "an instruction and a task_nodes list")
    texts = [tagger_text(str(r["instruction"])) for r, _ in usable]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df, token_pattern=_TOKEN.pattern)
    words = vectorizer.fit_transform(texts)
    position = {t: i for i, t in enumerate(tools)}
    cues = np.zeros((len(usable), len(tools)))
    for row, (record, _) in enumerate(usable):
        for tool in cue_tools(str(record["instruction"])):
            if tool in position:
                cues[row, position[tool]] = 1.0
    features = sparse.hstack([words, sparse.csr_matrix(cues)]).tocsr()
    coef = np.zeros((features.shape[1], len(tools)), dtype=np.float32)
    intercept = np.full(len(tools), -20.0)
    before = np.zeros((len(tools), len(tools)), dtype=np.int32)
    together = np.zeros_like(before)
    for j, tool in enumerate(tools):
        labels = np.array([tool in gold for _, gold in usable])
        if labels.any() and not labels.all():
            model = LogisticRegression(C=c, max_iter=3000).fit(features, labels)
            coef[:, j] = model.coef_[0]
            intercept[j] = model.intercept_[0]
    for _, gold in usable:
        for i, a in enumerate(gold):
            for b in gold[i + 1:]:
                before[position[a], position[b]] += 1
                together[position[a], position[b]] += 1
                together[position[b], position[a]] += 1
    vocabulary = {str(term): int(index) for term, index in vectorizer.vocabulary_.items()}
    return TaskTagger(tools=tools, vocabulary=vocabulary, idf=vectorizer.idf_.astype(np.float64), coef=coef,
                      intercept=intercept, before=before, together=together, keep_at=keep_at, add_at=add_at,
                      meta={"records": len(usable), "c": c, "min_df": min_df, **(meta or {})})
