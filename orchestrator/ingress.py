"""The HTTP service: a Ray Serve application (FastAPI ingress) in front of the orchestrator and its experts.

Routes:

- HuggingGPT's own API, so its clients work unchanged: ``POST /hugginggpt`` (answer), ``POST /tasks``
  (the plan only), ``POST /results`` (per-task results); body ``{"messages": [{"role", "content"}, …]}``.
- OpenAI's: ``POST /v1/chat/completions`` (model ``hugginggpt``; ``stream: true`` sends the run's stage
  events and then the answer as server-sent events) and ``GET /v1/models``.
- ``GET /files/<run>/<name>``: the artifacts runs wrote (never anything outside the runs folder);
  ``GET /`` the web page; ``POST /api/run``: the page's request, answered as a stream of events.

Input files come as multipart uploads (any of the routes above also takes ``multipart/form-data`` with a
``payload`` field holding the JSON body and the files as parts) or as URLs in ``"files"`` whose host is
on the configured allow-list; the request names them by file name. Optional bearer-token auth, a body
size limit, and a cap on runs in flight (beyond it: 503 with ``Retry-After``; Serve's
``max_queued_requests`` bounds the queue in front of it). Every error is JSON: ``{"error": {"message",
"type"}}``.
"""


import asyncio
import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from ray import serve

WEB_PAGE = Path(__file__).with_name("web") / "index.html"
MODEL_NAME = "hugginggpt"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ServiceConfig:
    """What the service needs besides the orchestrator's :class:`~orchestrator.pipeline.Config`."""

    runs_dir: str
    """Absolute folder for uploads and artifacts; nothing outside it is ever read or served."""
    experts: list[str]
    """Model ids running in the experts application."""
    experts_app: str = "experts"
    planner: str = "embedded"
    llm_base_url: str | None = None
    llm_model: str | None = None
    token: str | None = None
    """Bearer token every API route requires, when set."""
    allowed_url_hosts: list[str] = field(default_factory=list)
    """Hosts (``example.org`` or ``127.0.0.1:8765``) whose URLs may be fetched as input files."""
    max_body_bytes: int = 50 * 1024 * 1024
    max_concurrent_runs: int = 16
    retry_after_s: int = 2
    timeout_s: float = 120.0


class ServiceError(Exception):
    """An error the client caused or should hear about, with its HTTP status."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.headers = status, message, kind, headers or {}


def error_response(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)


def safe_name(name: str) -> str:
    """A file name with no folders and no odd characters (``../../etc/passwd`` → ``passwd``)."""
    base = _SAFE_NAME.sub("_", Path(name.replace("\\", "/")).name).strip("._")
    return base or "upload"


def inside(root: Path, relative: str) -> Path:
    """``root/relative``, refusing anything that would leave ``root``."""
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ServiceError(404, "no such file", "not_found")
    return target


def chat_context(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The messages before the last user message: the chat the LLM planner is shown."""
    texts = [m for m in messages if isinstance(m, dict) and isinstance(m.get("content"), str)]
    last = max((i for i, m in enumerate(texts) if m.get("role") == "user"), default=len(texts))
    return [{"role": str(m.get("role")), "content": m["content"]} for m in texts[:last]]


def last_user_message(messages: Any) -> str:
    if not isinstance(messages, list) or not messages:
        raise ServiceError(400, 'the body needs "messages": [{"role": "user", "content": "..."}]')
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), str):
            if message["content"].strip():
                return message["content"]
    raise ServiceError(400, "no user message with text content in messages")


