"""The transformers and diffusers backends on tiny random-weight models built locally (no Ray, no hub)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

pytest.importorskip("torch")
pytest.importorskip("transformers")

from deployments.artifacts import Image, Json, Text  # noqa: E402
from deployments.backends.base import ExpertError, ExpertRequest  # noqa: E402
from deployments.catalog import ModelCard, Resources, Weights  # noqa: E402
from deployments.tiny_models import NER_LABELS, TINY_KINDS, VIT_LABELS, build_tiny  # noqa: E402


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny")


@pytest.fixture(scope="module")
def tiny(tiny_root):
    """``tiny(kind)`` → the folder of that tiny model, built once per module."""
    return lambda kind: build_tiny(kind, tiny_root)


def _card(task: str, folder, backend: str = "transformers", **options) -> ModelCard:
    return ModelCard(
        id=f"tiny/{folder.name}-{task}", task=task, backend=backend,
        weights=Weights(source="local", path=str(folder)), options=options, resources=Resources(threads=1),
    )


def _transformers(task, folder, **options):
    from deployments.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(_card(task, folder, **options))
    backend.load()
    return backend


def _picture(width=40, height=30, colour="red") -> Image:
    from PIL import Image as PILImage

    return Image.from_pil(PILImage.new("RGB", (width, height), colour))


def _req(task, **inputs) -> ExpertRequest:
    return ExpertRequest(task=task, inputs=inputs)


# ---------------------------------------------------------------- tiny models


def test_build_tiny_is_idempotent_and_knows_its_kinds(tiny, tiny_root):
    assert {"gpt2", "t5", "bert-token", "bert-qa", "vit", "stable-diffusion", "controlnet"} <= set(TINY_KINDS)
    first = tiny("gpt2")
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert tiny("gpt2") == first == tiny_root / "gpt2"
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    with pytest.raises(KeyError, match="unknown tiny model kind"):
        build_tiny("nope", tiny_root)


# ---------------------------------------------------------------- transformers tasks


def test_text_generation_returns_text(tiny):
    backend = _transformers("text-generation", tiny("gpt2"), generate_kwargs={"max_new_tokens": 4})
    [outputs] = backend.predict([_req("text-generation", text=Text("the quick brown fox"))])
    assert isinstance(outputs[0], Text) and outputs[0].text.strip()


def test_text_generation_batch_keeps_order_and_isolates_bad_requests(tiny):
    backend = _transformers("text-generation", tiny("gpt2"), generate_kwargs={"max_new_tokens": 3})
    prompts = ["the weather today", "   ", "Paris is the capital"]
    results = backend.predict([_req("text-generation", text=Text(p)) for p in prompts])
    assert len(results) == 3
    assert isinstance(results[1], ExpertError) and "empty text" in str(results[1])
    assert results[0][0].text.startswith("the weather today")
    assert results[2][0].text.startswith("Paris is the capital")


@pytest.mark.parametrize("task", ["summarization", "translation", "text2text-generation"])
def test_seq2seq_tasks_return_text(tiny, task):
    backend = _transformers(task, tiny("t5"), generate_kwargs={"max_new_tokens": 5})
    inputs = {"text": Text("the quick brown fox jumps over the lazy dog")}
    if task == "translation":
        inputs.update(src_lang=Text("English"), tgt_lang=Text("German"))
    results = backend.predict([ExpertRequest(task, inputs), _req(task, image=_picture()), ExpertRequest(task, inputs)])
    assert isinstance(results[0][0], Text) and isinstance(results[2][0], Text)
    assert results[0][0].text == results[2][0].text  # greedy decoding: the same input gives the same text
    assert isinstance(results[1], ExpertError) and "text input" in str(results[1])


def test_token_classification_returns_entity_list(tiny):
    backend = _transformers("token-classification", tiny("bert-token"))
    results = backend.predict([
        _req("token-classification", text=Text("John Smith works for Acme Corporation in New York")),
        _req("token-classification", text=Text("")),
        _req("token-classification", text=Text("Paris is the capital of France")),
    ])
    assert isinstance(results[1], ExpertError)
    for outputs in (results[0], results[2]):
        assert isinstance(outputs[0], Json) and isinstance(outputs[0].data, list)
        assert isinstance(outputs[1], Text)
        for entity in outputs[0].data:
            assert {"entity_group", "score", "word", "start", "end"} <= set(entity)
            assert f"B-{entity['entity_group']}" in NER_LABELS
            assert isinstance(entity["score"], float)


def test_text_classification_returns_labels(tiny):
    backend = _transformers("text-classification", tiny("bert-cls"))
    [outputs] = backend.predict([_req("text-classification", text=Text("what a lovely day"))])
    assert {x["label"] for x in outputs[0].data} == {"NEGATIVE", "POSITIVE"}


def test_question_answering_answer_is_a_span_of_the_context(tiny):
    backend = _transformers("question-answering", tiny("bert-qa"))
    context = "Paris is the capital of France and Berlin is the capital of Germany"
    results = backend.predict([
        _req("question-answering", text=Text("what is the capital of France?"), context=Text(context)),
        _req("question-answering", text=Text("a question without a context")),
        _req("question-answering", question=Text("which city is in Germany?"), text2=Text(context)),
    ])
    assert isinstance(results[1], ExpertError) and "context" in str(results[1])
    for outputs in (results[0], results[2]):
        answer, info = outputs
        assert isinstance(answer, Text) and answer.text and answer.text in context
        assert context[info.data["start"]:info.data["end"]] == answer.text
        assert 0.0 <= info.data["score"] <= 1.0


def test_image_classification_labels_come_from_the_config(tiny):
    backend = _transformers("image-classification", tiny("vit"))
    results = backend.predict([
        _req("image-classification", image=_picture(40, 30)),
        _req("image-classification", text=Text("not an image")),
        _req("image-classification", image=_picture(64, 64, "green")),
    ])
    assert isinstance(results[1], ExpertError) and "image input" in str(results[1])
    for outputs in (results[0], results[2]):
        assert isinstance(outputs[0], Json)
        assert {x["label"] for x in outputs[0].data} == set(VIT_LABELS)
        assert sum(x["score"] for x in outputs[0].data) == pytest.approx(1.0, abs=1e-3)
        assert isinstance(outputs[1], Text) and outputs[1].text.split(" ")[0] in VIT_LABELS


def test_one_request_batches_and_single_requests_agree(tiny):
    backend = _transformers("image-classification", tiny("vit"))
    picture = _picture(32, 32, "blue")
    alone = backend.predict([_req("image-classification", image=picture)])[0][0].data
    together = backend.predict([_req("image-classification", image=picture)] * 2)[1][0].data
    assert [x["label"] for x in alone] == [x["label"] for x in together]
    assert np.allclose([x["score"] for x in alone], [x["score"] for x in together], atol=1e-4)


def test_hub_card_offline_fails_with_a_clear_message(monkeypatch, tmp_path):
    from deployments.backends.transformers_backend import TransformersBackend

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    card = ModelCard(id="nobody/not-a-real-model", task="text-generation", backend="transformers",
                     weights=Weights(source="hub", hub_id="nobody/not-a-real-model"))
    backend = TransformersBackend(card)
    with pytest.raises(RuntimeError) as info:
        backend.load()
    message = str(info.value)
    assert "nobody/not-a-real-model" in message
    assert "hub is not reachable" in message and "not in the local cache" in message


def test_missing_local_folder_fails_in_load(tmp_path):
    from deployments.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(_card("text-generation", tmp_path / "missing"))
    with pytest.raises(RuntimeError, match="local weights not found"):
        backend.load()


def test_a_batch_is_one_pipeline_call(tiny):
    backend = _transformers("token-classification", tiny("bert-token"))
    calls = []
    pipe = backend.pipe

    def counting(inputs, **kwargs):
        calls.append((len(inputs) if isinstance(inputs, list) else 1, kwargs.get("batch_size")))
        return pipe(inputs, **kwargs)

    backend.pipe = counting
    texts = ["John Smith works for Acme", "", "Berlin is in Germany", "the lazy dog"]
    results = backend.predict([_req("token-classification", text=Text(t)) for t in texts])
    assert calls == [(3, 3)]
    assert [isinstance(r, ExpertError) for r in results] == [False, True, False, False]


# ---------------------------------------------------------------- diffusers

SD_OPTIONS = {"num_inference_steps": 2, "height": 64, "width": 64, "guidance_scale": 5.0, "seed": 0}


def _diffusers(task, folder, **options):
    pytest.importorskip("diffusers")
    from deployments.backends.diffusers_backend import DiffusersBackend

    backend = DiffusersBackend(_card(task, folder, backend="diffusers", **SD_OPTIONS, **options))
    backend.load()
    return backend


def test_text_to_image_gives_the_requested_size(tiny):
    backend = _diffusers("text-to-image", tiny("stable-diffusion"))
    results = backend.predict([_req("text-to-image", text=Text("a red cat")), _req("text-to-image", text=Text(" "))])
    picture = results[0][0]
    assert isinstance(picture, Image) and (picture.width, picture.height) == (64, 64)
    assert picture.to_pil().size == (64, 64)
    assert isinstance(results[1], ExpertError)
    again = backend.predict([_req("text-to-image", text=Text("a red cat"))])[0][0]
    assert again.data == picture.data  # the seed makes it reproducible


def test_image_to_image_keeps_the_input_size(tiny):
    backend = _diffusers("image-to-image", tiny("stable-diffusion"))
    results = backend.predict([
        _req("image-to-image", image=_picture(48, 32, "blue"), text=Text("make it red")),
        _req("image-to-image", text=Text("no image here")),
    ])
    picture = results[0][0]
    assert isinstance(picture, Image) and (picture.width, picture.height) == (48, 32)
    assert isinstance(results[1], ExpertError) and "image input" in str(results[1])


def test_controlnet_text_to_image_follows_the_condition_size(tiny):
    backend = _diffusers("canny-text-to-image", tiny("stable-diffusion"), controlnet=str(tiny("controlnet")))
    condition = _picture(64, 64, "white")
    [outputs] = backend.predict([_req("canny-text-to-image", image=condition, text=Text("a house"))])
    assert isinstance(outputs[0], Image) and (outputs[0].width, outputs[0].height) == (64, 64)


def test_controlnet_card_without_controlnet_fails_in_load(tiny):
    with pytest.raises(RuntimeError, match="options.controlnet"):
        _diffusers("canny-text-to-image", tiny("stable-diffusion"))

