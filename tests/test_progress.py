"""The live run table follows the run's events."""

import io

from rich.console import Console

from orchestrator.progress import RunProgress

PLAN = [{"task": "image-to-text", "id": 0, "dep": [-1], "args": {"image": "a.png"}},
        {"task": "text-to-speech", "id": 1, "dep": [0], "args": {"text": "<GENERATED>-0"}},
        {"task": "summarization", "id": 2, "dep": [0], "args": {"text": "<GENERATED>-0"}}]


def test_the_table_shows_models_states_and_failures():
    out = io.StringIO()
    with RunProgress("read a.png aloud", console=Console(file=out, width=160)) as progress:
        progress({"event": "planned", "plan": PLAN})
        progress({"event": "selected", "selections": {0: "ocr-model", 1: "tts-model", 2: "sum-model"}})
        progress({"event": "started", "task_id": 0, "time": 1.0})
        assert progress.rows[0].state == "running" and progress.rows[1].state == "waiting"
        progress({"event": "finished", "task_id": 0, "model": "ocr-fallback", "seconds": 0.5})
        progress({"event": "finished", "task_id": 1, "model": "tts-model", "seconds": 0.25})
        progress({"event": "failed", "task_id": 2, "error": "sum-model: timed out after 120 s"})
        progress({"event": "answered", "answer": "done"})
    text = out.getvalue()
    assert "answered: 3/3 tasks done" in text
    assert "ocr-fallback" in text and "0.50" in text  # the model that actually answered, after a fallback
    assert "failed" in text and "timed out after 120 s" in text
    assert [r.state for r in progress.rows.values()] == ["ok", "ok", "failed"]
