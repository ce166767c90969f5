"""The backend interface every expert model implements, and the request/result types it speaks.

A backend knows one kind of model (a transformers pipeline, a diffusers pipeline, a bundled ONNX model…).
The Serve deployment (``deployments/expert.py``) owns one backend per replica, loads it once, and calls
:meth:`Backend.predict` with a batch of requests off the event loop. Bad input is an :class:`ExpertError`
for that request alone: the batch's other requests and the replica carry on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployments.artifacts import Artifact, Audio, Image, Json, Text
from deployments.catalog import ModelCard


class ExpertError(ValueError):
    """A request this model cannot serve (wrong modality, empty text, corrupt input); says which and why."""


@dataclass
class ExpertRequest:
    task: str
    """The registry task id to perform (``image-to-text``)."""
    inputs: dict[str, Artifact]
    """Arguments by name, as in a plan: ``{"image": Image(...), "text": Text(...)}``."""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExpertResult:
    model_id: str
    outputs: list[Artifact] = field(default_factory=list)
    """What the model produced; the first output is the main one."""
    error: str | None = None
    seconds: float = 0.0
    batch_size: int = 1
    """How many requests the replica ran together with this one (observed, for tests and benchmarks)."""
    replica: str = ""
    """Which replica answered (Serve's replica id), for run records and routing checks."""

    @property
    def ok(self) -> bool:
        return self.error is None


class Backend:
    """Base class: subclasses set ``tasks`` and implement :meth:`load` and :meth:`predict_one` or :meth:`predict`."""

    tasks: tuple[str, ...] = ()
    """Registry task ids this backend can perform."""
    batched: bool = False
    """Whether :meth:`predict` gains from several requests at once (then the deployment uses @serve.batch)."""

    def __init__(self, card: ModelCard) -> None:
        self.card = card
        self.options = dict(card.options)

    def load(self) -> None:
        """Load the weights; called once per replica before the first request."""

    def predict(self, requests: list[ExpertRequest]) -> list[list[Artifact] | ExpertError]:
        """One result per request: its outputs, or the ExpertError that says why it failed."""
        results: list[list[Artifact] | ExpertError] = []
        for request in requests:
            try:
                results.append(self.predict_one(request))
            except ExpertError as err:
                results.append(err)
        return results

    def predict_one(self, request: ExpertRequest) -> list[Artifact]:
        raise NotImplementedError

    def health(self) -> None:
        """Raise if the loaded model cannot serve (called by Serve's health check)."""


def weights_location(card: ModelCard, value: str | None = None, what: str = "weights") -> str:
    """Where a hub or local card's weights are: the local folder (checked) or the hub id; both load alike."""
    weights = card.weights
    if weights.source == "local":
        path = value or weights.path
        if not path:
            raise RuntimeError(f"model {card.id}: local {what} need a path")
        path = os.path.expanduser(path)
        if not Path(path).exists():
            raise RuntimeError(f"model {card.id}: local {what} not found at {path}")
        return path
    if weights.source == "hub":
        return value or weights.hub_id or card.id
    raise RuntimeError(f"model {card.id}: {card.backend} cannot load weights from {weights.source!r} "
                       "(use 'local' or 'hub')")


def load_error(card: ModelCard, location: str, err: Exception) -> str:
    """One clear message for any failure to load a hub or local model, saying whether the hub was reachable."""
    if card.weights.source == "hub":
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
        why = ("the Hugging Face hub is not reachable (HF_HUB_OFFLINE=1) and the model is not in the local cache"
               if offline else "it could not be downloaded from the Hugging Face hub nor found in the local cache")
        return f"cannot load model {card.id} (hub id {location!r}): {why}: {type(err).__name__}: {err}"
    return f"cannot load model {card.id} from {location}: {type(err).__name__}: {err}"


def run_batch(requests: list[ExpertRequest], prepare: Callable[[ExpertRequest], Any],
              run: Callable[[list[Any]], Iterable[Any]],
              finish: Callable[[Any], list[Artifact]]) -> list[list[Artifact] | ExpertError]:
    """The batched-backend pattern: ``prepare`` each request (an ExpertError marks a bad one), ``run`` the
    model once on the good ones, ``finish`` each raw result into artifacts; errors stay in their slots."""
    prepared: list[Any] = []
    for request in requests:
        try:
            prepared.append(prepare(request))
        except ExpertError as err:
            prepared.append(err)
    good = [p for p in prepared if not isinstance(p, ExpertError)]
    raw = iter(run(good) if good else [])
    return [p if isinstance(p, ExpertError) else finish(next(raw)) for p in prepared]


def get_input(request: ExpertRequest, modality: str, index: int = 0) -> Artifact:
    """The ``index``-th input of a modality (``text``, ``image``, ``audio``, ``structured``) or an ExpertError."""
    wanted = {"text": (Text, Json), "image": (Image,), "audio": (Audio,), "structured": (Json,)}[modality]
    found = [a for a in request.inputs.values() if isinstance(a, wanted)]
    if modality == "text":
        found = [a for a in found if isinstance(a, Text)] + [a for a in found if isinstance(a, Json)]
    if len(found) <= index:
        given = ", ".join(f"{k}={type(v).__name__.lower()}" for k, v in request.inputs.items()) or "nothing"
        article = "another" if index else ("an" if modality[0] in "aeiou" else "a")
        raise ExpertError(f"{request.task} needs {article} {modality} input; got {given}")
    return found[index]


def get_text(request: ExpertRequest, index: int = 0) -> str:
    """The text of the ``index``-th text input (structured inputs rendered as JSON); empty text is an error."""
    artifact = get_input(request, "text", index)
    text = artifact.text if isinstance(artifact, Text) else artifact.describe()
    if not text.strip():
        raise ExpertError(f"{request.task} got empty text")
    return text
