"""The README's example requests end to end, offline, with the embedded planner and bundled models."""

import json
import re
from pathlib import Path

import pytest

from deployments.artifacts import load_file
from orchestrator.pipeline import Config, HuggingGPT
from orchestrator.planner import PlanningError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def hugginggpt(ray_cluster, tmp_path_factory):
    return HuggingGPT(Config(out_dir=str(tmp_path_factory.mktemp("runs"))))


def words(text):
    return re.findall(r"[a-z]+", text.lower())


def test_read_the_sign_aloud(hugginggpt, monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)
    events = []
    result = hugginggpt.run("Read the text in examples/sign.png aloud", on_event=events.append)
    assert [t["task"] for t in result.tasks] == ["image-to-text", "text-to-speech"]
    assert result.edges == [[0, 1]] and all(t["status"] == "ok" for t in result.tasks)
    assert "MIND THE GAP" in result.tasks[0]["outputs"][0]["text"]
    wav = load_file(result.tasks[1]["outputs"][0]["path"])
    assert wav.sample_rate == 22050 and wav.seconds > 0.5
    assert all(c["ok"] for t in result.tasks for c in t["checks"])
    assert "audio length and energy" in {c["name"] for c in result.tasks[1]["checks"]}
    record = json.loads((Path(result.out_dir) / "run.json").read_text())
    assert record["request"] == "Read the text in examples/sign.png aloud" and record["answer"] == result.answer
    assert {e["event"] for e in events} >= {"planned", "selected", "started", "finished", "answered"}


def test_transcribe_and_find_people_and_places(hugginggpt, monkeypatch):
    monkeypatch.chdir(EXAMPLES.parent)
    result = hugginggpt.run("Transcribe examples/meeting.wav and list the people and places mentioned")
    assert [t["task"] for t in result.tasks] == ["automatic-speech-recognition", "token-classification"]
    heard = words(result.tasks[0]["outputs"][0]["text"])
    assert {"berlin", "john", "smith", "toronto"} <= set(heard)
    entities = result.tasks[1]["outputs"][0]["text"]
    assert "John Smith" in entities and "Toronto" in entities and "Berlin" in entities
    assert result.selections[0]["model"] == "Systran/faster-whisper-tiny.en" and result.selections[0]["reason"]


def test_a_request_no_plan_fits_is_a_clear_error(hugginggpt):
    with pytest.raises(PlanningError, match="no runnable plan"):
        hugginggpt.run("Classify the picture")  # an image task, but no image anywhere


def test_llm_planner_and_responder_through_a_scripted_llm(ray_cluster, tmp_path, monkeypatch):
    from orchestrator.llm import LLMConfig
    from tests.scripted_llm import ScriptedLLMServer

    monkeypatch.chdir(EXAMPLES.parent)
    plan = ("```json\n[{'task': 'image-to-text', 'id': 0, 'dep': -1, 'args': {'image': 'examples/sign.png'}}]\n```")
    with ScriptedLLMServer([plan, "The sign says MIND THE GAP."]) as server:
        config = Config(planner="llm", llm=LLMConfig(base_url=server.base_url, model="scripted"),
                        out_dir=str(tmp_path))
        result = HuggingGPT(config).run("What does examples/sign.png say?")
    assert result.answer == "The sign says MIND THE GAP."
    assert result.tasks[0]["status"] == "ok" and "MIND THE GAP" in result.tasks[0]["outputs"][0]["text"]
    assert [c["stage"] for c in result.llm_calls] == ["plan", "respond"]
    results_shown = server.requests[1]["messages"][2]["content"]  # the execution log the LLM answers from
    assert "MIND THE GAP" in results_shown and "RapidAI/RapidOCR-PP-OCRv4" in results_shown


def test_a_passing_run_is_learned_once_and_feedback_marks_it(hugginggpt, monkeypatch):
    from click.testing import CliRunner

    from orchestrator.cli import cli

    monkeypatch.chdir(EXAMPLES.parent)
    request = "Transcribe examples/meeting.wav and then read the transcript aloud"
    first = hugginggpt.run(request)
    assert all(t["status"] == "ok" for t in first.tasks) and first.learned is True, first.tasks
    assert hugginggpt.run(request).learned is False  # the same request and plan are stored once
    counters = hugginggpt.demo_bank().counts()["counter"]
    marked = CliRunner().invoke(cli, ["feedback", first.out_dir, "--bad"])
    assert marked.exit_code == 0 and "counter-example" in marked.output
    assert hugginggpt.demo_bank().counts()["counter"] == counters + 1
    bad = CliRunner().invoke(cli, ["feedback", str(EXAMPLES / "sign.png")])
    assert bad.exit_code == 2 and "not a run record" in bad.output


def test_embedded_plan_adopts_a_similar_demonstration_unless_marked_bad(embed, tmp_path):
    from orchestrator.demos import DemoBank
    from orchestrator.embedded_planner import load_embedded_planner
    from orchestrator.pipeline import embedded_plan

    planner = load_embedded_planner()
    demo = [{"task": "image-to-text", "id": 0, "dep": [-1], "args": {"image": "sign.png"}},
            {"task": "summarization", "id": 1, "dep": [0], "args": {"text": "<GENERATED>-0"}},
            {"task": "translation", "id": 2, "dep": [1], "args": {"text": "<GENERATED>-1", "text2": "German"}}]
    request = "Summarize the poster in board.jpg and give me the summary in French"
    own, none = embedded_plan(planner, request)  # no bank: clause by clause
    assert none is None and own.valid
    bank = DemoBank(tmp_path / "bank.sqlite", embed)
    bank.add("Summarize the poster in sign.png and give me the summary in German", demo)
    adopted, used = embedded_plan(planner, request, bank=bank)
    assert used is not None and used.plan == demo and adopted.valid
    assert [t.task for t in adopted.plan] == ["image-to-text", "summarization", "translation"]
    assert adopted.plan[0].args == {"image": "board.jpg"} and adopted.plan[2].args["text2"] == "French"
    assert adopted.plan.to_data() != own.plan.to_data()  # so the bank is what changed it
    bank.add("Summarise the poster in sign.png and give me the summary in German", demo, kind="counter")
    again, used = embedded_plan(planner, request, bank=bank)  # the same plan was marked bad: not adopted
    assert used is None and again.plan.to_data() == own.plan.to_data()
