"""Result checks: what an expert returned must plausibly answer its task."""

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw

from deployments.artifacts import Audio, Image, Json, Text
from orchestrator.checks import check_outputs, failures


def names_failed(checks):
    return [c.name for c in checks if not c.ok]


def test_good_outputs_pass():
    picture = PILImage.new("RGB", (64, 64), "white")
    ImageDraw.Draw(picture).rectangle([10, 10, 30, 30], fill="black")
    tone = 0.2 * np.sin(np.linspace(0, 2 * np.pi * 440, 22050)).astype(np.float32)
    assert not failures(check_outputs("image-to-text", [Text("MIND THE GAP")]))
    assert not failures(check_outputs("canny-control", [Image.from_pil(picture)]))
    assert not failures(check_outputs("text-to-speech", [Audio(tone, 22050)]))
    assert not failures(check_outputs("image-classification",
                                      [Json({"scores": [{"label": "cat", "score": 0.77}]}), Text("cat (0.77)")]))


def test_empty_blank_silent_and_unsure_outputs_fail():
    assert names_failed(check_outputs("image-to-text", [Text("  ")])) == ["text not empty"]
    assert names_failed(check_outputs("canny-control", [Image.from_pil(PILImage.new("RGB", (64, 64)))])) == [
        "image not blank"]
    assert names_failed(check_outputs("canny-control", [Image.from_pil(PILImage.new("RGB", (4, 4)))])) == [
        "image size"]
    assert names_failed(check_outputs("text-to-speech", [Audio(np.zeros(22050, np.float32), 22050)])) == [
        "audio length and energy"]
    unsure = check_outputs("image-classification", [Json({"scores": [{"label": "cat", "score": 0.01}]})])
    assert names_failed(unsure) == ["confidence"] and "0.010" in failures(unsure)
    assert names_failed(check_outputs("image-to-text", [])) == ["output exists"]


def test_the_main_output_must_have_a_declared_modality():
    picture = PILImage.new("RGB", (32, 32), "white")
    ImageDraw.Draw(picture).line([0, 0, 31, 31], fill="black")
    wrong = check_outputs("image-to-text", [Image.from_pil(picture)])
    assert names_failed(wrong) == ["declared modality"]
    assert "main output is image; image-to-text declares text" in failures(wrong)
