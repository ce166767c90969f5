"""Result evaluation: is what an expert returned plausibly an answer to its task?

A model can "succeed" with nothing useful: OCR of a blank page returns "", a voice returns silence, a
classifier is 3% sure. Each check here looks at one property of a node's outputs: the output exists, its
main output has a modality the task declares, and it is plausible (non-empty text, an image that is not one
flat colour, audio of non-trivial length and energy, a classifier's confidence above a floor). A failed
check makes the attempt fail, so the executor's retry and fallback handle it like a model error; every
check, passed or not, is kept in the run record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from dag.registry import REGISTRY
from deployments.artifacts import MODALITY_OF, Artifact, Audio, Image, Json, Text

MIN_AUDIO_SECONDS = 0.1
MIN_AUDIO_RMS = 1e-3
"""Below this the audio is silence (float samples in [-1, 1]; speech is around 0.05–0.3)."""
MIN_CONFIDENCE = 0.05
MIN_IMAGE_SIDE = 8


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)


def _confidence(data: object) -> float | None:
    """A classifier's top score, where the output has one (``{"scores": [{"label", "score"}, …]}``)."""
    if isinstance(data, dict) and isinstance(data.get("scores"), list) and data["scores"]:
        top = data["scores"][0]
        if isinstance(top, dict) and isinstance(top.get("score"), (int, float)):
            return float(top["score"])
    if isinstance(data, list) and data and isinstance(data[0], dict) and "label" in data[0]:
        score = data[0].get("score")
        return float(score) if isinstance(score, (int, float)) else None
    return None


def plausible(artifact: Artifact) -> Check:
    """One output's plausibility check, by its type."""
    if isinstance(artifact, Text):
        return Check("text not empty", bool(artifact.text.strip()), f"{len(artifact.text.strip())} characters")
    if isinstance(artifact, Image):
        if min(artifact.width, artifact.height) < MIN_IMAGE_SIDE:
            return Check("image size", False, f"{artifact.width}×{artifact.height} is under {MIN_IMAGE_SIDE} px")
        pixels = np.asarray(artifact.to_pil().convert("L"), dtype=np.float32)
        spread = float(pixels.max() - pixels.min())
        return Check("image not blank", spread > 0, f"{artifact.width}×{artifact.height}, value range {spread:.0f}")
    if isinstance(artifact, Audio):
        rms = float(np.sqrt(np.mean(np.square(artifact.samples)))) if artifact.samples.size else 0.0
        ok = artifact.seconds >= MIN_AUDIO_SECONDS and rms >= MIN_AUDIO_RMS
        return Check("audio length and energy", ok, f"{artifact.seconds:.2f} s, RMS {rms:.4f}")
    if isinstance(artifact, Json):
        confidence = _confidence(artifact.data)
        if confidence is not None:
            return Check("confidence", confidence >= MIN_CONFIDENCE,
                         f"top score {confidence:.3f} (floor {MIN_CONFIDENCE})")
        return Check("structured output not empty", artifact.data not in (None, {}, [], ""), "")
    return Check("known output type", False, f"{type(artifact).__name__}")


def check_outputs(task: str, outputs: Sequence[Artifact]) -> list[Check]:
    """Every check for one node's outputs; the node passes when all pass."""
    if not outputs:
        return [Check("output exists", False, "the model returned nothing")]
    checks = [Check("output exists", True, f"{len(outputs)} output(s)")]
    declared = REGISTRY[task].outputs if task in REGISTRY else ()
    main = MODALITY_OF.get(outputs[0].type, outputs[0].type)
    if declared and set(declared) & set(MODALITY_OF.values()):
        checks.append(Check("declared modality", main in declared,
                            f"main output is {main}; {task} declares {', '.join(declared)}"))
    checks += [plausible(artifact) for artifact in outputs]
    return checks


def failures(checks: Sequence[Check]) -> str:
    """The failed checks in one line, or ``""``."""
    return "; ".join(f"{c.name} ({c.detail})" if c.detail else c.name for c in checks if not c.ok)
