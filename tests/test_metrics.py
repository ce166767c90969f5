import pytest

from dag.metrics import evaluate_plans, read_jsonl, resource_edges

GOLD = [
    {"id": "a", "type": "chain", "task_nodes": [
        {"task": "Image-to-Text", "arguments": ["example.jpg"]},
        {"task": "Translation", "arguments": ["<node-0>"]},
        {"task": "Text-to-Speech", "arguments": ["<node-1>"]}]},
    {"id": "b", "type": "single", "task_nodes": [{"task": "Object Detection", "arguments": ["a.jpg"]}]},
    {"id": "c", "type": "single", "task_nodes": [{"task": "Text-to-Speech", "arguments": ["hi"]}]},
    {"id": "d", "type": "dag", "task_nodes": [
        {"task": "Text Extraction", "arguments": ["x.jpg"]},
        {"task": "Translation", "arguments": ["<node-0>"]}]},
]
PRED = [
    {"id": "a", "task_nodes": [
        {"task": "Image-to-Text", "arguments": ["example.jpg"]},
        {"task": "Summarization", "arguments": ["<node-0>"]},
        {"task": "Text-to-Speech", "arguments": ["<node-1>"]}]},
    {"id": "b", "task_nodes": [{"task": "Object_Detection", "arguments": ["a.jpg"]}, {"task": "Made Up Tool"}]},
    # no prediction for "c"
    {"id": "d", "result": {"task_nodes": [
        {"task": "Text Extraction", "arguments": ["x.jpg"]},
        {"task": "Translation", "arguments": ["<node-0>"]}]}},
]


def test_gold_against_gold_scores_one(taskbench_records):
    result = evaluate_plans(taskbench_records, taskbench_records).to_dict()
    assert result["overall"] == {"node_f1": 1.0, "edge_f1": 1.0, "n": 296}
    assert {k: v["n"] for k, v in result["by_type"].items()} == {"single": 137, "chain": 136, "dag": 23}
    assert all(v["node_f1"] == 1.0 for v in result["by_type"].values())
    assert set(result["dropped"]) == {"17353313", "32421407"}  # evaluate.py cannot parse these two


def test_crafted_predictions_score_hand_checked_values():
    # nodes: a TP2 FP1 FN1, b TP1 ("Made Up Tool" not a tool), c FN1 (empty plan), d TP1 ("Text Extraction" ignored)
    # edges: a TP0 FP2 FN2, d TP1 ("Text Extraction" counts for edges)
    result = evaluate_plans(GOLD, PRED).to_dict()
    assert result["overall"] == {"node_f1": round(8 / 11, 6), "edge_f1": round(2 / 6, 6), "n": 4}
    assert result["by_type"]["chain"] == {"node_f1": round(4 / 6, 6), "edge_f1": 0.0, "n": 1}
    assert result["by_type"]["single"] == {"node_f1": round(2 / 3, 6), "edge_f1": None, "n": 2}
    assert result["by_type"]["dag"] == {"node_f1": 1.0, "edge_f1": 1.0, "n": 1}
    assert result["missing_predictions"] == 1


def test_missing_predictions_can_be_skipped_as_evaluate_py_does():
    result = evaluate_plans(GOLD, PRED, missing="skip").to_dict()
    assert result["overall"]["n"] == 3
    assert result["overall"]["node_f1"] == 0.8


def test_edges_follow_evaluate_py():
    nodes = [
        {"task": "Text_Generation", "arguments": ["hello"]},
        {"task": "Translation", "arguments": ["<node-1>", "<node-0> and <node-5>", {"x": "<node-0>"}]},
    ]
    # self reference ignored, only the first reference of an argument counts, dicts read by their first value
    assert resource_edges(nodes, gold=True) == {("Text Generation", "Translation")}
    # predictions skip arguments that are not strings
    assert resource_edges([nodes[0], {"task": "Translation", "arguments": [{"x": "<node-0>"}]}], gold=False) == set()


def test_unreadable_prediction_is_left_out_and_listed():
    result = evaluate_plans(GOLD[:1], [{"id": "a", "task_nodes": "oops"}]).to_dict()
    assert result["overall"]["n"] == 0
    assert "prediction" in result["dropped"]["a"]


def test_read_jsonl_names_the_bad_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "1", "task_nodes": []}\n{oops\n')
    with pytest.raises(ValueError, match="line 2"):
        read_jsonl(path)


def test_confusions_pair_missed_with_extra_task_names():
    from dag.metrics import confusions

    gold = [{"id": 1, "task_nodes": [{"task": "Image-to-Text", "arguments": ["a.png"]},
                                     {"task": "Text-to-Speech", "arguments": ["<node-0>"]}]},
            {"id": 2, "task_nodes": [{"task": "Image-to-Text", "arguments": ["b.png"]}]},
            {"id": 3, "task_nodes": [{"task": "Summarization", "arguments": ["x"]}]}]
    predicted = {"1": {"task_nodes": [{"task": "Image Classification", "arguments": ["a.png"]},
                                      {"task": "Text-to-Speech", "arguments": ["<node-0>"]}]},
                 "2": {"task_nodes": [{"task": "Image Classification", "arguments": ["b.png"]},
                                      {"task": "Translation", "arguments": ["<node-0>"]}]},
                 "3": {"task_nodes": [{"task": "Summarization", "arguments": ["x"]}]}}
    assert confusions(gold, predicted) == [
        {"gold": "Image-to-Text", "predicted": "Image Classification", "count": 2},
        {"gold": "(none)", "predicted": "Translation", "count": 1},
    ]
