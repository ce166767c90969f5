"""The HTTP service end to end: `hugginggpt serve` in a child process (its own Ray, a real Serve proxy on a
free port), called with httpx and the real openai client."""

import concurrent.futures
import json
import subprocess
import sys

import httpx
import openai
import yaml

from tests.conftest import OCR, REPO, SIGN, TOKEN, TTS, auth

READ_ALOUD = "Read the text in sign.png aloud"


def upload(base: str, route: str, payload: dict, **kw) -> httpx.Response:
    with open(SIGN, "rb") as image:
        return httpx.post(base + route, headers=auth(), data={"payload": json.dumps(payload)},
                          files={"files": ("sign.png", image, "image/png")}, timeout=120, **kw)


def test_hugginggpt_api_with_an_upload_answers_with_urls_it_serves(service):
    response = upload(service, "/hugginggpt", {"messages": [{"role": "user", "content": READ_ALOUD}]})
    assert response.status_code == 200, response.text
    body = response.json()
    run = body["run"]
    assert [t["status"] for t in run["tasks"]] == ["ok", "ok"]
    assert "MIND THE GAP" in body["message"]
    audio = run["tasks"][1]["outputs"][0]
    assert "path" not in audio and audio["url"].startswith("/files/") and audio["url"] in body["message"]
    wav = httpx.get(service + audio["url"])  # signed: a browser's <audio> can load it without the header
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF" and len(wav.content) > 10_000
    unsigned = audio["url"].split("?")[0]
    assert httpx.get(service + unsigned).status_code == 401
    assert httpx.get(service + unsigned + "?sig=0123456789abcdef0123456789abcdef").status_code == 401
    assert httpx.get(service + unsigned, headers=auth()).status_code == 200
    marked = httpx.post(service + "/feedback", headers=auth(), json={"run": run["out_dir"], "good": False})
    assert marked.status_code == 200 and marked.json()["kind"] == "counter", marked.text
    nowhere = httpx.post(service + "/feedback", headers=auth(), json={"run": "/files/../../etc", "good": False})
    assert nowhere.status_code == 404


def test_tasks_and_results_routes(service):
    plan = upload(service, "/tasks", {"messages": [{"role": "user", "content": READ_ALOUD}]}).json()
    assert [t["task"] for t in plan] == ["image-to-text", "text-to-speech"] and plan[1]["dep"] == [0]
    results = upload(service, "/results", {"messages": [{"role": "user", "content": READ_ALOUD}]}).json()
    assert set(results) == {"0", "1"} and "MIND THE GAP" in results["0"]["outputs"][0]["text"]


def test_openai_client_with_an_allowed_url_and_a_stream(service, file_host):
    client = openai.OpenAI(base_url=service + "/v1", api_key=TOKEN)
    assert [m.id for m in client.models.list().data] == ["hugginggpt"]
    url = f"http://{file_host}/sign.png"
    answer = client.chat.completions.create(model="hugginggpt", messages=[{"role": "user", "content": READ_ALOUD}],
                                            extra_body={"files": [url]})
    assert "MIND THE GAP" in answer.choices[0].message.content
    events, content = [], ""
    for part in client.chat.completions.create(model="hugginggpt", stream=True, extra_body={"files": [url]},
                                               messages=[{"role": "user", "content": READ_ALOUD}]):
        event = (part.model_extra or {}).get("hugginggpt_event")
        if event:
            events.append(event["event"])
        if part.choices and part.choices[0].delta.content:
            content += part.choices[0].delta.content
    assert events[0] == "planned" and {"selected", "started", "finished"} <= set(events) and events[-1] == "record"
    assert "MIND THE GAP" in content


def test_errors_are_json_with_a_clear_message(service):
    no_token = httpx.get(service + "/v1/models")
    assert no_token.status_code == 401 and "Bearer" in no_token.json()["error"]["message"]
    refused = httpx.post(service + "/hugginggpt", headers=auth(), json={
        "messages": [{"role": "user", "content": "read x.png"}], "files": ["http://example.org/x.png"]})
    assert refused.status_code == 400 and refused.json()["error"]["type"] == "url_not_allowed"
    escape = httpx.get(service + "/files/..%2F..%2F..%2Fetc%2Fpasswd", headers=auth())
    assert escape.status_code == 404 and escape.json()["error"]["message"] == "no such file"
    broken = httpx.post(service + "/hugginggpt", headers=auth(), content=b"{not json")
    assert broken.status_code == 400 and "not JSON" in broken.json()["error"]["message"]
    missing = httpx.post(service + "/hugginggpt", headers=auth(),
                         json={"messages": [{"role": "user", "content": "Read the text in nowhere.png aloud"}]})
    assert missing.status_code == 422 and "nowhere.png" in missing.json()["error"]["message"]
    too_big = httpx.post(service + "/hugginggpt", headers=auth(), content=b"x" * (2 * 1024 * 1024))
    assert too_big.status_code == 413 and too_big.json()["error"]["type"] == "request_too_large"
    wrong_model = httpx.post(service + "/v1/chat/completions", headers=auth(),
                             json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]})
    assert wrong_model.status_code == 404


def test_overload_answers_503_with_retry_after(service):
    def one(_):
        return upload(service, "/hugginggpt", {"messages": [{"role": "user", "content": READ_ALOUD}]})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(one, range(4)))
    codes = [r.status_code for r in responses]
    assert 200 in codes and 503 in codes, codes  # the service runs one at a time (--max-concurrent-runs 1)
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] == "2" and busy.json()["error"]["type"] == "overloaded"


def test_write_config_gives_serve_deploy_both_applications(tmp_path):
    from ray.serve.schema import ServeDeploySchema

    path = tmp_path / "serve_config.yaml"
    done = subprocess.run([sys.executable, "-m", "orchestrator.cli", "serve", "--model", OCR, "--model", TTS,
                           "--token", "secret", "--write-config", str(path)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    config = yaml.safe_load(path.read_text())
    ServeDeploySchema.model_validate(config) if hasattr(ServeDeploySchema, "model_validate") else (
        ServeDeploySchema.parse_obj(config))
    apps = {a["name"]: a for a in config["applications"]}
    assert apps["hugginggpt"]["import_path"] == "orchestrator.ingress:app_builder"
    assert apps["hugginggpt"]["args"]["experts"] == [OCR, TTS] and "token" not in apps["hugginggpt"]["args"]
    assert apps["experts"]["args"]["models"] == [OCR, TTS]


def test_the_chat_before_the_last_user_message_is_the_planners_context():
    from orchestrator.ingress import chat_context

    messages = [{"role": "user", "content": "I have a photo, sign.png"}, {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "read it aloud"}, {"role": "assistant", "content": None}]
    assert chat_context(messages) == messages[:2]
