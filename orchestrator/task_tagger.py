"""The task tagger: a model learned from TaskBench plans that corrects which tasks the cue planner picks.

The cue patterns (``task_cues.py``) find the tasks a request names. Requests also imply tasks they never
name ("I'm curious about the capital" is question answering; "what they are talking about" needs speech
recognition first), and name some in ways no pattern covers. The tagger is one logistic regression per
TaskBench task over two kinds of features: the request's words (TF-IDF of word 1- and 2-grams, files
and quotes masked) and the tasks the cue planner chose; a model file may also hold a neural half
(``neural_tagger.py``) whose probabilities are averaged in. A cue task the model finds unlikely is
dropped; a task it finds likely that no cue named is added, located in the clause whose words point to
it. All tasks are then ordered by a learned pairwise "A before B" model (:meth:`TaskTagger.order`).

The regression is plain numpy (under a millisecond), so the planner needs no scikit-learn; the neural half
is one MiniLM pass (about 20 ms). Fitting (:func:`fit_task_tagger`, ``hugginggpt train-tagger``) uses
scikit-learn, and torch for the neural half. The shipped model
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
from typing import TYPE_CHECKING, Any

import numpy as np

from dag.resources import file_modality
from dag.taskbench import runnable_order
from orchestrator.embedded_planner import QUOTED, TextKey

if TYPE_CHECKING:
    from orchestrator.neural_tagger import NeuralTagger

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
    order_weights: np.ndarray = field(default_factory=lambda: DEFAULT_ORDER_WEIGHTS.copy())
    """Weights of :func:`pair_features` in "A comes before B" (see :meth:`order`)."""
    keep_at: float = 0.3
    """A task the cue planner chose stays unless its probability is below this."""
    add_at: float = 0.4
    """A task no cue named is added when its probability is at least this."""
    max_n: int = 2
    meta: dict[str, Any] = field(default_factory=dict)
    neural: NeuralTagger | None = None
    """The neural half, whose probabilities are averaged with the regression's, or None."""

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
        """Each tool's probability of being in the request's plan: the regression's, averaged with the
        neural half's when the model has one."""
        cue_tools = list(cue_tools)
        indices, values = self.sparse_features(request, cue_tools)
        logits = values @ self.coef[indices].astype(np.float64) + self.intercept
        chance = 1.0 / (1.0 + np.exp(-logits))
        if self.neural is not None:
            from orchestrator.neural_tagger import neural_text

            chance = (chance + self.neural.probabilities([neural_text(tagger_text(request), cue_tools)])[0]) / 2
        return dict(zip(self.tools, chance.tolist()))

    def revise(self, request: str, cue_tools: Sequence[str]) -> tuple[set[str], list[str]]:
        """The cue tools to drop and the tools to add (most likely first)."""
        chance = self.probabilities(request, cue_tools)
        drop = {tool for tool in cue_tools if tool in chance and chance[tool] < self.keep_at}
        add = [t for t, p in chance.items() if p >= self.add_at and t not in cue_tools]
        return drop, sorted(add, key=lambda t: -chance[t])

    def locate(self, tool: str, clauses: Sequence[tuple[int, str]]) -> TextKey | None:
        """Where a task no cue named is asked for: the clause whose words count most towards ``tool`` (the
        model's weights), as a text key ranked after the cue tasks of that clause. ``clauses`` are (1 if
        the clause comes before anything is asked else 0, text)."""
        if tool not in self.position:
            return None
        column = self.position[tool]
        best: tuple[float, TextKey] | None = None
        for index, (stated, text) in enumerate(clauses):
            grams = dict.fromkeys(ngrams(tagger_text(text), self.max_n))  # each once, in a fixed order
            terms = [self.vocabulary[g] for g in grams if g in self.vocabulary]
            weight = float(sum(self.coef[t, column] * self.idf[t] for t in terms))
            if best is None or weight > best[0]:
                best = (weight, (stated, index, LOCATED))
        return best[1] if best else None

    def order(self, tools: Sequence[str | None], keys: Sequence[TextKey | None]) -> list[int]:
        """The order to run tasks in (indices into ``tools``): the one that agrees best with the learned
        pairwise "A before B" chances, which weigh where the request asks for each task (``keys``) against
        how often training plans put the pair that way."""
        n = len(tools)
        if n < 2:
            return list(range(n))
        logit = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):  # pair_features is antisymmetric: j before i is the negation
                logit[i, j] = float(self.order_weights @ pair_features(self, tools[i], tools[j], keys[i], keys[j]))
                logit[j, i] = -logit[i, j]
        return best_linear_order(-np.logaddexp(0.0, -logit))

    def save(self, path: str | Path) -> None:
        terms = sorted(self.vocabulary, key=self.vocabulary.get)
        neural = self.neural.arrays(NEURAL) if self.neural is not None else {}
        meta = {**self.meta, **({"neural": self.neural.meta} if self.neural is not None else {})}
        np.savez_compressed(
            path, **neural, tools=np.array(self.tools), terms=np.array(terms), idf=self.idf.astype(np.float32),
            coef=self.coef.astype(np.float16), intercept=self.intercept.astype(np.float32),
            before=self.before.astype(np.int32),
            order_weights=self.order_weights.astype(np.float64),
            settings=np.array(json.dumps({"keep_at": self.keep_at, "add_at": self.add_at, "max_n": self.max_n,
                                          "meta": meta})))

    @classmethod
    def load(cls, path: str | Path) -> TaskTagger:
        with np.load(path, allow_pickle=False) as data:
            settings = json.loads(str(data["settings"]))
            terms = [str(t) for t in data["terms"]]
            tools = [str(t) for t in data["tools"]]
            meta = settings.get("meta", {})
            neural = None
            if f"{NEURAL}lora_names" in data:
                from orchestrator.neural_tagger import NeuralTagger

                neural = NeuralTagger.from_arrays(data, NEURAL, tools, meta.get("neural", {}))
            weights = data["order_weights"] if "order_weights" in data else DEFAULT_ORDER_WEIGHTS.copy()
            return cls(tools=tools, vocabulary={t: i for i, t in enumerate(terms)},
                       idf=data["idf"].astype(np.float64), coef=data["coef"].astype(np.float32),
                       intercept=data["intercept"].astype(np.float64), before=data["before"],
                       order_weights=weights, keep_at=settings["keep_at"],
                       add_at=settings["add_at"], max_n=settings["max_n"], meta=meta, neural=neural)


