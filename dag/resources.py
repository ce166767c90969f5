"""Resource references: ``<GENERATED>-k`` (the output of task k) and user files, and their modalities.

LLMs spell references many ways; :func:`canonical_references` rewrites every spelling we accept to
HuggingGPT's ``<GENERATED>-k`` so the rest of ``dag/`` sees one form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

REFERENCE = re.compile(r"<GENERATED>-(\d+)")
"""The canonical reference, as HuggingGPT's prompt defines it."""

_VARIANT = re.compile(
    r"""<\s*(?:generated|resource|node)\s*>\s*-\s*(\d+)   # <GENERATED>-0, <resource>-0, <GENERATED> - 0
      | <\s*(?:generated|resource|node)\s*[-_]\s*(\d+)\s*>  # <GENERATED-0>, <resource-0>, <node-0>
    """,
    re.IGNORECASE | re.VERBOSE,
)

_EXTENSIONS = {
    "image": {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"},
    "audio": {".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac", ".opus"},
    "video": {".mp4", ".avi", ".mov", ".mkv", ".webm"},
}


def ref(task_id: int) -> str:
    """The reference to task ``task_id``'s output."""
    return f"<GENERATED>-{task_id}"


def canonical_references(text: str) -> str:
    """``text`` with every accepted spelling of a reference rewritten to ``<GENERATED>-k``."""
    return _VARIANT.sub(lambda m: ref(int(m.group(1) or m.group(2))), text)


def map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """``value`` with ``change`` applied to every string inside it (strings, lists, dicts; keys kept)."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [map_strings(v, change) for v in value]
    if isinstance(value, dict):
        return {k: map_strings(v, change) for k, v in value.items()}
    return value


def references(value: Any) -> list[int]:
    """Task ids referenced anywhere in a canonical argument value (strings, lists, dicts), in order."""
    if isinstance(value, str):
        return [int(k) for k in REFERENCE.findall(value)]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [k for item in value for k in references(item)]
    return []


def whole_reference(value: Any) -> int | None:
    """The task id when the value is exactly one reference (``"<GENERATED>-2"``), else None."""
    if isinstance(value, str):
        match = REFERENCE.fullmatch(value.strip())
        if match:
            return int(match.group(1))
    return None


def file_modality(value: Any) -> str | None:
    """The modality a file path or URL names by its extension (``a.jpg`` → image), or None."""
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        return None
    text = value.strip()
    path = urlparse(text).path if "://" in text else text
    suffix = PurePosixPath(path).suffix.lower()
    for modality, suffixes in _EXTENSIONS.items():
        if suffix in suffixes:
            return modality
    return None
