"""A scripted OpenAI-compatible chat server on 127.0.0.1, for deterministic planner and LLM tests.

It answers ``POST /v1/chat/completions`` with the next scripted reply (or a function of the request),
can fail the first ``fail_first`` calls with HTTP 500 to exercise retries, and records every request.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Callable[[dict[str, Any]], str]


class ScriptedLLMServer:
    def __init__(self, replies: list[Reply] | None = None, fail_first: int = 0) -> None:
        self.replies = list(replies or [])
        self.fail_first = fail_first
        self.requests: list[dict[str, Any]] = []
        self.failures = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if server.failures < server.fail_first:
                    server.failures += 1
                    self._send(500, {"error": {"message": "scripted failure", "type": "server_error"}})
                    return
                server.requests.append(body)
                if not server.replies:
                    self._send(500, {"error": {"message": "script exhausted", "type": "server_error"}})
                    return
                reply = server.replies.pop(0)
                text = reply(body) if callable(reply) else reply
                self._send(200, {
                    "id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "scripted"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> ScriptedLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