NEURAL = "neural_"
"""Prefix of the neural half's arrays in a model file."""
LOCATED = 10_000
"""The position given to a task the tagger located in a clause: after the tasks a cue found there."""
DEFAULT_ORDER_WEIGHTS = np.array([1.06, -0.18, -0.53, 1.28, -0.02, 0.87, 0.9])
"""Order weights for a model file saved before they were learned (about what 5k TaskBench plans give)."""


def pair_features(tagger: TaskTagger, a: str | None, b: str | None, key_a: TextKey | None,
                  key_b: TextKey | None) -> np.ndarray:
    """Evidence that task ``a`` runs before task ``b``: the log-odds of that order in the training plans;
    and when the request asks for both, whether ``a`` is only stated before anything is asked, comes in an
    earlier clause, or earlier in the same clause. The prior and the positions come once more for pairs
    that cues found both of (``LOCATED`` positions are guesses), so the model can trust those more.
    Antisymmetric: swapping a and b negates it."""
    i, j = tagger.position.get(a or ""), tagger.position.get(b or "")
    prior = 0.0
    if i is not None and j is not None:
        prior = math.log((tagger.before[i, j] + 1.0) / (tagger.before[j, i] + 1.0))
    if key_a is None or key_b is None:
        return np.array([prior, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    cued = float(key_a[2] != LOCATED and key_b[2] != LOCATED)
    clause = float(np.sign(key_b[1] - key_a[1]))
    within = float(np.sign(key_b[2] - key_a[2])) if key_a[1] == key_b[1] else 0.0
    return np.array([prior, prior * cued, float(key_a[0] - key_b[0]), clause, within, clause * cued, within * cued])


def best_linear_order(score: np.ndarray) -> list[int]:
    """The permutation maximising the sum of ``score[i, j]`` over pairs with i placed before j (exact by
    dynamic programming over subsets up to 8 items, else by each item's net score)."""
    n = len(score)
    if n > 8:
        return sorted(range(n), key=lambda i: -(score[i].sum() - score[:, i].sum()))
    full = (1 << n) - 1
    best = {0: (0.0, -1, 0)}  # placed-set mask → (score, last item, previous mask)
    for mask in range(full + 1):
        if mask not in best:
            continue
        rest = [j for j in range(n) if not mask >> j & 1]
        for j in rest:
            gain = sum(score[j, k] for k in rest if k != j)
            total = best[mask][0] + gain
            after = mask | 1 << j
            if after not in best or total > best[after][0]:
                best[after] = (total, j, mask)
    order, mask = [], full
    while mask:
        _, last, mask = best[mask]
        order.append(last)
    return order[::-1]


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
    """The known tools of a TaskBench record's plan (each once) in an order the plan can run in, or None if
    it is malformed. Not the list order: some gold plans list their nodes alphabetically, referencing
    later ones (see ``dag.taskbench.runnable_order``)."""
    nodes = record.get("task_nodes")
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        return None
    names = [str(nodes[i].get("task", "")).replace("_", " ") for i in runnable_order(nodes)]
    return list(dict.fromkeys(n for n in names if n in tools))


TextOrder = Callable[[str], tuple[dict[str, TextKey], list[tuple[int, str]]]]
"""The planner's reading of a request: where it asks for each cue task, and its clauses (see ``locate``)."""


def fit_task_tagger(records: Sequence[Mapping[str, Any]], cue_tools: Callable[[str], list[str]],
                    tools: Sequence[str], *, c: float = 10.0, min_df: int = 2, keep_at: float | None = None,
                    add_at: float = 0.4, meta: dict[str, Any] | None = None,
                    text_order: TextOrder | None = None, neural_epochs: int = 0,
                    log: Callable[[str], None] = print) -> TaskTagger:
    """Fit a tagger on TaskBench-format records. ``cue_tools(request)`` gives the cue planner's tools for a
    request (TaskBench names), the same function the planner uses when it applies the tagger; with
    ``text_order`` the order weights are learned too (else the defaults are kept); with ``neural_epochs``
    the neural half too (see ``neural_tagger``; minutes per epoch). ``keep_at`` defaults to 0.4 with the
    neural half and 0.3 without (what held-out TaskBench records preferred)."""
    if keep_at is None:
        keep_at = 0.4 if neural_epochs > 0 else 0.3
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
    cue_lists = [cue_tools(str(record["instruction"])) for record, _ in usable]
    cues = np.zeros((len(usable), len(tools)))
    for row, found in enumerate(cue_lists):
        for tool in found:
            if tool in position:
                cues[row, position[tool]] = 1.0
    features = sparse.hstack([words, sparse.csr_matrix(cues)]).tocsr()
    coef = np.zeros((features.shape[1], len(tools)), dtype=np.float32)
    intercept = np.full(len(tools), -20.0)
    for j, tool in enumerate(tools):
        labels = np.array([tool in gold for _, gold in usable])
        if labels.any() and not labels.all():
            model = LogisticRegression(C=c, max_iter=3000).fit(features, labels)
            coef[:, j] = model.coef_[0]
            intercept[j] = model.intercept_[0]
    before = order_counts([gold for _, gold in usable], tools)
    vocabulary = {str(term): int(index) for term, index in vectorizer.vocabulary_.items()}
    tagger = TaskTagger(tools=tools, vocabulary=vocabulary, idf=vectorizer.idf_.astype(np.float64), coef=coef,
                        intercept=intercept, before=before, keep_at=keep_at, add_at=add_at,
                        meta={"records": len(usable), "c": c, "min_df": min_df, **(meta or {})})
    if text_order is not None:
        tagger.order_weights = fit_order_weights(tagger, [(str(r["instruction"]), g) for r, g in usable], text_order)
    if neural_epochs > 0:
        from orchestrator.neural_tagger import fit_neural_tagger, neural_text

        reads = [neural_text(text, found) for text, found in zip(texts, cue_lists)]
        labels = np.array([[tool in gold for tool in tools] for _, gold in usable], dtype=np.float32)
        tagger.neural = fit_neural_tagger(reads, labels, tools, epochs=neural_epochs, log=log)
    return tagger


def order_counts(plans: Sequence[Sequence[str]], tools: Sequence[str]) -> np.ndarray:
    """``[a, b]``: how many of ``plans`` (tool names in run order) run tool ``a`` before tool ``b``."""
    position = {t: i for i, t in enumerate(tools)}
    before = np.zeros((len(tools), len(tools)), dtype=np.int32)
    for plan in plans:
        for i, a in enumerate(plan):
            for b in plan[i + 1:]:
                before[position[a], position[b]] += 1
    return before


def fit_order_weights(tagger: TaskTagger, plans: Sequence[tuple[str, list[str]]], text_order: TextOrder) -> np.ndarray:
    """The weights of :func:`pair_features` that best predict which of two tasks a training plan runs first,
    reading each request as the planner does (tasks no cue finds located by the tagger)."""
    from sklearn.linear_model import LogisticRegression

    rows, labels = [], []
    for request, gold in plans:
        if len(gold) < 2:
            continue
        keys, clauses = text_order(request)
        where = {tool: keys.get(tool) or tagger.locate(tool, clauses) for tool in gold}
        for i, a in enumerate(gold):
            for b in gold[i + 1:]:
                forward = pair_features(tagger, a, b, where[a], where[b])
                rows += [forward, -forward]
                labels += [1, 0]
    if len(set(labels)) < 2:
        return DEFAULT_ORDER_WEIGHTS.copy()
    model = LogisticRegression(C=1.0, fit_intercept=False, max_iter=2000).fit(np.array(rows), np.array(labels))
    return model.coef_[0].astype(np.float64)
