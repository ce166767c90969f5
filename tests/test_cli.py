import json
import subprocess

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli

MESSY = """Here is my plan:
```json
[{'task': 'Image Classification', 'id': 0, 'dep': -1, 'args': {'image': 'cat.jpg'}},
 {"task": "text-to-speech", "id": 1, "args": {"text": "<GENERATED-0>"}},]
```"""

BAD = """[{"task": "image-clasification", "id": 0, "dep": [-1], "args": {"image": "a.jpg"}},
 {"task": "summarization", "id": 1, "dep": [-1], "args": {"text": "long text"}},
 {"task": "image-to-text", "id": 2, "dep": [1], "args": {"image": "<GENERATED>-1"}},
 {"task": "visual-question-answering", "id": 3, "dep": [7], "args": {"image": "a.jpg"}},
 {"task": "text-to-speech", "id": 3, "dep": [-1], "args": {"text": "hi"}},
 {"task": "translation", "id": 4, "dep": [5], "args": {"text": "x"}},
 {"task": "summarization", "id": 5, "dep": [4], "args": {"text": "y"}}]"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "messy.txt").write_text(MESSY)
    (tmp_path / "bad.json").write_text(BAD)
    (tmp_path / "garbage.txt").write_text('[{"task": "summarization", "id": 0 "dep": [-1]}]')
    return tmp_path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_validate_raw_llm_text_exits_zero_with_one_line(files):
    result = run("validate", files / "messy.txt")
    assert result.exit_code == 0
    assert result.stdout.strip().splitlines() == [
        f"{files / 'messy.txt'}: valid plan: 2 tasks, 1 dependency (image-classification, text-to-speech)"]


def test_validate_lists_every_problem_and_exits_two(files):
    result = run("validate", files / "bad.json")
    assert result.exit_code == 2
    lines = result.stdout.strip().splitlines()
    assert "6 problems" in lines[0]
    for kind in ("unknown_task", "missing_argument", "modality_mismatch", "missing_reference", "duplicate_id", "cycle"):
        assert any(f"[{kind}]" in line for line in lines[1:]), kind


def test_validate_json_shape(files):
    good = json.loads(run("validate", files / "messy.txt", "--json").stdout)
    assert good["valid"] is True and good["problems"] == []
    assert good["plan"][1] == {"task": "text-to-speech", "id": 1, "dep": [0], "args": {"text": "<GENERATED>-0"}}
    bad = run("validate", files / "bad.json", "--json")
    assert bad.exit_code == 2
    data = json.loads(bad.stdout)
    assert data["valid"] is False and len(data["problems"]) == 6
    assert {"task_id", "kind", "message"} <= set(data["problems"][0])


def test_validate_unreadable_text_and_missing_file(files):
    result = run("validate", files / "garbage.txt")
    assert result.exit_code == 2
    assert "line 1, column" in result.stderr and "Traceback" not in result.output
    data = json.loads(run("validate", files / "garbage.txt", "--json").stdout)
    assert data["problems"][0]["kind"] == "parse_error"
    missing = run("validate", files / "nope.json")
    assert missing.exit_code == 2 and "nope.json" in missing.stderr


def test_graph_formats(files):
    mermaid = run("graph", files / "messy.txt")
    assert mermaid.exit_code == 0 and "t0 -->|text| t1" in mermaid.stdout
    dot = run("graph", files / "messy.txt", "--format", "dot", "--out", files / "g.dot")
    assert dot.exit_code == 0 and (files / "g.dot").read_text().startswith("digraph")
    png = run("graph", files / "messy.txt", "--out", files / "g.png")
    assert png.exit_code == 0 and (files / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cyclic = run("graph", files / "bad.json")
    assert cyclic.exit_code == 2 and "cannot draw" in cyclic.stderr


def test_eval_plans(tmp_path):
    gold = tmp_path / "gold.jsonl"
    pred = tmp_path / "pred.jsonl"
    gold.write_text("\n".join(json.dumps(r) for r in [
        {"id": "1", "type": "chain", "task_nodes": [{"task": "Image-to-Text", "arguments": ["a.jpg"]},
                                                   {"task": "Text-to-Speech", "arguments": ["<node-0>"]}]},
        {"id": "2", "type": "single", "task_nodes": [{"task": "Translation", "arguments": ["hola"]}]},
    ]))
    pred.write_text(json.dumps({"id": "1", "task_nodes": [{"task": "Image-to-Text", "arguments": ["a.jpg"]},
                                                          {"task": "Text-to-Speech", "arguments": ["<node-0>"]}]}))
    data = json.loads(run("eval-plans", "--gold", gold, "--pred", pred, "--json").stdout)
    assert data["overall"] == {"node_f1": 0.8, "edge_f1": 1.0, "n": 2}  # id 2 missing → empty plan
    assert data["by_type"]["single"]["node_f1"] == 0.0
    text = run("eval-plans", "--gold", gold, "--pred", pred).stdout
    assert "overall" in text and "0.800" in text and "1 gold id(s) had no prediction" in text


def test_console_script_is_installed(files):
    done = subprocess.run(["hugginggpt", "validate", str(files / "bad.json")], capture_output=True, text=True)
    assert done.returncode == 2 and "[cycle]" in done.stdout


def test_eval_planner_embedded_json_shape(taskbench_dir):
    result = run("eval-planner", "--data", taskbench_dir / "dev.jsonl", "--limit", 20, "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["overall"]["n"] == 20 and 0 < scores["overall"]["node_f1"] <= 1
    assert {"by_type", "invalid_plans", "seconds_per_request"} <= set(scores)


def test_eval_planner_llm_never_shows_a_record_its_own_plan(taskbench_dir, taskbench_records):
    from dag.taskbench import from_taskbench
    from tests.scripted_llm import ScriptedLLMServer

    gold = {r["instruction"]: from_taskbench(r)[0].to_json() for r in taskbench_records[:6]}

    def answer(body):  # a perfect planner: the gold plan of the instruction being asked
        request = body["messages"][-1]["content"]
        return next(plan for instruction, plan in gold.items() if instruction in request)

    with ScriptedLLMServer([answer] * 6) as server:
        result = run("eval-planner", "--data", taskbench_dir / "dev.jsonl", "--limit", 6, "--planner", "llm",
                     "--demos", taskbench_dir / "dev.jsonl", "--llm-base-url", server.base_url, "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["overall"]["node_f1"] == 1.0 and scores["invalid_plans"] == 0
    assert len(server.requests) == 6
    for body, instruction in zip(server.requests, gold):
        shown = [m["content"] for m in body["messages"][1:-1] if m["role"] == "user"]
        assert len(shown) == 4 and instruction not in shown  # four demonstrations, never the record itself


def test_eval_planner_llm_without_an_llm_is_a_clear_error(taskbench_dir, monkeypatch):
    for name in ("HUGGINGGPT_LLM_BASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY", "HUGGINGGPT_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = run("eval-planner", "--data", taskbench_dir / "dev.jsonl", "--planner", "llm")
    assert result.exit_code == 2 and "--llm-base-url" in result.output
