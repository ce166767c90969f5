"""The OpenPose preprocessor with the real MediaPipe pose weights, in its sidecar venv (no Ray, no Serve).

The sidecar's venv (mediapipe 0.10.14, which pins protobuf<5) is built once into ~/.cache/hugginggpt-ray/venvs/
(about 30 s with PyPI reachable); the tests skip, saying why, when it cannot be built. The person is
scikit-image's astronaut photo (Eileen Collins, head and shoulders).
"""

from __future__ import annotations

import numpy as np
import pytest

from deployments.artifacts import Image, Json, Text
from deployments.backends import backend_class
from deployments.backends.base import ExpertError, ExpertRequest
from deployments.catalog import ModelCard, Weights

TASK = "openpose-control"


@pytest.fixture(scope="module")
def pose():
    from deployments.backends.pose import SidecarError

    card = ModelCard(id="google/mediapipe-pose", task=TASK, backend="openpose",
                     weights=Weights(source="package", pip="mediapipe==0.10.14"))
    backend = backend_class("openpose")(card)
    try:
        backend.load()
    except SidecarError as err:
        pytest.skip(f"the mediapipe sidecar venv could not be built (needs PyPI): {str(err)[:500]}")
    yield backend
    backend.sidecar.close()


@pytest.fixture(scope="module")
def astronaut() -> Image:
    data = pytest.importorskip("skimage.data", reason="needs pip install scikit-image")
    from PIL import Image as PILImage

    return Image.from_pil(PILImage.fromarray(data.astronaut()))


def _one(backend, **inputs):
    [result] = backend.predict([ExpertRequest(task=TASK, inputs=inputs)])
    return result


def test_astronaut_pose_is_found_and_drawn(pose, astronaut):
    skeleton, keypoints = _one(pose, image=astronaut)
    assert isinstance(skeleton, Image) and (skeleton.width, skeleton.height) == (astronaut.width, astronaut.height)
    assert isinstance(keypoints, Json) and keypoints.data["format"] == "openpose-18"
    points = keypoints.data["keypoints"]
    assert len(points) == 18 and len(keypoints.data["landmarks"]) == 33
    nose, neck = points["nose"], points["neck"]
    right, left = points["right_shoulder"], points["left_shoulder"]
    for point in (nose, neck, right, left, points["right_eye"], points["left_eye"]):
        assert point is not None and 0 <= point[0] < 512 and 0 <= point[1] < 512 and point[2] > 0.5
    assert nose[1] + 50 < min(right[1], left[1])  # the head is above the shoulders
    assert right[0] + 100 < left[0]  # facing the camera: her right shoulder is on the image's left
    assert 150 < nose[0] < 300 and 60 < nose[1] < 200  # the face is in the upper middle of the photo
    assert points["right_eye"][1] < nose[1] and points["left_eye"][1] < nose[1]

    pixels = np.asarray(skeleton.to_pil().convert("RGB"))
    lit = pixels.max(axis=2) > 0
    assert 500 < lit.sum() < 0.2 * lit.size  # a drawn skeleton, mostly black around it
    x, y = round(nose[0]), round(nose[1])
    assert tuple(pixels[y, x]) == (255, 0, 0)  # the nose joint in OpenPose's red
    assert not lit[-40:, -40:].any()  # nothing in the bottom right corner, away from the person


def test_no_person_is_a_clear_error_and_the_backend_goes_on(pose, astronaut):
    from PIL import Image as PILImage

    blank = Image.from_pil(PILImage.new("RGB", (320, 240), (90, 140, 200)))
    error = _one(pose, image=blank)
    assert isinstance(error, ExpertError)
    assert str(error) == f"{TASK} found no person in the image (320×240)"
    wrong = _one(pose, text=Text("a person dancing"))
    assert isinstance(wrong, ExpertError) and str(wrong) == f"{TASK} needs an image input; got text=text"
    assert isinstance(_one(pose, image=astronaut)[0], Image)


def test_a_dead_sidecar_is_restarted(pose, astronaut):
    pose.sidecar.process.kill()
    pose.sidecar.process.wait()
    with pytest.raises(Exception, match="not running"):
        pose.health()
    assert isinstance(_one(pose, image=astronaut)[1], Json)
    pose.health()
