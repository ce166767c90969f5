import pytest

from dag.graph import PlanGraphError, ReadyTracker, build_graph, critical_path, roots, skipped_by, unblocked_by
from dag.plan import Plan

# 0 ─┬─> 2 ─> 4
# 1 ─┴─> 3
DIAMOND = Plan.of([
    {"task": "image-to-text", "id": 0, "args": {"image": "a.jpg"}},
    {"task": "object-detection", "id": 1, "args": {"image": "a.jpg"}},
    {"task": "visual-question-answering", "id": 2, "dep": [0, 1],
     "args": {"image": "<GENERATED>-1", "text": "<GENERATED>-0"}},
    {"task": "text-to-speech", "id": 3, "dep": [1], "args": {"text": "<GENERATED>-1"}},
    {"task": "text-to-speech", "id": 4, "dep": [2], "args": {"text": "<GENERATED>-2"}},
])


def test_graph_nodes_and_edges_carry_task_attributes():
    graph = build_graph(DIAMOND)
    assert sorted(graph.edges) == [(0, 2), (1, 2), (1, 3), (2, 4)]
    assert graph.nodes[2]["task"] == "visual-question-answering"
    assert graph.nodes[2]["inputs"] == ("image", "text")
    assert graph.edges[1, 2]["args"] == ["image"]
    assert graph.edges[0, 2]["args"] == ["text"]


def test_order_only_dependency_has_no_argument():
    graph = build_graph(Plan.of([
        {"task": "summarization", "id": 0, "args": {"text": "x"}},
        {"task": "translation", "id": 1, "dep": [0], "args": {"text": "y"}},
    ]))
    assert graph.edges[0, 1]["args"] == []


def test_ready_tracker_hands_out_each_task_when_its_own_inputs_exist():
    tracker = ReadyTracker(build_graph(DIAMOND))
    assert tracker.start() == [0, 1]
    assert tracker.finished(1) == [3]  # 3 needs only 1; 2 still waits for 0
    assert tracker.finished(3) == []
    assert tracker.finished(0) == [2]
    assert not tracker.complete
    assert tracker.finished(2) == [4]
    tracker.finished(4)
    assert tracker.complete


def test_failure_skips_only_descendants():
    graph = build_graph(DIAMOND)
    assert skipped_by(graph, 0) == {2, 4}
    tracker = ReadyTracker(graph)
    tracker.start()
    assert tracker.failed(0) == {2, 4}
    assert tracker.finished(1) == [3]  # 2 is skipped, not handed out
    tracker.finished(3)
    assert tracker.complete


def test_unblocked_by_and_roots():
    graph = build_graph(DIAMOND)
    assert roots(graph) == [0, 1]
    assert unblocked_by(graph, 0, done={1}) == [2]
    assert unblocked_by(graph, 0, done=set()) == []


def test_critical_path_uses_costs():
    graph = build_graph(DIAMOND)
    assert critical_path(graph) == (3.0, [0, 2, 4])
    length, path = critical_path(graph, {0: 1.0, 1: 5.0, 2: 1.0, 3: 10.0, 4: 1.0})
    assert (length, path) == (15.0, [1, 3])
    assert critical_path(graph, lambda n: 2.0)[0] == 6.0


@pytest.mark.parametrize("tasks, words", [
    ([{"task": "summarization", "id": 0, "args": {}}, {"task": "summarization", "id": 0, "args": {}}], "duplicate"),
    ([{"task": "summarization", "id": 0, "dep": [3], "args": {}}], "lacks"),
    ([{"task": "summarization", "id": 0, "dep": [1], "args": {}},
      {"task": "summarization", "id": 1, "dep": [0], "args": {}}], "cycle"),
])
def test_graph_refuses_plans_that_are_not_dags(tasks, words):
    with pytest.raises(PlanGraphError, match=words):
        build_graph(Plan.of(tasks))
