"""The plan as a ``networkx.DiGraph``, and what a scheduler needs from it.

Nodes are task ids with the task's attributes; an edge ``u → v`` means v waits for u. The scheduling API
is event driven: :class:`ReadyTracker` answers "which tasks can start now that this one finished" in time
proportional to that task's successors, so an executor launches each task the moment its own inputs
exist, with no waves and no polling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import networkx as nx

from dag.plan import Plan
from dag.registry import REGISTRY, TaskRegistry
from dag.resources import references


class PlanGraphError(ValueError):
    """The plan cannot become a DAG (duplicate ids, a cycle, a reference to a missing task)."""


def build_graph(plan: Plan, registry: TaskRegistry = REGISTRY) -> nx.DiGraph:
    """A DAG of a normalised, valid plan: one edge per entry of each task's ``dep``.

    Node attributes: ``task`` (name), ``args``, ``dep``, ``position`` (index in the plan), ``inputs`` and
    ``outputs`` (modalities, empty for unknown tasks). Edge attributes: ``args`` (argument names that take
    the source's output; empty for an order-only dependency).
    """
    graph = nx.DiGraph()
    for position, task in enumerate(plan):
        if task.id in graph:
            raise PlanGraphError(f"duplicate task id {task.id}; validate the plan first")
        task_type = registry.get(task.task)
        graph.add_node(
            task.id,
            task=task.task,
            args=dict(task.args),
            dep=list(task.dep),
            position=position,
            inputs=task_type.inputs if task_type else (),
            outputs=task_type.outputs if task_type else (),
        )
    for task in plan:
        feeding: dict[int, list[str]] = {d: [] for d in task.deps}
        for key, value in task.args.items():
            for k in dict.fromkeys(references(value)):
                if k in feeding:
                    feeding[k].append(key)
        for source, args in feeding.items():
            if source not in graph:
                raise PlanGraphError(f"task {task.id} depends on task {source}, which the plan lacks")
            graph.add_edge(source, task.id, args=args)
    if not nx.is_directed_acyclic_graph(graph):
        cycle = nx.find_cycle(graph)
        raise PlanGraphError("the plan has a cycle: " + " → ".join(f"{u}" for u, _ in cycle) + f" → {cycle[0][0]}")
    return graph


def roots(graph: nx.DiGraph) -> list[Any]:
    """Tasks that wait for nothing and can start at once, in plan order."""
    return sorted((n for n, d in graph.in_degree() if d == 0), key=lambda n: graph.nodes[n].get("position", 0))


def unblocked_by(graph: nx.DiGraph, finished: Any, done: Iterable[Any]) -> list[Any]:
    """Successors of ``finished`` whose every dependency is in ``done`` (which includes ``finished``)."""
    done = set(done) | {finished}
    return [s for s in graph.successors(finished) if all(p in done for p in graph.predecessors(s))]


def skipped_by(graph: nx.DiGraph, failed: Any) -> set[Any]:
    """Every task that (directly or not) needs the output of ``failed`` and so cannot run."""
    return nx.descendants(graph, failed)


def critical_path(
    graph: nx.DiGraph,
    cost: Mapping[Any, float] | Callable[[Any], float] | None = None,
    default: float = 1.0,
) -> tuple[float, list[Any]]:
    """Length and nodes of the most expensive dependency chain: the shortest possible wall time.

    ``cost`` gives each node's estimated seconds (a mapping or a function of the node); missing nodes
    cost ``default``. With no cost at all, the length is the number of tasks on the longest chain.
    """
    if cost is None:
        weigh = lambda n: default  # noqa: E731
    elif callable(cost):
        weigh = cost
    else:
        weigh = lambda n: cost.get(n, default)  # noqa: E731
    best: dict[Any, tuple[float, Any]] = {}
    for node in nx.topological_sort(graph):
        preds = [(best[p][0], p) for p in graph.predecessors(node)]
        length, via = max(preds, key=lambda x: x[0]) if preds else (0.0, None)
        best[node] = (length + float(weigh(node)), via)
    if not best:
        return 0.0, []
    end = max(best, key=lambda n: best[n][0])
    path = [end]
    while best[path[-1]][1] is not None:
        path.append(best[path[-1]][1])
    return best[end][0], path[::-1]


class ReadyTracker:
    """Event-driven bookkeeping of which tasks may start.

    ``start()`` gives the roots; each ``finished(node)`` gives the tasks that just became runnable;
    ``failed(node)`` gives the tasks that must now be skipped. Every task is handed out once.
    """

    def __init__(self, graph: nx.DiGraph) -> None:
        self.graph = graph
        self._waiting = {n: graph.in_degree(n) for n in graph}
        self.done: set[Any] = set()
        self.failed_nodes: set[Any] = set()
        self.skipped: set[Any] = set()

    def start(self) -> list[Any]:
        return roots(self.graph)

    def finished(self, node: Any) -> list[Any]:
        self.done.add(node)
        ready = []
        for succ in self.graph.successors(node):
            self._waiting[succ] -= 1
            if self._waiting[succ] == 0 and succ not in self.skipped:
                ready.append(succ)
        return ready

    def failed(self, node: Any) -> set[Any]:
        self.failed_nodes.add(node)
        newly = skipped_by(self.graph, node) - self.skipped
        self.skipped |= newly
        return newly

    @property
    def complete(self) -> bool:
        return len(self.done) + len(self.failed_nodes) + len(self.skipped) == self.graph.number_of_nodes()

