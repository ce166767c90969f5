import json

import pytest

from dag.plan import Plan
from deployments.catalog import ModelCard, Weights
from orchestrator.llm import LLMClient, LLMConfig
from orchestrator.selector import SelectionError, parse_choice, select_models
from tests.scripted_llm import ScriptedLLMServer


def card(model_id, task="image-to-text", description="", source="none", downloads=0, package=None):
    return ModelCard(id=model_id, task=task, backend="canny", description=description, downloads=downloads,
                     weights=Weights(source=source, package=package, pip=package))


CARDS = [
    card("ocr/reader", description="reads the printed text in an image (OCR)"),
    card("blip/captioner", description="describes a photo in one sentence: image captioning", downloads=1000),
    card("hub/only", description="image captioning from the hub", source="hub"),
    card("gone/model", description="needs a package", package="no_such_package_anywhere"),
]
PLAN = Plan.of([{"task": "image-to-text", "id": 0, "args": {"image": "photo.jpg", "text": "caption this photo"}}])


def test_without_llm_the_best_ranked_usable_model_wins_with_its_reason():
    selection = select_models(PLAN, CARDS)[0]
    assert selection.model == "blip/captioner"
    assert "best ranked" in selection.reason and "1000 downloads" in selection.reason
    assert selection.ranked == ["blip/captioner", "ocr/reader"]  # hub-only and missing-package cards excluded


def test_deployed_models_rank_first():
    selection = select_models(PLAN, CARDS, deployed={"ocr/reader"})[0]
    assert selection.model == "ocr/reader" and "already deployed" in selection.reason


def test_llm_chooses_among_top_k_and_says_why():
    answer = 'Sure: {"id": "ocr/reader", "reason": "the image holds text"}'
    with ScriptedLLMServer([answer]) as server:
        llm = LLMClient(LLMConfig(base_url=server.base_url))
        selection = select_models(PLAN, CARDS, request="read photo.jpg", llm=llm)[0]
    assert selection.model == "ocr/reader"
    assert selection.reason == "chosen by the LLM: the image holds text"
    assert selection.ranked == ["ocr/reader", "blip/captioner"]
    prompt = server.requests[0]["messages"][-1]["content"]
    assert "for the task image-to-text" in prompt
    assert {m["id"] for m in json.loads(prompt.split("from ", 1)[1].split(" for the task")[0])} == {
        "ocr/reader", "blip/captioner"}


def test_unusable_llm_answer_falls_back_to_the_ranking():
    with ScriptedLLMServer(["I would pick the best one."]) as server:
        selection = select_models(PLAN, CARDS, llm=LLMClient(LLMConfig(base_url=server.base_url)))[0]
    assert selection.model == "blip/captioner" and "LLM choice unusable" in selection.reason


@pytest.mark.parametrize("text, expected", [
    ('{"id": "a/b", "reason": "fits"}', ("a/b", "fits")),
    ("```json\n{'id': 'a/b', 'reason': 'fits'}\n```", ("a/b", "fits")),
    ("I choose a/b because it fits.", ("a/b", "named in the LLM's answer")),
    ('{"id": "x/y"}', (None, None)),
])
def test_parse_choice(text, expected):
    model, reason = parse_choice(text, ["a/b", "c/d"])
    assert model == expected[0]
    if expected[1] is not None:
        assert reason == expected[1]


def test_a_task_without_usable_model_is_an_early_clear_error():
    plan = Plan.of([{"task": "image-to-text", "id": 0, "args": {"image": "a.jpg"}},
                    {"task": "text-to-video", "id": 1, "args": {"text": "a cat"}}])
    with pytest.raises(SelectionError) as err:
        select_models(plan, [card("hub/only", source="hub")])
    message = str(err.value)
    assert "task 0 (image-to-text)" in message and "hub/only: needs hub" in message
    assert "task 1 (text-to-video)" in message and "add a card" in message
