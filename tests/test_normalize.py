from dag.normalize import normalize_plan
from dag.plan import Plan


def norm(tasks):
    result = normalize_plan(Plan.of(tasks))
    return {t.id: t for t in result.plan}, result.warnings


def test_dependencies_are_references_united_with_declared():
    tasks, _ = norm([
        {"task": "text-to-image", "id": 0, "args": {"text": "a cat"}},
        {"task": "summarization", "id": 1, "args": {"text": "x"}},
        {"task": "image-to-text", "id": 2, "dep": [1], "args": {"image": "<GENERATED>-0"}},
    ])
    assert tasks[2].dep == [0, 1]
    assert tasks[0].dep == [-1]


def test_task_names_become_registry_ids():
    tasks, warnings = norm([{"task": "Image Classification", "id": 0, "args": {"image": "a.jpg"}}])
    assert tasks[0].task == "image-classification"
    assert any("read as 'image-classification'" in w for w in warnings)


def test_self_reference_is_dropped_with_a_warning():
    tasks, warnings = norm([{"task": "image-to-text", "id": 0, "dep": [0], "args": {"image": "<GENERATED>-0"}}])
    assert "image" not in tasks[0].args and tasks[0].dep == [-1]
    assert any("itself" in w for w in warnings)


def test_forward_reference_is_dropped_and_embedded_text_kept():
    tasks, warnings = norm([
        {"task": "question-answering", "id": 0, "args": {"text": "What is in <GENERATED>-1?"}},
        {"task": "image-to-text", "id": 1, "args": {"image": "a.jpg"}},
    ])
    assert tasks[0].args["text"] == "What is in ?"
    assert tasks[0].dep == [-1]
    assert any("comes later" in w for w in warnings)


def test_comma_joined_references_unfold_into_one_task_each():
    tasks, warnings = norm([
        {"task": "text-to-image", "id": 0, "args": {"text": "a cat"}},
        {"task": "text-to-image", "id": 1, "args": {"text": "a dog"}},
        {"task": "image-to-text", "id": 2, "args": {"image": "<GENERATED>-0, <GENERATED>-1"}},
    ])
    assert sorted(tasks) == [0, 1, 2, 3]
    assert (tasks[2].args["image"], tasks[2].dep) == ("<GENERATED>-0", [0])
    assert (tasks[3].args["image"], tasks[3].dep, tasks[3].task) == ("<GENERATED>-1", [1], "image-to-text")
    assert any("unfolded into tasks 2, 3" in w for w in warnings)


def test_input_plan_is_not_changed():
    plan = Plan.of([{"task": "Summarization", "id": 0, "args": {"text": "x"}}])
    normalize_plan(plan)
    assert plan[0].task == "Summarization"
