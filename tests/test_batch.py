"""``hugginggpt batch``: concurrent requests on real Ray and Serve, results that survive ``kill -9``, resume."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.batch import BatchInputError, completed_ids, read_requests
from orchestrator.cli import cli

REPO = Path(__file__).resolve().parents[1]
SIGN = "Read the text in examples/sign.png aloud"
MEETING = "Transcribe examples/meeting.wav and list the people and places mentioned"
MISSING = "Read the text in examples/nowhere.png aloud"
NO_PLAN = "Classify the picture"  # an image task, but no image anywhere: fails while planning


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def read_out(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def batch(*args):
    return CliRunner().invoke(cli, ["batch", *map(str, args)])


def test_a_batch_runs_every_request_and_records_the_failures(serve_apps, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    rows = [{"id": "sign", "request": SIGN}, {"id": 2, "request": MEETING, "files": ["examples/meeting.wav"]},
            {"id": "missing", "request": MISSING}]
    out = tmp_path / "out.jsonl"
    result = batch(write_jsonl(tmp_path / "in.jsonl", rows), "--out", out, "--runs", tmp_path / "runs",
                   "--concurrency", "3")
    assert result.exit_code == 0, result.output
    assert "3 done, 1 failed" in result.stdout and "requests/s" in result.stdout
    records = {r["id"]: r for r in read_out(out)}
    assert len(read_out(out)) == 3 and set(records) == {"sign", 2, "missing"}
    failed = records["missing"]
    assert set(failed) == {"id", "request", "error"} and "examples/nowhere.png" in failed["error"]
    for ident in ("sign", 2):
        record = records[ident]
        assert record["error"] is None and record["tasks"] and all(t["status"] == "ok" for t in record["tasks"])
        assert {"request", "plan", "edges", "selections", "answer", "out_dir", "seconds", "llm_calls"} <= set(record)
        assert (Path(record["out_dir"]) / "run.json").is_file()
    assert "MIND THE GAP" in records["sign"]["tasks"][0]["outputs"][0]["text"]
    assert "Toronto" in records[2]["tasks"][1]["outputs"][0]["text"]


def test_resume_runs_only_the_missing_ids_and_drops_a_torn_line(serve_apps, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    rows = [{"id": "a", "request": SIGN}, {"id": "b", "request": MEETING}, {"id": "c", "request": SIGN},
            {"id": "d", "request": NO_PLAN}]
    kept = [{"id": "a", "request": SIGN, "error": "kept from the first run"},
            {"id": "b", "request": MEETING, "error": "kept from the first run"}]
    out = write_jsonl(tmp_path / "out.jsonl", kept)
    before = out.read_bytes()
    with open(out, "ab") as handle:
        handle.write(b'{"id": "c", "request": "Read the te')  # what kill -9 leaves of a write in flight
    result = batch(write_jsonl(tmp_path / "in.jsonl", rows), "--out", out, "--resume", "--runs", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert "2 done, 1 failed, 2 already in OUT" in result.stdout
    assert out.read_bytes().startswith(before)  # the lines kept are untouched
    records = read_out(out)
    assert sorted(r["id"] for r in records) == ["a", "b", "c", "d"]
    by_id = {r["id"]: r for r in records}
    assert by_id["c"]["error"] is None and all(t["status"] == "ok" for t in by_id["c"]["tasks"])
    assert "no runnable plan" in by_id["d"]["error"]
    again = batch(tmp_path / "in.jsonl", "--out", out, "--resume")  # nothing left to do: Ray is not even asked
    assert again.exit_code == 0 and "0 done, 0 failed, 4 already in OUT" in again.stdout
    assert len(read_out(out)) == 4


@pytest.mark.parametrize(("lines", "message"), [
    (['{"id": "a", "request": "x"}', '{"id": "b", "request": "y"'], "line 2: not valid JSON"),
    (['{"id": "a", "request": "x"}', "", '{"request": "y"}'], "line 3: no id"),
    (['{"id": "a"}'], "line 1: no request"),
    (['["a", "x"]'], "line 1: expected a JSON object"),
    (['{"id": "a", "request": "x", "files": "a.png"}'], "line 1: files must be a list"),
    (['{"id": "a", "request": "x"}', '{"id": "b", "request": "y"}', '{"id": "a", "request": "z"}'],
     "line 3: id 'a' was already used on line 1"),
])
def test_bad_input_is_exit_2_naming_the_line(tmp_path, lines, message):
    source = write_jsonl(tmp_path / "in.jsonl", lines)
    result = batch(source, "--out", tmp_path / "out.jsonl")
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert not (tmp_path / "out.jsonl").exists()
    with pytest.raises(BatchInputError, match=message):
        read_requests(source)


def test_existing_results_are_never_overwritten(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "request": SIGN}])
    out = write_jsonl(tmp_path / "out.jsonl", [{"id": "a", "request": SIGN, "error": "earlier"}])
    result = batch(source, "--out", out)
    assert result.exit_code == 2 and "--resume" in result.stderr and "another path" in result.stderr
    assert read_out(out) == [{"id": "a", "request": SIGN, "error": "earlier"}]
    assert batch(tmp_path / "absent.jsonl", "--out", tmp_path / "o.jsonl").exit_code == 2


def test_completed_ids_repairs_a_torn_tail_and_rejects_foreign_files(tmp_path):
    out = tmp_path / "out.jsonl"
    assert completed_ids(out) == set()
    out.write_bytes(b'{"id": 1, "error": null}\n{"id": "x", "err')
    assert completed_ids(out) == {"1"} and out.read_bytes() == b'{"id": 1, "error": null}\n'
    out.write_bytes(b'{"no id')
    assert completed_ids(out) == set() and out.read_bytes() == b""
    out.write_bytes(b"plain text\n")
    with pytest.raises(BatchInputError, match="line 1: not a result line"):
        completed_ids(out)


def complete_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    data = path.read_bytes()
    return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


def kill_session(sid: int) -> None:
    """SIGKILL every process of session ``sid``: the killed job's Ray (raylet, GCS, workers, which Ray puts in
    process groups of their own) must not outlive it, and the test session's Ray is in another session."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        left = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.getsid(int(entry.name)) == sid:
                        left.append(int(entry.name))
        if not left:
            return
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


def test_kill_9_then_resume_leaves_every_id_exactly_once(tmp_path):
    """A real job in its own process (and its own local Ray) is killed mid-batch; resuming finishes it."""
    ids = [f"r{i}" for i in range(6)]
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "request": SIGN} for i in ids])
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "orchestrator.cli", "batch", str(source), "--out", str(out),
               "--runs", str(tmp_path / "runs"), "--concurrency", "2"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # the child starts its own local Ray
    # its own session, so that its Ray can be found and killed with it, and the test's Ray is left alone
    child = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 150
        while not complete_lines(out) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert complete_lines(out), f"no result line before the kill (exit code {child.poll()})"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        kill_session(child.pid)
    before = [r["id"] for r in complete_lines(out)]
    assert child.returncode == -signal.SIGKILL and len(before) < len(ids)
    resumed = subprocess.run([*command, "--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
                             start_new_session=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"{len(ids) - len(before)} done, 0 failed, {len(before)} already in OUT" in resumed.stdout
    records = read_out(out)
    assert sorted(r["id"] for r in records) == ids  # every id exactly once: none lost, none twice
    assert all(r["error"] is None and all(t["status"] == "ok" for t in r["tasks"]) for r in records)