class Service:
    """The service's logic, separate from the Serve wrapper so it reads plainly."""

    def __init__(self, config: ServiceConfig) -> None:
        import os

        from orchestrator.llm import LLMConfig
        from orchestrator.pipeline import Config, HuggingGPT

        self.config = config
        config.token = config.token or os.environ.get("HUGGINGGPT_API_TOKEN") or None  # serve deploy: from the env
        self.root = Path(config.runs_dir).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.hugginggpt = HuggingGPT(Config(
            planner=config.planner, llm=LLMConfig.from_env(base_url=config.llm_base_url, model=config.llm_model),
            out_dir=str(self.root), app_name=config.experts_app, experts=list(config.experts), read_named_files=False,
            timeout_s=config.timeout_s))
        self.in_flight = 0

    # ------------------------------------------------------------------ requests

    def signature(self, relative: str) -> str:
        return hmac.new(self.config.token.encode(), relative.encode(), hashlib.sha256).hexdigest()[:32]

    def file_url(self, relative: str) -> str:
        """The URL of an artifact; with auth on, signed, so a browser's ``<audio src>`` can load it without a
        header while nobody can fetch other files without the token."""
        url = "/files/" + relative
        return f"{url}?sig={self.signature(relative)}" if self.config.token else url

    def authorise(self, request: Request, signed_path: str | None = None) -> None:
        if not self.config.token:
            return
        if signed_path is not None and hmac.compare_digest(request.query_params.get("sig", ""),
                                                           self.signature(signed_path)):
            return
        if request.headers.get("authorization", "") != f"Bearer {self.config.token}":
            raise ServiceError(401, "missing or wrong bearer token (Authorization: Bearer <token>)",
                               "authentication_error", {"WWW-Authenticate": "Bearer"})

    async def body(self, request: Request) -> tuple[dict[str, Any], Path]:
        """The JSON body (or multipart ``payload``) and a fresh upload folder holding its files."""
        length = int(request.headers.get("content-length") or 0)
        if length > self.config.max_body_bytes:
            raise ServiceError(413, f"the request is {length} bytes; the limit is {self.config.max_body_bytes}",
                               "request_too_large")
        folder = self.root / "uploads" / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            try:
                payload = json.loads(form.get("payload") or "{}")
            except json.JSONDecodeError as err:
                raise ServiceError(400, f"the payload field is not JSON: {err}") from None
            for _, part in form.multi_items():
                if hasattr(part, "filename") and part.filename:
                    (folder / safe_name(part.filename)).write_bytes(await part.read())
        else:
            raw = await request.body()
            if len(raw) > self.config.max_body_bytes:
                raise ServiceError(413, f"the body is over {self.config.max_body_bytes} bytes", "request_too_large")
            try:
                payload = json.loads(raw or b"{}")
            except json.JSONDecodeError as err:
                raise ServiceError(400, f"the body is not JSON: {err}") from None
        if not isinstance(payload, dict):
            raise ServiceError(400, "the body must be a JSON object")
        await self.fetch_urls(payload.get("files") or [], folder)
        return payload, folder

    async def fetch_urls(self, urls: Any, folder: Path) -> None:
        import httpx

        if not isinstance(urls, list):
            raise ServiceError(400, '"files" must be a list of URLs')
        for url in urls:
            parsed = urlparse(str(url))
            if parsed.scheme not in ("http", "https") or parsed.netloc not in self.config.allowed_url_hosts:
                allowed = ", ".join(self.config.allowed_url_hosts) or "none configured"
                raise ServiceError(400, f"URL {url!r} is not allowed: only http(s) URLs on these hosts are fetched: "
                                        f"{allowed} (start the service with --allow-url-host)", "url_not_allowed")
            async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
                try:
                    response = await client.get(str(url))
                    response.raise_for_status()
                except httpx.HTTPError as err:
                    raise ServiceError(400, f"could not fetch {url}: {err}", "url_fetch_failed") from None
            if len(response.content) > self.config.max_body_bytes:
                raise ServiceError(413, f"{url} is over {self.config.max_body_bytes} bytes", "request_too_large")
            (folder / safe_name(parsed.path or "download")).write_bytes(response.content)

    def check_capacity(self) -> None:
        """503 with ``Retry-After`` when the runs in flight are at the limit: a client backs off, nothing queues
        without bound."""
        if self.in_flight >= self.config.max_concurrent_runs:
            raise ServiceError(503, f"busy: {self.in_flight} runs in flight (the limit); retry shortly",
                               "overloaded", {"Retry-After": str(self.config.retry_after_s)})

    async def run(self, request_text: str, folder: Path, on_event=None,
                  context: list[dict[str, str]] | None = None) -> dict[str, Any]:
        """One run with the uploaded files; the record with artifact paths turned into URLs."""
        from orchestrator.llm import LLMError
        from orchestrator.pipeline import RUN_ERRORS

        self.check_capacity()
        self.in_flight += 1
        try:
            files = [str(p) for p in sorted(folder.iterdir())]
            result = await self.hugginggpt.arun(request_text, files, on_event, context)
        except LLMError as err:
            raise ServiceError(502, str(err), "llm_error") from None
        except RUN_ERRORS as err:
            raise ServiceError(422, str(err), type(err).__name__) from None
        finally:
            self.in_flight -= 1
        record = result.to_dict()
        for task in record["tasks"]:  # clients get URLs this service answers, never its own paths
            for output in task["outputs"]:
                if "path" in output:
                    path = output.pop("path")
                    output["url"] = self.file_url(str(Path(path).resolve().relative_to(self.root)))
                    record["answer"] = record["answer"].replace(path, output["url"])
        record["out_dir"] = "/files/" + str(Path(record["out_dir"]).resolve().relative_to(self.root))
        return record


