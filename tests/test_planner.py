"""The LLM planner through the real openai client against a scripted OpenAI-compatible server."""

import json

import pytest

from orchestrator.demos import Demo
from orchestrator.llm import LLMClient, LLMConfig
from orchestrator.planner import LLMPlanner, PlanningError
from tests.scripted_llm import ScriptedLLMServer

MALFORMED = """Here you go:
```json
[{'task': 'image-to-text', 'id': 0, 'dep': -1, 'args': {'image': 'sign.png'}},
 {"task": "text-to-speech", "id": 1, "args": {"text": "<GENERATED-0>"}},]
```"""
WRONG_MODALITY = ('[{"task": "summarization", "id": 0, "dep": [-1], "args": {"text": "x"}},'
                  ' {"task": "image-to-text", "id": 1, "dep": [0], "args": {"image": "<GENERATED>-0"}}]')
FIXED = ('[{"task": "image-to-text", "id": 0, "dep": [-1], "args": {"image": "sign.png"}},'
         ' {"task": "summarization", "id": 1, "dep": [0], "args": {"text": "<GENERATED>-0"}}]')


def test_malformed_but_repairable_answer_is_accepted_in_one_round():
    with ScriptedLLMServer([MALFORMED]) as server:
        report = LLMPlanner(LLMClient(LLMConfig(base_url=server.base_url))).plan("read sign.png aloud")
    assert report.valid and [t.task for t in report.plan] == ["image-to-text", "text-to-speech"]
    assert report.plan[1].dep == [0] and report.repairs
    system = server.requests[0]["messages"][0]["content"]
    assert "#1 Task Planning Stage" in system and '"visual-question-answering" (image+text)' in system


def test_problems_are_fed_back_until_the_plan_is_valid():
    demos = [Demo("caption a.jpg", [{"task": "image-to-text", "id": 0, "dep": [-1], "args": {"image": "a.jpg"}}])]
    with ScriptedLLMServer([WRONG_MODALITY, FIXED]) as server:
        report = LLMPlanner(LLMClient(LLMConfig(base_url=server.base_url)), demos=demos).plan("summarize sign.png")
    assert report.valid and report.plan[0].task == "image-to-text"
    first, second = server.requests
    assert first["messages"][1] == {"role": "user", "content": "caption a.jpg"}  # the demonstration
    feedback = second["messages"][-1]["content"]
    assert "[modality_mismatch]" in feedback and "summarization outputs text, not image" in feedback


def test_retrieved_demonstrations_come_before_the_request_most_similar_last():
    best = Demo("read b.png aloud", [{"task": "image-to-text", "id": 0, "dep": [-1], "args": {"image": "b.png"}}])
    other = Demo("draw a cat", [{"task": "text-to-image", "id": 0, "dep": [-1], "args": {"text": "a cat"}}])
    with ScriptedLLMServer([FIXED]) as server:
        LLMPlanner(LLMClient(LLMConfig(base_url=server.base_url))).plan("read sign.png aloud", demos=[best, other])
    turns = [(m["role"], m["content"]) for m in server.requests[0]["messages"][1:]]
    assert [t for t in turns if t[0] == "user"][:2] == [("user", "draw a cat"), ("user", "read b.png aloud")]
    assert json.loads(turns[3][1]) == best.plan and "read sign.png aloud" in turns[-1][1]


def test_gives_up_after_the_allowed_rounds_with_the_last_plan_and_problems():
    with ScriptedLLMServer([WRONG_MODALITY, WRONG_MODALITY]) as server:
        planner = LLMPlanner(LLMClient(LLMConfig(base_url=server.base_url)), rounds=2)
        with pytest.raises(PlanningError) as err:
            planner.plan("summarize sign.png")
    assert "2 rounds" in str(err.value) and "modality_mismatch" in str(err.value)
    assert err.value.last_answer == WRONG_MODALITY and len(server.requests) == 2
