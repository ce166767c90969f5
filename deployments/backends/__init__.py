"""Backends by name, imported only when a card asks for one (so a missing optional package fails alone)."""

from __future__ import annotations

import importlib

from deployments.backends.base import Backend

BACKENDS: dict[str, str] = {
    "transformers": "deployments.backends.transformers_backend:TransformersBackend",
    "diffusers": "deployments.backends.diffusers_backend:DiffusersBackend",
    "minilm": "deployments.backends.bundled:MiniLMBackend",
    "faster-whisper": "deployments.backends.bundled:FasterWhisperBackend",
    "piper": "deployments.backends.bundled:PiperBackend",
    "rapidocr": "deployments.backends.bundled:RapidOCRBackend",
    "spacy": "deployments.backends.bundled:SpacyNERBackend",
    "silero-vad": "deployments.backends.bundled:SileroVADBackend",
    "efficientnet": "deployments.backends.bundled:EfficientNetBackend",
    "canny": "deployments.backends.bundled:CannyBackend",
    "delay": "deployments.backends.diagnostic:DelayBackend",
    "openpose": "deployments.backends.pose:OpenposeBackend",
}


def backend_class(name: str) -> type[Backend]:
    """The backend class for a card's ``backend`` name; an unknown name or a missing package says so."""
    if name not in BACKENDS:
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(sorted(BACKENDS))}")
    module_name, class_name = BACKENDS[name].split(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)