def chat_completion(answer: str, created: int) -> dict[str, Any]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": created,
            "model": MODEL_NAME, "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                              "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


def chunk(completion_id: str, created: int, delta: dict[str, Any], finish: str | None = None,
          event: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                            "model": MODEL_NAME, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if event is not None:
        body["hugginggpt_event"] = event
    return f"data: {json.dumps(body, ensure_ascii=False, default=str)}\n\n"


api = FastAPI(title="hugginggpt-ray", docs_url="/docs")


@serve.deployment(name="HuggingGPTIngress", ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=64,
                  max_queued_requests=256)
@serve.ingress(api)
class HuggingGPTIngress:
    """The service as a Serve deployment; see the module doc for the routes."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.service = Service(ServiceConfig(**config))

    async def _guarded(self, request: Request, handler, signed_path: str | None = None) -> Any:
        try:
            self.service.authorise(request, signed_path)
            return await handler()
        except ServiceError as err:
            return error_response(err.status, err.message, err.kind, err.headers)
        except Exception as err:  # noqa: BLE001 - every error is JSON, never a bare traceback
            return error_response(500, f"internal error: {type(err).__name__}: {err}", "internal_error")

    @api.post("/hugginggpt")
    async def hugginggpt(self, request: Request) -> Any:
        async def handle() -> Any:
            payload, folder = await self.service.body(request)
            messages = payload.get("messages")
            record = await self.service.run(last_user_message(messages), folder, context=chat_context(messages))
            return {"message": record["answer"], "run": record}

        return await self._guarded(request, handle)

    @api.post("/tasks")
    async def tasks(self, request: Request) -> Any:
        async def handle() -> Any:
            payload, folder = await self.service.body(request)
            text = last_user_message(payload.get("messages"))
            files = [str(p) for p in sorted(folder.iterdir())]
            from orchestrator.planner import PlanningError

            try:
                plan = await asyncio.to_thread(self.service.hugginggpt.plan, text, files)
            except PlanningError as err:
                raise ServiceError(422, str(err), "PlanningError") from None
            return plan.to_data()

        return await self._guarded(request, handle)

    @api.post("/results")
    async def results(self, request: Request) -> Any:
        async def handle() -> Any:
            payload, folder = await self.service.body(request)
            record = await self.service.run(last_user_message(payload.get("messages")), folder)
            return {str(task["id"]): task for task in record["tasks"]}

        return await self._guarded(request, handle)

    @api.post("/feedback")
    async def feedback(self, request: Request) -> Any:
        """``{"run": "/files/<run>", "good": true|false}``: the run's plan becomes a demonstration or a
        counter-example."""
        async def handle() -> Any:
            try:
                payload = json.loads(await request.body() or b"{}")
                folder = str(payload["run"]).split("?")[0].removeprefix("/files/")
                good = bool(payload.get("good", True))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                raise ServiceError(400, 'the body must be {"run": "/files/<run folder>", "good": true|false}') from None
            record_path = inside(self.service.root, folder) / "run.json"
            if not record_path.is_file():
                raise ServiceError(404, f"no run at {payload['run']}", "not_found")
            record = json.loads(record_path.read_text(encoding="utf-8"))
            new = await asyncio.to_thread(self.service.hugginggpt.learn, record["request"], record["plan"], good)
            return {"stored": new, "kind": "demo" if good else "counter", "request": record["request"]}

        return await self._guarded(request, handle)

    @api.get("/v1/models")
    async def models(self, request: Request) -> Any:
        async def handle() -> Any:
            return {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "created": 0,
                                                "owned_by": "hugginggpt-ray"}]}

        return await self._guarded(request, handle)

    @api.post("/v1/chat/completions")
    async def chat_completions(self, request: Request) -> Any:
        async def handle() -> Any:
            payload, folder = await self.service.body(request)
            if payload.get("model", MODEL_NAME) != MODEL_NAME:
                raise ServiceError(404, f"model {payload.get('model')!r} does not exist; use {MODEL_NAME!r}",
                                   "model_not_found")
            text = last_user_message(payload.get("messages"))
            created = int(time.time())
            if not payload.get("stream"):
                record = await self.service.run(text, folder, context=chat_context(payload["messages"]))
                return chat_completion(record["answer"], created)
            self.service.check_capacity()
            return StreamingResponse(self._stream(text, folder, created), media_type="text/event-stream")

        return await self._guarded(request, handle)

    async def _stream(self, text: str, folder: Path, created: int):
        """Stage events as chunks with an empty delta and a ``hugginggpt_event``, then the answer."""
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        events: asyncio.Queue = asyncio.Queue()
        run = asyncio.ensure_future(self.service.run(text, folder, events.put_nowait))
        yield chunk(completion_id, created, {"role": "assistant"})
        while not (run.done() and events.empty()):
            try:
                event = await asyncio.wait_for(events.get(), timeout=0.25)
            except asyncio.TimeoutError:
                continue
            yield chunk(completion_id, created, {}, event=event)
        try:
            record = run.result()
        except ServiceError as err:
            yield f"data: {json.dumps({'error': {'message': err.message, 'type': err.kind}})}\n\n"
        else:
            yield chunk(completion_id, created, {"content": record["answer"]})
            yield chunk(completion_id, created, {}, finish="stop", event={"event": "record", "run": record})
        yield "data: [DONE]\n\n"

    @api.post("/api/run")
    async def page_run(self, request: Request) -> Any:
        """The web page's request: multipart with ``request`` and files; answers events as SSE."""
        async def handle() -> Any:
            payload, folder = await self.service.body(request)
            text = str(payload.get("request") or "").strip()
            if not text:
                raise ServiceError(400, "type a request")
            self.service.check_capacity()
            return StreamingResponse(self._stream(text, folder, int(time.time())), media_type="text/event-stream")

        return await self._guarded(request, handle)

    @api.get("/files/{path:path}")
    async def files(self, path: str, request: Request) -> Any:
        async def handle() -> Any:
            target = inside(self.service.root, path)
            if not target.is_file():
                raise ServiceError(404, "no such file", "not_found")
            return FileResponse(target)

        return await self._guarded(request, handle, signed_path=path)

    @api.get("/")
    async def page(self) -> HTMLResponse:
        return HTMLResponse(WEB_PAGE.read_text(encoding="utf-8"))


def build_ingress(config: ServiceConfig) -> serve.Application:
    return HuggingGPTIngress.bind(vars(config))


def app_builder(args: dict[str, Any]) -> serve.Application:
    """Serve's application-builder entry point (``import_path: orchestrator.ingress:app_builder``)."""
    return build_ingress(ServiceConfig(**args))
