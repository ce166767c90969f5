import pytest

from dag.parse import PlanParseError, parse_plan

CLEAN = '[{"task": "image-to-text", "id": 0, "dep": [-1], "args": {"image": "a.jpg"}}]'


def tasks(text):
    parsed = parse_plan(text)
    return [t.model_dump() for t in parsed.plan], parsed.repairs


def test_clean_json_needs_no_repair():
    plan, repairs = tasks(CLEAN)
    assert plan == [{"task": "image-to-text", "id": 0, "dep": [-1], "args": {"image": "a.jpg"}}]
    assert repairs == []


def test_prose_and_code_fence_around_json():
    plan, repairs = tasks(f"Sure, here is the plan:\n```json\n{CLEAN}\n```\nAnything else?")
    assert plan[0]["task"] == "image-to-text"
    assert any("code fence" in r for r in repairs)
    plan, repairs = tasks(f"The tasks are {CLEAN} as requested.")
    assert len(plan) == 1 and any("prose" in r for r in repairs)


def test_trailing_commas():
    plan, repairs = tasks('[{"task": "summarization", "id": 0, "dep": [-1,], "args": {"text": "x",},},]')
    assert plan[0]["dep"] == [-1] and plan[0]["args"] == {"text": "x"}
    assert any("trailing commas" in r and "line 1" in r for r in repairs)


def test_single_quotes_with_apostrophes_inside():
    plan, repairs = tasks("[{'task': 'text-to-speech', 'id': 0, 'dep': [-1], 'args': {'text': \"it's fine\"}},"
                          " {'task': 'summarization', 'id': 1, 'dep': [-1], 'args': {'text': 'What's new'}}]")
    assert plan[0]["args"]["text"] == "it's fine"
    assert plan[1]["args"]["text"] == "What's new"
    assert any("single-quoted" in r for r in repairs)


def test_python_literals_and_bare_keys():
    plan, repairs = tasks('[{task: "conversational", id: 0, dep: [-1], args: {text: "hi"}, done: False}]')
    assert plan[0]["task"] == "conversational" and plan[0]["done"] is False
    assert any("bare keys" in r for r in repairs) and any("False" in r for r in repairs)


@pytest.mark.parametrize("spelling", ["<GENERATED-0>", "<resource>-0", "<resource-0>", "<generated>-0",
                                      "<GENERATED> - 0", "<node-0>"])
def test_reference_spellings_become_canonical(spelling):
    plan, repairs = tasks('[{"task": "text-to-image", "id": 0, "dep": [-1], "args": {"text": "a cat"}},'
                          f'{{"task": "image-to-text", "id": 1, "dep": [0], "args": {{"image": "{spelling}"}}}}]')
    assert plan[1]["args"]["image"] == "<GENERATED>-0"
    assert any("references rewritten" in r for r in repairs)


def test_embedded_reference_in_text_is_rewritten():
    plan, _ = tasks('[{"task": "question-answering", "id": 1, "dep": [0], '
                    '"args": {"text": "What is in <GENERATED-0>?"}}]')
    assert plan[0]["args"]["text"] == "What is in <GENERATED>-0?"


@pytest.mark.parametrize("dep, expected", [("0", [0]), ('"0"', [0]), ("-1", [-1]), ('"0, 1"', [0, 1]),
                                           ("[]", [-1]), ("null", [-1]), ('["<GENERATED>-0"]', [0])])
def test_dep_forms(dep, expected):
    plan, _ = tasks(f'[{{"task": "summarization", "id": 2, "dep": {dep}, "args": {{"text": "x"}}}}]')
    assert plan[0]["dep"] == expected


def test_missing_dep_defaults_to_none_and_says_so():
    plan, repairs = tasks('[{"task": "summarization", "id": 0, "args": {"text": "x"}}]')
    assert plan[0]["dep"] == [-1]
    assert any('no "dep"' in r for r in repairs)


def test_stray_closing_brace_is_removed():
    text = ('[{"task": "openpose-control", "id": 0, "dep": [-1], "args": {"image": "a.jpg"}}},'
            ' {"task": "image-to-text", "id": 1, "dep": [0], "args": {"image": "<GENERATED>-0"}}]')
    plan, repairs = tasks(text)
    assert [t["id"] for t in plan] == [0, 1]
    assert any("stray '}'" in r for r in repairs)


def test_missing_closing_braces_are_added():
    plan, repairs = tasks('[{"task": "summarization", "id": 0, "dep": [-1], "args": {"text": "x"}]')
    assert plan[0]["args"] == {"text": "x"}
    assert any("missing closing braces" in r for r in repairs)
    plan, repairs = tasks('[{"task": "summarization", "id": 0, "dep": [-1], "args": {"text": "x"')
    assert plan[0]["args"] == {"text": "x"}
    assert any("unclosed" in r for r in repairs)


def test_objects_without_list_and_missing_commas():
    plan, repairs = tasks('{"task": "summarization", "id": 0, "args": {"text": "x"}}\n'
                          '{"task": "translation", "id": 1, "args": {"text": "<GENERATED>-0"}}')
    assert [t["task"] for t in plan] == ["summarization", "translation"]
    assert any("missing commas" in r for r in repairs)


def test_wrapped_task_list_and_single_task():
    plan, repairs = tasks('{"tasks": ' + CLEAN + "}")
    assert len(plan) == 1 and plan[0]["task"] == "image-to-text" and repairs
    plan, repairs = tasks('{"task": "summarization", "id": 0, "dep": [-1], "args": {"text": "x"}}')
    assert len(plan) == 1 and any("single task" in r for r in repairs)


def test_args_as_list_are_named_by_modality_and_ids_numbered():
    plan, repairs = tasks('[{"task": "visual-question-answering", "arguments": ["a.png", "what is it?"]}]')
    assert plan[0]["id"] == 0
    assert plan[0]["args"] == {"image": "a.png", "text": "what is it?"}
    assert any("numbered" in r for r in repairs) and any("list" in r for r in repairs)


def test_string_ids_are_read_as_integers():
    plan, _ = tasks('[{"task": "summarization", "id": "3", "dep": ["-1"], "args": {"text": "x"}}]')
    assert plan[0]["id"] == 3 and plan[0]["dep"] == [-1]


def test_empty_list_is_an_empty_plan():
    plan, _ = tasks("[]")
    assert plan == []


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    ("I cannot help with that.", "no JSON"),
    ('[{"task": "summarization", "id": 0, "args": {"text": "x" "y"}}]', "line 1, column"),
    ('["summarization"]', "not a task object"),
    ('[{"id": 0, "args": {}}]', 'no "task"'),
    ('[{"task": "a", "id": 0}, {"task": "b"}]', "have no \"id\""),
    ('[{"task": "a", "id": "first"}]', "not an integer"),
    ('"just a string"', "no JSON list"),
])
def test_unreadable_plans_say_where_and_what(text, words):
    with pytest.raises(PlanParseError) as err:
        parse_plan(text)
    assert words in str(err.value)


def test_parse_error_names_line_and_column():
    with pytest.raises(PlanParseError) as err:
        parse_plan('[\n  {"task": "summarization",\n   "id": 0 "dep": [-1]}\n]')
    assert err.value.line == 3
    assert "line 3, column" in str(err.value)
