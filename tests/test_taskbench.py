import copy

from dag.graph import build_graph
from dag.plan import Plan
from dag.taskbench import from_taskbench, to_taskbench

MALFORMED = {"17353313", "32421407", "17786563"}  # dict task_nodes, "parameters", arguments as one string


def _link_pairs(links):
    return {(link["source"], link.get("target", link.get("destination"))) for link in links}


def test_every_gold_plan_round_trips_through_our_dag(taskbench_records):
    exact = 0
    for record in taskbench_records:
        plan, warnings = from_taskbench(record)
        build_graph(plan)  # every gold plan is a DAG
        back = to_taskbench(plan)
        if record["id"] in MALFORMED:
            assert warnings, record["id"]
            continue
        assert back["task_nodes"] == record["task_nodes"], record["id"]
        names = [n["task"] for n in record["task_nodes"]]
        gold_links = {p for p in _link_pairs(record["task_links"]) if p[0] in names and p[1] in names}
        assert gold_links <= _link_pairs(back["task_links"]), record["id"]
        if _link_pairs(back["task_links"]) == _link_pairs(record["task_links"]):
            exact += 1
        else:
            assert warnings, record["id"]  # every difference is explained
    assert exact >= 280


def test_malformed_gold_records_are_read_in_their_evident_meaning(taskbench_records):
    by_id = {r["id"]: r for r in taskbench_records}
    plan, warnings = from_taskbench(by_id["17353313"])
    assert [t.task for t in plan] == [n["task"] for n in by_id["17353313"]["task_nodes"].values()]
    assert any("object" in w for w in warnings)
    plan, warnings = from_taskbench(by_id["32421407"])
    assert any('"parameters"' in w for w in warnings) and plan[0].args
    plan, warnings = from_taskbench(by_id["17786563"])
    assert to_taskbench(plan)["task_nodes"][0]["arguments"] == [by_id["17786563"]["task_nodes"][0]["arguments"]]


def test_references_become_generated_and_back():
    record = {"task_nodes": [
        {"task": "Image-to-Text", "arguments": ["example.jpg"]},
        {"task": "Translation", "arguments": ["<node-0>", "French"]},
        {"task": "Question Answering", "arguments": ["What does <node-1> say?", "context"]},
    ], "task_links": [{"source": "Image-to-Text", "target": "Translation"}]}
    plan, warnings = from_taskbench(record)
    assert plan[0].args == {"image": "example.jpg"}
    assert plan[1].args == {"text": "<GENERATED>-0", "text2": "French"}
    assert plan[1].dep == [0] and plan[2].dep == [1]
    assert warnings == ["task_links lacks 1 edge(s) that <node-j> references make; both are kept"]
    back = to_taskbench(plan)
    assert back["task_nodes"] == record["task_nodes"]
    assert _link_pairs(back["task_links"]) == {("Image-to-Text", "Translation"), ("Translation", "Question Answering")}


def test_registry_ids_export_as_taskbench_names_and_ids_as_positions():
    plan = Plan.of([
        {"task": "automatic-speech-recognition", "id": 7, "args": {"audio": "a.wav"}},
        {"task": "my-custom-tool", "id": 9, "dep": [7], "args": {"text": "<GENERATED>-7"}},
    ])
    back = to_taskbench(plan)
    assert back["task_nodes"] == [
        {"task": "Automatic Speech Recognition", "arguments": ["a.wav"]},
        {"task": "my-custom-tool", "arguments": ["<node-0>"]},
    ]
    assert back["task_links"] == [{"source": "Automatic Speech Recognition", "target": "my-custom-tool"}]


def test_a_forward_reference_that_closes_a_cycle_is_dropped(taskbench_records):
    record = copy.deepcopy(next(r for r in taskbench_records if r["id"] == "24064890"))
    plan, warnings = from_taskbench(record)
    build_graph(plan)
    assert any("close a cycle" in w for w in warnings)


def _nodes(*specs):
    return [{"task": task, "arguments": list(arguments)} for task, *arguments in specs]


def test_reference_numbering_tells_the_four_ways_gold_plans_number_references():
    from dag.taskbench import meant_dependencies, reference_numbering

    from_0 = _nodes(("Image-to-Text", "a.jpg"), ("Summarization", "<node-0>"), ("Translation", "<node-1>", "French"))
    from_1 = _nodes(("Image-to-Text", "a.jpg"), ("Summarization", "<node-1>"), ("Translation", "<node-2>"))
    mixed = _nodes(("Conversational", "<node-2>"), ("Image-to-Text", "a.jpg"), ("Summarization", "<node-1>"))
    none = _nodes(("Image-to-Text", "a.jpg"), ("Summarization", "the text"))
    assert [reference_numbering(n) for n in (from_0, from_1, mixed, none)] == ["from 0", "from 1", "mixed", "none"]
    assert meant_dependencies(from_0) == meant_dependencies(from_1) == [set(), {0}, {1}]
    assert meant_dependencies(mixed) == [{2}, set(), {1}]  # as written
    assert meant_dependencies(none) == [set(), set()]


def test_runnable_order_puts_an_alphabetically_listed_plan_in_an_order_it_can_run_in():
    from dag.taskbench import runnable_order

    listed = _nodes(("Conversational", "<node-3>"), ("Depth Estimation", "a.jpg"), ("Image Segmentation", "<node-1>"),
                    ("Tabular Classification", "<node-2>"))
    assert runnable_order(listed) == [1, 2, 3, 0]
    from_1 = _nodes(("Conversational", "<node-4>"), ("Depth Estimation", "a.jpg"), ("Image Segmentation", "<node-2>"),
                    ("Tabular Classification", "<node-3>"))  # numbered from 1 and listed alphabetically
    assert runnable_order(from_1) == [1, 2, 3, 0]
    cycle = _nodes(("Summarization", "<node-1>"), ("Translation", "<node-2>"), ("Text-to-Speech", "<node-0>"))
    assert runnable_order(cycle) == [2, 1, 0]  # the dependency that closes the cycle (0 → 2) is skipped


def test_node_references_read_every_argument_form():
    from dag.taskbench import meant_dependencies, node_references

    assert node_references({"task": "VQA", "arguments": {"image": "<node-0>", "text": "<node-1>"}}) == [0, 1]
    assert node_references({"task": "VQA", "parameters": ["<node-2>"]}) == [2]
    assert node_references({"task": "VQA", "arguments": "<node-3>"}) == [3]
    assert node_references({"task": "VQA", "arguments": [{"image": "<node-1>"}, ["x", "<node-4>"]]}) == [1, 4]
    assert node_references("not a node") == [] and node_references({"task": "VQA", "arguments": 7}) == []
    past_end_and_self = _nodes(("Image-to-Text", "a.jpg"), ("Summarization", "<node-1>", "<node-9>"))
    assert meant_dependencies(past_end_and_self) == [set(), {0}]  # read from 1: <node-1> is node 0
