"""A diagnostic expert for benchmarks: returns its text input after a fixed delay (``options.seconds``).

It stands in for "an expert call of known duration" when measuring the orchestrator itself (per-node
overhead, parallel efficiency); no plan a user writes reaches it unless a card names the ``delay`` backend.
"""

from __future__ import annotations

import time

from deployments.artifacts import Artifact, Text
from deployments.backends.base import Backend, ExpertRequest, get_text


class DelayBackend(Backend):
    tasks = ("text2text-generation",)

    def load(self) -> None:
        self.seconds = float(self.options.get("seconds", 0.0))

    def predict_one(self, request: ExpertRequest) -> list[Artifact]:
        if self.seconds:
            time.sleep(self.seconds)
        return [Text(get_text(request))]
