"""Plans as DAGs: schema, parsing with repair, normalisation, validation, graph, TaskBench, metrics.

Pure Python (networkx, pydantic); nothing here imports Ray, models or HTTP.
"""

from dag.graph import PlanGraphError, ReadyTracker, build_graph, critical_path
from dag.parse import PlanParseError, parse_plan
from dag.plan import Plan, Task
from dag.registry import REGISTRY
from dag.validate import PlanReport, Problem, check_plan, validate_plan

__all__ = [
    "REGISTRY", "Plan", "PlanGraphError", "PlanParseError", "PlanReport", "Problem", "ReadyTracker", "Task",
    "build_graph", "check_plan", "critical_path", "parse_plan", "validate_plan",
]
