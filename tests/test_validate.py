import pytest

from dag.plan import Plan
from dag.validate import PROBLEM_KINDS, check_plan, validate_plan

GOOD = [
    {"task": "openpose-control", "id": 0, "dep": [-1], "args": {"image": "e1.jpg"}},
    {"task": "openpose-text-to-image", "id": 1, "dep": [0], "args": {"text": "an astronaut", "image": "<GENERATED>-0"}},
    {"task": "image-to-text", "id": 2, "dep": [1], "args": {"image": "<GENERATED>-1"}},
    {"task": "text-to-speech", "id": 3, "dep": [2], "args": {"text": "<GENERATED>-2"}},
]


def kinds(tasks):
    return [(p.task_id, p.kind) for p in validate_plan(Plan.of(tasks))]


def test_hugginggpt_style_plan_is_valid():
    report = check_plan(GOOD)
    assert report.valid and report.problems == []
    assert report.summary().startswith("valid plan: 4 tasks, 3 dependencies")


def test_unknown_task_suggests_nearest_names():
    problems = validate_plan(Plan.of([{"task": "image-clasification", "id": 0, "args": {"image": "a.jpg"}}]))
    assert [p.kind for p in problems] == ["unknown_task"]
    assert "'image-classification'" in problems[0].hint


def test_missing_argument_names_the_argument():
    problems = validate_plan(Plan.of([{"task": "visual-question-answering", "id": 0, "args": {"image": "a.jpg"}}]))
    assert [(p.task_id, p.kind) for p in problems] == [(0, "missing_argument")]
    assert "'text'" in problems[0].hint
    assert kinds([{"task": "sentence-similarity", "id": 0, "args": {"text": "a"}}]) == [(0, "missing_argument")]
    assert kinds([{"task": "text-to-speech", "id": 0, "args": {"text": ""}}]) == [(0, "missing_argument")]


def test_modality_mismatch_from_a_task_that_outputs_text():
    problems = validate_plan(Plan.of([
        {"task": "summarization", "id": 0, "args": {"text": "a long story"}},
        {"task": "image-to-text", "id": 1, "dep": [0], "args": {"image": "<GENERATED>-0"}},
    ]))
    assert [(p.task_id, p.kind) for p in problems] == [(1, "modality_mismatch")]
    assert "summarization outputs text, not image" in problems[0].message


def test_modality_mismatch_of_files_and_unaccepted_arguments():
    assert kinds([{"task": "image-classification", "id": 0, "args": {"image": "song.wav"}}]) == [
        (0, "modality_mismatch")]
    assert kinds([{"task": "text-to-image", "id": 0, "args": {"text": "a cat", "audio": "a.wav"}}]) == [
        (0, "modality_mismatch")]


def test_structured_output_may_feed_text():
    assert kinds([
        {"task": "image-classification", "id": 0, "args": {"image": "a.jpg"}},
        {"task": "translation", "id": 1, "dep": [0], "args": {"text": "<GENERATED>-0"}},
    ]) == []


def test_reference_to_missing_task():
    problems = validate_plan(Plan.of([{"task": "image-to-text", "id": 0, "dep": [4], "args": {"image": "a.jpg"}}]))
    assert [(p.task_id, p.kind) for p in problems] == [(0, "missing_reference")]
    assert "no task 4" in problems[0].message


def test_duplicate_ids_reported_once():
    assert kinds([
        {"task": "summarization", "id": 1, "args": {"text": "x"}},
        {"task": "translation", "id": 1, "args": {"text": "y"}},
    ]) == [(1, "duplicate_id")]


def test_cycle_is_named():
    problems = validate_plan(Plan.of([
        {"task": "summarization", "id": 0, "dep": [2], "args": {"text": "x"}},
        {"task": "translation", "id": 1, "dep": [0], "args": {"text": "y"}},
        {"task": "text-generation", "id": 2, "dep": [1], "args": {"text": "z"}},
    ]))
    assert [p.kind for p in problems] == ["cycle"]
    assert "0 → 1 → 2 → 0" in problems[0].message


def test_every_problem_reported_at_once_as_text_and_data():
    report = check_plan("""[
        {"task": "image-clasification", "id": 0, "dep": [-1], "args": {"image": "a.jpg"}},
        {"task": "summarization", "id": 1, "dep": [-1], "args": {"text": "long text"}},
        {"task": "image-to-text", "id": 2, "dep": [1], "args": {"image": "<GENERATED>-1"}},
        {"task": "visual-question-answering", "id": 3, "dep": [7], "args": {"image": "a.jpg"}},
        {"task": "text-to-speech", "id": 3, "dep": [-1], "args": {"text": "hi"}},
        {"task": "translation", "id": 4, "dep": [5], "args": {"text": "x"}},
        {"task": "summarization", "id": 5, "dep": [4], "args": {"text": "y"}}]""")
    assert not report.valid
    assert {p.kind for p in report.problems} == set(PROBLEM_KINDS)
    data = report.to_dict()
    assert data["valid"] is False
    assert all({"task_id", "kind", "message"} <= set(p) for p in data["problems"])
    assert all(str(p).startswith(f"task {p.task_id}: [{p.kind}]") for p in report.problems)
    assert len(report.problems) == 6
    assert report.summary().startswith("invalid plan: 6 problems (1 duplicate_id, 1 unknown_task")


@pytest.mark.parametrize("text", ["[]", "```json\n[]\n```"])
def test_empty_plan_is_valid(text):
    report = check_plan(text)
    assert report.valid and len(report.plan) == 0
