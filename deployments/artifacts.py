"""Typed values that flow between tasks: text, image, audio (with its sample rate), structured JSON.

They are small picklable dataclasses, so Ray moves them by object reference between nodes; nothing goes
through a shared folder. Images travel encoded (PNG unless the source was JPEG) and audio as float32
mono samples. :func:`load_file` reads a user's file; :func:`save` writes an artifact into a run's folder.
"""

from __future__ import annotations

import io
import json
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

MAX_IMAGE_PIXELS = 4096 * 4096
MAX_AUDIO_SECONDS = 30 * 60
MAX_TEXT_CHARS = 200_000


class ArtifactError(ValueError):
    """A value that is not what it claims to be (corrupt image bytes, unreadable audio, oversize)."""


@dataclass(frozen=True)
class Text:
    text: str
    type: Literal["text"] = "text"

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class Image:
    data: bytes
    """The encoded image (PNG or JPEG)."""
    width: int
    height: int
    format: str = "PNG"
    type: Literal["image"] = "image"

    @classmethod
    def from_pil(cls, picture) -> Image:
        buffer = io.BytesIO()
        picture = picture.convert("RGB") if picture.mode not in ("RGB", "L", "RGBA") else picture
        picture.save(buffer, format="PNG")
        return cls(data=buffer.getvalue(), width=picture.width, height=picture.height)

    @classmethod
    def from_bytes(cls, data: bytes) -> Image:
        """Check and wrap encoded image bytes; corrupt or oversize data raises ArtifactError."""
        from PIL import Image as PILImage
        from PIL import UnidentifiedImageError

        try:
            with PILImage.open(io.BytesIO(data)) as picture:
                picture.verify()
            with PILImage.open(io.BytesIO(data)) as picture:
                width, height, fmt = picture.width, picture.height, picture.format or "PNG"
        except (UnidentifiedImageError, OSError, SyntaxError) as err:
            raise ArtifactError(f"not a readable image ({len(data)} bytes): {err}") from None
        if width * height > MAX_IMAGE_PIXELS:
            raise ArtifactError(f"image of {width}×{height} pixels is over the limit of {MAX_IMAGE_PIXELS} pixels")
        if fmt not in ("PNG", "JPEG"):
            with PILImage.open(io.BytesIO(data)) as picture:
                return cls.from_pil(picture.convert("RGBA" if "A" in picture.mode else "RGB"))
        return cls(data=data, width=width, height=height, format=fmt)

    def to_pil(self):
        from PIL import Image as PILImage

        picture = PILImage.open(io.BytesIO(self.data))
        picture.load()
        return picture

    @property
    def suffix(self) -> str:
        return ".jpg" if self.format == "JPEG" else ".png"

    def describe(self) -> str:
        return f"image {self.width}×{self.height}"


@dataclass(frozen=True, eq=False)
class Audio:
    samples: np.ndarray
    """Mono float32 samples in [-1, 1]."""
    sample_rate: int
    type: Literal["audio"] = "audio"

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim == 2:
            samples = samples.mean(axis=0 if samples.shape[0] < samples.shape[1] else 1)
        if samples.ndim != 1:
            raise ArtifactError(f"audio must be mono or stereo samples, not shape {samples.shape}")
        if self.sample_rate <= 0:
            raise ArtifactError(f"sample rate must be positive, not {self.sample_rate}")
        if samples.size / self.sample_rate > MAX_AUDIO_SECONDS:
            seconds = samples.size / self.sample_rate
            raise ArtifactError(f"audio of {seconds:.0f} s is over the {MAX_AUDIO_SECONDS} s limit")
        object.__setattr__(self, "samples", samples)

    @property
    def seconds(self) -> float:
        return self.samples.size / self.sample_rate

    @classmethod
    def from_wav_bytes(cls, data: bytes) -> Audio:
        """Read 8/16/32-bit PCM WAV bytes; anything else raises ArtifactError."""
        try:
            with wave.open(io.BytesIO(data)) as reader:
                rate, width, channels = reader.getframerate(), reader.getsampwidth(), reader.getnchannels()
                frames = reader.readframes(reader.getnframes())
        except (wave.Error, EOFError) as err:
            raise ArtifactError(f"not a readable WAV file ({len(data)} bytes): {err}") from None
        dtype = {1: np.uint8, 2: np.int16, 4: np.int32}.get(width)
        if dtype is None:
            raise ArtifactError(f"WAV sample width of {width} bytes is not supported")
        samples = np.frombuffer(frames, dtype=dtype).astype(np.float32)
        samples = (samples - 128) / 128 if width == 1 else samples / float(np.iinfo(dtype).max)
        if channels > 1:
            samples = samples.reshape(-1, channels).mean(axis=1)
        return cls(samples=samples, sample_rate=rate)

    def to_wav_bytes(self) -> bytes:
        pcm = (np.clip(self.samples, -1.0, 1.0) * 32767).astype(np.int16)
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(self.sample_rate)
            writer.writeframes(pcm.tobytes())
        return buffer.getvalue()

    def resampled(self, rate: int) -> Audio:
        """Linear-interpolation resampling; enough for speech models that want 16 kHz."""
        if rate == self.sample_rate:
            return self
        n = int(round(self.samples.size * rate / self.sample_rate))
        x_new = np.linspace(0, self.samples.size - 1, num=max(n, 1))
        return Audio(np.interp(x_new, np.arange(self.samples.size), self.samples).astype(np.float32), rate)

    def describe(self) -> str:
        return f"audio {self.seconds:.1f} s at {self.sample_rate} Hz"


@dataclass(frozen=True)
class Json:
    data: Any = field(default=None)
    type: Literal["json"] = "json"

    def describe(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, default=str)[:500]


Artifact = Text | Image | Audio | Json
MODALITY_OF = {"text": "text", "image": "image", "audio": "audio", "json": "structured"}
"""Artifact type → the registry modality it fills."""

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
_AUDIO_SUFFIXES = {".wav"}


def load_file(path: str | Path) -> Artifact:
    """An artifact from a user's file, by its suffix; a missing or unreadable file raises ArtifactError."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in _IMAGE_SUFFIXES:
        return Image.from_bytes(path.read_bytes())
    if suffix in _AUDIO_SUFFIXES:
        return Audio.from_wav_bytes(path.read_bytes())
    if suffix == ".json":
        return Json(json.loads(path.read_text(encoding="utf-8")))
    if suffix in (".txt", ".md", ""):
        return Text(path.read_text(encoding="utf-8"))
    raise ArtifactError(f"{path.name}: unsupported file type {suffix!r} (images, .wav, .txt and .json are read)")


def save(artifact: Artifact, stem: str | Path) -> Path:
    """Write an artifact as ``stem`` plus the suffix its type takes; returns the path written."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(artifact, Image):
        path = stem.with_suffix(artifact.suffix)
        path.write_bytes(artifact.data)
    elif isinstance(artifact, Audio):
        path = stem.with_suffix(".wav")
        path.write_bytes(artifact.to_wav_bytes())
    elif isinstance(artifact, Json):
        path = stem.with_suffix(".json")
        path.write_text(json.dumps(artifact.data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    else:
        path = stem.with_suffix(".txt")
        path.write_text(artifact.text, encoding="utf-8")
    return path
