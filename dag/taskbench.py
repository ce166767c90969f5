"""Conversion between our plans and TaskBench's form.

TaskBench writes a plan as ``task_nodes`` (``{"task": tool name, "arguments": [...]}``, where ``"<node-j>"``
is the output of ``task_nodes[j]``) and ``task_links`` (``{"source": name, "target": name}``). Importing
keeps names, argument values and order exactly, so exporting gives the record back; the few malformed
gold records (a dict of nodes, ``parameters`` for ``arguments``, arguments as one string) are read in
their evident meaning and said so in the warnings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import networkx as nx

from dag.plan import NO_DEPENDENCY, Plan
from dag.registry import REGISTRY, TaskRegistry, can_feed, numbered_arg_names
from dag.resources import REFERENCE, file_modality, map_strings, references

NODE_REF = re.compile(r"<node-(\d+)>")
_CORE_KEYS = {"task", "arguments"}


class TaskBenchFormatError(ValueError):
    """A TaskBench record we cannot read: says which node and what."""


def from_taskbench(record: Mapping[str, Any], registry: TaskRegistry = REGISTRY) -> tuple[Plan, list[str]]:
    """Our plan for a TaskBench record (``task_nodes`` and optional ``task_links``), and warnings.

    Task ids are the node indices; ``<node-j>`` becomes ``<GENERATED>-j``; ``dep`` holds every node that
    an argument references (other than the node itself) and every node a link names as the source.
    """
    warnings: list[str] = []
    nodes = record.get("task_nodes")
    if isinstance(nodes, Mapping):
        warnings.append("task_nodes was an object; read its values in order as the node list")
        nodes = list(nodes.values())
    if not isinstance(nodes, list):
        raise TaskBenchFormatError(f"task_nodes must be a list of nodes, not {type(nodes).__name__}")
    names: list[str] = []
    raw_args: list[list[Any]] = []
    for i, node in enumerate(nodes):
        if not isinstance(node, Mapping) or not isinstance(node.get("task"), str):
            raise TaskBenchFormatError(f"node {i} must be an object with a \"task\" name, not {node!r:.80}")
        names.append(node["task"])
        raw_args.append(_node_arguments(node, i, warnings))

    tasks = []
    reference_edges = []
    for i, node in enumerate(nodes):
        values = [map_strings(v, _import_refs) for v in raw_args[i]]
        reference_edges += [(j, i) for v in values for j in references(v) if j != i and 0 <= j < len(nodes)]
        keys = numbered_arg_names([_arg_modality(v, names, i, registry) for v in values])
        extras = {k: v for k, v in node.items() if k not in _CORE_KEYS and k != "parameters"}
        tasks.append({"task": names[i], "id": i, "args": dict(zip(keys, values)), **extras})

    link_edges = [e for link in record.get("task_links") or [] if (e := _link_nodes(link, names, warnings))]
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(nodes)))
    # Links and backward references first; a forward reference that would close a cycle is dropped.
    ordered = link_edges + sorted(reference_edges, key=lambda e: e[0] > e[1])
    for source, target in ordered:
        if graph.has_edge(source, target):
            continue
        if nx.has_path(graph, target, source):
            warnings.append(f"dropped the edge node {source} → node {target}: it would close a cycle")
            continue
        graph.add_edge(source, target)
    missing = {(names[s], names[t]) for s, t in reference_edges} - {(names[s], names[t]) for s, t in link_edges}
    if link_edges and missing:
        warnings.append(f"task_links lacks {len(missing)} edge(s) that <node-j> references make; both are kept")
    for task in tasks:
        task["dep"] = sorted(graph.predecessors(task["id"])) or [NO_DEPENDENCY]
    return Plan.of(tasks), warnings


def to_taskbench(plan: Plan, registry: TaskRegistry = REGISTRY) -> dict[str, list]:
    """TaskBench's ``task_nodes`` and ``task_links`` for a plan.

    Registry ids become TaskBench tool names (``image-to-text`` → ``Image-to-Text``); any other name is
    written as it is. ``<GENERATED>-k`` becomes ``<node-j>`` with j the position of task k.
    """
    position = {}
    for index, task in enumerate(plan):
        position.setdefault(task.id, index)
    names = [_taskbench_name(task.task, registry) for task in plan]

    def export(text: str) -> str:
        return REFERENCE.sub(lambda m: f"<node-{position.get(int(m.group(1)), m.group(1))}>", text)

    nodes = []
    links = []
    for index, task in enumerate(plan):
        extras = task.model_extra or {}
        arguments = [map_strings(v, export) for v in task.args.values()]
        nodes.append({"task": names[index], "arguments": arguments, **extras})
        for d in task.deps:
            if d in position:
                links.append({"source": names[position[d]], "target": names[index]})
    return {"task_nodes": nodes, "task_links": links}


def _node_arguments(node: Mapping[str, Any], i: int, warnings: list[str]) -> list[Any]:
    if "arguments" in node:
        args = node["arguments"]
    elif "parameters" in node:
        warnings.append(f'node {i}: read "parameters" as its arguments')
        args = node["parameters"]
    else:
        args = []
    if isinstance(args, str):
        warnings.append(f"node {i}: arguments was one string; read it as a list of one argument")
        return [args]
    if isinstance(args, Mapping):
        warnings.append(f"node {i}: arguments was an object; read its values in order")
        return list(args.values())
    if not isinstance(args, list):
        raise TaskBenchFormatError(f"node {i}: arguments must be a list, not {type(args).__name__}")
    return list(args)


def _import_refs(text: str) -> str:
    return NODE_REF.sub(lambda m: f"<GENERATED>-{m.group(1)}", text)


def _arg_modality(value: Any, names: list[str], i: int, registry: TaskRegistry) -> str:
    """What an unnamed TaskBench argument holds: a file by its extension, a reference by what flows."""
    if isinstance(value, str):
        match = REFERENCE.fullmatch(value.strip())
        if match and int(match.group(1)) < len(names):
            source = registry.get(names[int(match.group(1))])
            target = registry.get(names[i])
            if source is not None:
                wanted = (target.inputs + target.optional) if target else ()
                fits = [m for m in wanted if any(can_feed(o, m) for o in source.outputs)]
                return fits[0] if fits else source.outputs[0]
            return "text"
    return file_modality(value) or "text"


def _link_nodes(link: Any, names: list[str], warnings: list[str]) -> tuple[int, int] | None:
    """(source index, target index) of a link, matched by name; None (with a warning) if unmatched."""
    if not isinstance(link, Mapping):
        warnings.append(f"ignored link {link!r:.60}: not an object")
        return None
    source = link.get("source")
    target = link.get("target", link.get("destination"))
    if "target" not in link and "destination" in link:
        warnings.append(f'link {source!r} → {target!r}: read "destination" as its target')
    if isinstance(source, int) and isinstance(target, int):
        if 0 <= source < len(names) and 0 <= target < len(names) and source != target:
            warnings.append(f"link {source} → {target} names node indices, not tool names; read as indices")
            return source, target
        warnings.append(f"ignored link {source} → {target}: not two different node indices")
        return None
    sources = [i for i, n in enumerate(names) if n == source]
    targets = [i for i, n in enumerate(names) if n == target]
    pairs = [(s, t) for t in targets for s in sources if s != t]
    if not pairs:
        warnings.append(f"ignored link {source!r} → {target!r}: no two such nodes in task_nodes")
        return None
    forward = [p for p in pairs if p[0] < p[1]]
    return min(forward or pairs, key=lambda p: (p[1] - p[0] if p[0] < p[1] else len(names), p))


def _taskbench_name(name: str, registry: TaskRegistry) -> str:
    task_type = registry.by_id.get(name)
    return task_type.taskbench if task_type is not None and task_type.taskbench else name


def node_references(node: Any) -> list[int]:
    """The node indices a TaskBench node's arguments name (``<node-j>``), as written; arguments read as
    :func:`from_taskbench` reads them (``parameters``, one string, an object), an argument that is an
    object by its first value and a list by all of its items, as evaluate.py does."""
    if not isinstance(node, Mapping):
        return []
    try:
        arguments = _node_arguments(node, 0, [])
    except TaskBenchFormatError:
        return []
    found: list[int] = []
    for argument in arguments:
        if isinstance(argument, Mapping):
            argument = next(iter(argument.values()), "")
        if isinstance(argument, list):
            argument = " ".join(map(str, argument))
        found += [int(j) for j in NODE_REF.findall(str(argument))]
    return found


def reference_numbering(nodes: list[Any]) -> str:
    """How a gold plan numbers its ``<node-j>`` references: ``"from 0"`` (each names an earlier node),
    ``"from 1"`` (each does only when read from 1), ``"mixed"`` or ``"none"``. TaskBench's data has all
    four; a plan listed out of order is "mixed"."""
    pairs = [(i, j) for i, node in enumerate(nodes) for j in node_references(node)]
    if not pairs:
        return "none"
    if all(j < i for i, j in pairs):
        return "from 0"
    if all(1 <= j <= i for i, j in pairs):
        return "from 1"
    return "mixed"


def meant_dependencies(nodes: list[Any]) -> list[set[int]]:
    """Each gold node's parents as its references mean them: read from 0 or from 1, whichever makes fewer
    of them name the node itself or no node of the plan (on a tie the reading without a cycle, then from
    0); those that still do are dropped. So plans numbered from 1 are read right even when listed out of
    order (:func:`runnable_order` breaks any cycle left)."""
    written = [node_references(node) for node in nodes]

    def reading(shift: int) -> tuple[tuple[bool, int], list[set[int]]]:
        shifted = [{j - shift for j in refs} for refs in written]
        kept = [{j for j in group if 0 <= j < len(nodes) and j != i} for i, group in enumerate(shifted)]
        graph = nx.DiGraph((j, i) for i, group in enumerate(kept) for j in group)
        bad = sum(len(group) for group in shifted) - sum(len(group) for group in kept)
        return (bad, not nx.is_directed_acyclic_graph(graph)), kept

    return min(reading(0), reading(1), key=lambda read: read[0])[1]


def runnable_order(nodes: list[Any]) -> list[int]:
    """The gold nodes' indices in an order they can run in. Gold plans may list nodes in any order (some
    alphabetically, referencing later nodes), so this is a topological order of
    :func:`meant_dependencies`, ties by list position; a dependency that would close a cycle is skipped."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(nodes)))
    for i, parents in enumerate(meant_dependencies(nodes)):
        for j in sorted(parents):
            if not nx.has_path(graph, i, j):
                graph.add_edge(j, i)
    return list(nx.lexicographical_topological_sort(graph))
