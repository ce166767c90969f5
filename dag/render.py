"""Pictures of a plan for people: Mermaid and Graphviz DOT text, and a PNG drawn with matplotlib.

Each node shows the task id, the task type and its literal arguments; each edge is labelled with the
arguments that take the source's output (no label for an order-only dependency).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx

from dag.resources import REFERENCE

_MAX_VALUE = 40


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _literal_args(attrs: dict[str, Any]) -> list[str]:
    """``key=value`` for arguments that are not plain references to another task."""
    out = []
    for key, value in attrs.get("args", {}).items():
        if isinstance(value, str) and REFERENCE.fullmatch(value.strip()):
            continue
        out.append(f"{key}={_short(value)}")
    return out


def _ordered(graph: nx.DiGraph) -> list[Any]:
    return sorted(graph, key=lambda n: graph.nodes[n].get("position", 0))


def to_mermaid(graph: nx.DiGraph) -> str:
    """Mermaid flowchart text (``graph TD``), which GitHub and most Markdown viewers draw."""

    def esc(text: str) -> str:
        return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")

    lines = ["graph TD"]
    for node in _ordered(graph):
        attrs = graph.nodes[node]
        label = "<br/>".join([f"{node}: {esc(attrs.get('task', '?'))}", *map(esc, _literal_args(attrs))])
        lines.append(f'    t{node}["{label}"]')
    for u, v, attrs in graph.edges(data=True):
        names = ", ".join(attrs.get("args", []))
        arrow = f"-->|{esc(names)}|" if names else "-.->"
        lines.append(f"    t{u} {arrow} t{v}")
    return "\n".join(lines) + "\n"


def to_dot(graph: nx.DiGraph, name: str = "plan") -> str:
    """Graphviz DOT text; ``dot -Tpng`` draws it where Graphviz is installed."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"', '\\"')

    def quote(text: str) -> str:
        return f'"{esc(text)}"'

    lines = [f"digraph {quote(name)} {{", "    rankdir=TB;", '    node [shape=box, style="rounded"];']
    for node in _ordered(graph):
        attrs = graph.nodes[node]
        label = "\\n".join(esc(line) for line in [f"{node}: {attrs.get('task', '?')}", *_literal_args(attrs)])
        lines.append(f'    t{node} [label="{label}"];')
    for u, v, attrs in graph.edges(data=True):
        names = ", ".join(attrs.get("args", []))
        style = f"label={quote(names)}" if names else "style=dashed"
        lines.append(f"    t{u} -> t{v} [{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def layered_positions(graph: nx.DiGraph) -> dict[Any, tuple[float, float]]:
    """Top-down positions: one row per generation of the DAG, nodes spread evenly in each row."""
    positions = {}
    for depth, generation in enumerate(nx.topological_generations(graph)):
        row = sorted(generation, key=lambda n: graph.nodes[n].get("position", 0))
        for i, node in enumerate(row):
            positions[node] = ((i - (len(row) - 1) / 2) * 1.8, -depth)
    return positions


def to_png(graph: nx.DiGraph, path: str | Path, title: str | None = None) -> Path:
    """Draw the DAG into a PNG file and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    positions = layered_positions(graph)
    depth = 1 + max((-y for _, y in positions.values()), default=0)
    width = 1 + max((abs(x) for x, _ in positions.values()), default=0) * 2
    fig, ax = plt.subplots(figsize=(max(4.0, 2.2 * width), max(2.5, 1.9 * depth)))
    labels = {n: "\n".join([f"{n}: {graph.nodes[n].get('task', '?')}", *_literal_args(graph.nodes[n])[:2]])
              for n in graph}
    for u, v, attrs in graph.edges(data=True):
        (x0, y0), (x1, y1) = positions[u], positions[v]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={
            "arrowstyle": "-|>", "color": "#555555", "shrinkA": 24, "shrinkB": 24, "mutation_scale": 16,
            "linestyle": "-" if attrs.get("args") else "--"})
        if attrs.get("args"):
            ax.text((x0 + x1) / 2 + 0.04, (y0 + y1) / 2, ", ".join(attrs["args"]), fontsize=8,
                    color="#333333", ha="left", va="center")
    for node, (x, y) in positions.items():
        ax.text(x, y, labels[node], ha="center", va="center", fontsize=9, wrap=True,
                bbox={"boxstyle": "round,pad=0.5", "facecolor": "#e8f0fe", "edgecolor": "#3366cc"})
    ax.set_xlim(-width / 2 - 0.9, width / 2 + 0.9)
    ax.set_ylim(-depth + 0.4, 0.6)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    out = Path(path)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out
