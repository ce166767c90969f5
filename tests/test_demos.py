"""The demonstration bank: durable, duplicate-free, shared between processes, retrieved by similarity."""

import subprocess
import sys

import pytest

from orchestrator.demos import Demo, DemoBank, shipped_demos, taskbench_demos

READ = [{"task": "image-to-text", "id": 0, "dep": [-1], "args": {"image": "a.png"}},
        {"task": "text-to-speech", "id": 1, "dep": [0], "args": {"text": "<GENERATED>-0"}}]
DRAW = [{"task": "text-to-image", "id": 0, "dep": [-1], "args": {"text": "a red boat"}}]


def test_retrieves_the_most_similar_demonstration_first(tmp_path, embed):
    bank = DemoBank(tmp_path / "bank.sqlite", embed)
    bank.add("Read the words on a.png out loud", READ)
    bank.add("Paint a picture of a red boat", DRAW)
    found = bank.retrieve("Please draw me a small red sailing boat", k=2)
    assert [d.plan for d in found] == [DRAW, READ]
    assert found[0].score > found[1].score


def test_no_duplicates_and_a_mark_changes_the_kind(tmp_path, embed):
    bank = DemoBank(tmp_path / "bank.sqlite", embed)
    assert bank.add("Read a.png aloud", READ) is True
    assert bank.add("read  A.PNG aloud", READ) is False  # same request (normalised) and plan
    assert bank.add("Read a.png aloud", DRAW) is True  # same request, another plan
    assert bank.add("Read a.png aloud", DRAW, kind="counter") is False
    assert len(bank) == 2 and bank.counts() == {"demo": 1, "counter": 1}
    assert [d.plan for d in bank.retrieve("read a.png aloud", k=5)] == [READ]
    assert [d.plan for d in bank.retrieve("read a.png aloud", k=5, kind="counter")] == [DRAW]
    with pytest.raises(ValueError, match="kind"):
        bank.add("x", DRAW, kind="great")


def test_exclusions_keep_the_scored_record_out(tmp_path, embed):
    bank = DemoBank(tmp_path / "bank.sqlite", embed)
    bank.add_many([Demo("Read a.png aloud", READ, source_id="7"), Demo("Draw a boat", DRAW, source_id="8")])
    assert [d.source_id for d in bank.retrieve("Read a.png aloud", k=2, exclude_ids=["7"])] == ["8"]
    assert [d.source_id for d in bank.retrieve("Read a.png aloud", k=2, exclude_requests=["read a.png ALOUD"])] == [
        "8"]


def test_another_process_sees_what_one_wrote_and_survives_restarts(tmp_path, embed):
    path = tmp_path / "bank.sqlite"
    bank = DemoBank(path, embed)
    bank.add("Read a.png aloud", READ)
    assert len(bank.retrieve("read it aloud", k=3)) == 1
    code = ("import json, sys; from orchestrator.demos import DemoBank; "
            f"b = DemoBank({str(path)!r}); print(b.add('Draw a boat', json.loads(sys.argv[1])))")
    import json

    out = subprocess.run([sys.executable, "-c", code, json.dumps(DRAW)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
    # the other process stored no embedding (it had no embedder): this one embeds it when it first retrieves
    assert [d.plan for d in bank.retrieve("draw a boat", k=1)] == [DRAW]
    bank.close()
    assert len(DemoBank(path)) == 2


def test_shipped_demos_are_valid_plans():
    from dag.validate import check_plan

    demos = shipped_demos()
    assert len(demos) >= 5
    for demo in demos:
        report = check_plan(demo.plan)
        assert report.valid, (demo.request, [str(p) for p in report.problems])


def test_taskbench_records_become_demonstrations_with_their_ids(taskbench_dir, taskbench_records):
    demos = taskbench_demos(taskbench_dir / "dev.jsonl")
    assert len(demos) == len(taskbench_records)
    assert [d.source_id for d in demos] == [str(r["id"]) for r in taskbench_records]
    assert all(d.source_id and d.plan and d.source == "taskbench:dev.jsonl" for d in demos)
