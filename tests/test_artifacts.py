import io
import math

import numpy as np
import pytest
from PIL import Image as PILImage

from deployments.artifacts import ArtifactError, Audio, Image, Json, Text, load_file, save


def _png(width=32, height=16):
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_round_trips_through_files(tmp_path):
    image = Image.from_bytes(_png())
    assert (image.width, image.height, image.format) == (32, 16, "PNG")
    path = save(image, tmp_path / "out" / "task-0")
    assert path.name == "task-0.png"
    again = load_file(path)
    assert again.to_pil().getpixel((0, 0)) == (255, 0, 0)


def test_corrupt_image_bytes_are_a_clear_error(tmp_path):
    with pytest.raises(ArtifactError, match="not a readable image"):
        Image.from_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"nope")
    with pytest.raises(ArtifactError, match="not a readable image"):
        load_file(broken)


def test_audio_wav_round_trip_keeps_rate_and_signal(tmp_path):
    rate = 16000
    tone = np.sin(2 * math.pi * 440 * np.arange(rate) / rate).astype(np.float32) * 0.5
    path = save(Audio(tone, rate), tmp_path / "tone")
    back = load_file(path)
    assert back.sample_rate == rate and back.samples.size == rate
    assert np.max(np.abs(back.samples - tone)) < 1e-3
    half = back.resampled(8000)
    assert half.sample_rate == 8000 and abs(half.samples.size - 8000) <= 1


def test_stereo_audio_becomes_mono_and_bad_wav_is_an_error():
    stereo = np.zeros((2, 100), dtype=np.float32)
    assert Audio(stereo, 8000).samples.shape == (100,)
    with pytest.raises(ArtifactError, match="not a readable WAV"):
        Audio.from_wav_bytes(b"RIFF0000WAVEjunk")


def test_text_and_json_files(tmp_path):
    assert load_file(save(Text("héllo"), tmp_path / "t")).text == "héllo"
    assert load_file(save(Json({"a": [1, 2]}), tmp_path / "j")).data == {"a": [1, 2]}


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(ArtifactError, match="no such file"):
        load_file(tmp_path / "missing.png")
    odd = tmp_path / "clip.xyz"
    odd.write_text("?")
    with pytest.raises(ArtifactError, match="unsupported file type"):
        load_file(odd)
