"""Every LLM call goes through here: the ``openai`` client against any OpenAI-compatible base URL.

OpenAI itself, vLLM, Ollama, a llama.cpp server or Ray Serve LLM all speak the same API, so one client
serves them all. Transient failures (connection errors, timeouts, 429, 5xx) are retried with exponential
back-off by the openai client itself (``max_retries``). Every prompt and answer is appended to the run's
record. :func:`trim_history` drops the oldest chat turns until the prompt fits the context, as HuggingGPT
does before each stage.
"""

from __future__ import annotations

import os
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MODEL = "gpt-4o-mini"

RUN_RECORD: ContextVar[list | None] = ContextVar("hugginggpt_llm_run_record", default=None)
"""The calls of the run in progress: a run sets a fresh list, so concurrent runs keep their own records."""


class LLMError(RuntimeError):
    """The LLM could not be reached or answered with an error; says which endpoint and what to check."""


@dataclass
class LLMConfig:
    """Where the LLM is and how to call it; :meth:`from_env` reads ``HUGGINGGPT_LLM_*`` / ``OPENAI_*``."""

    base_url: str | None = None
    model: str = DEFAULT_MODEL
    api_key: str | None = None
    timeout_s: float = 120.0
    max_retries: int = 3
    context_tokens: int = 8192
    temperature: float = 0.0

    @classmethod
    def from_env(cls, **overrides: Any) -> LLMConfig:
        env = os.environ
        values: dict[str, Any] = {
            "base_url": env.get("HUGGINGGPT_LLM_BASE_URL") or env.get("OPENAI_BASE_URL"),
            "model": env.get("HUGGINGGPT_LLM_MODEL") or DEFAULT_MODEL,
            "api_key": env.get("HUGGINGGPT_LLM_API_KEY") or env.get("OPENAI_API_KEY"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def configured(self) -> bool:
        """Whether there is an endpoint to call (a base URL, or an OpenAI key for OpenAI itself)."""
        return bool(self.base_url or self.api_key)


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 characters a token for English), enough to trim history."""
    return len(text) // 4 + 1


def trim_history(messages: list[dict[str, str]], max_tokens: int) -> list[dict[str, str]]:
    """The messages with the oldest non-system turns dropped until they fit ``max_tokens``.

    System messages and the last message (the current request) are always kept.
    """
    def size(msgs: list[dict[str, str]]) -> int:
        return sum(approx_tokens(m.get("content") or "") + 4 for m in msgs)

    kept = list(messages)
    while size(kept) > max_tokens:
        droppable = [i for i, m in enumerate(kept[:-1]) if m.get("role") != "system"]
        if not droppable:
            break
        del kept[droppable[0]]
    return kept


@dataclass
class LLMCall:
    """One recorded exchange: which stage asked, what was sent, what came back, how long it took."""

    stage: str
    model: str
    messages: list[dict[str, str]]
    response: str | None
    seconds: float
    error: str | None = None


@dataclass
class LLMClient:
    """A thin wrapper over ``openai.OpenAI`` that records each call and raises :class:`LLMError` clearly."""

    config: LLMConfig
    record: list[LLMCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        import openai

        self._openai = openai
        self._client = openai.OpenAI(
            base_url=self.config.base_url,
            api_key=self.config.api_key or "not-needed",
            timeout=self.config.timeout_s,
            max_retries=self.config.max_retries,
        )

    def chat(self, messages: list[dict[str, str]], *, stage: str = "chat", **options: Any) -> str:
        """The assistant's answer to ``messages`` (trimmed to fit the context)."""
        messages = trim_history(messages, self.config.context_tokens)
        started = time.perf_counter()
        try:
            completion = self._client.chat.completions.create(
                model=self.config.model, messages=messages,
                temperature=options.pop("temperature", self.config.temperature), **options)
            text = completion.choices[0].message.content or ""
        except self._openai.OpenAIError as err:
            seconds = time.perf_counter() - started
            self._keep(LLMCall(stage, self.config.model, messages, None, seconds, error=str(err)))
            where = self.config.base_url or "the OpenAI API"
            raise LLMError(
                f"the LLM at {where} (model {self.config.model!r}) failed during {stage} after "
                f"{self.config.max_retries} retries: {type(err).__name__}: {err}. Check the base URL, the model "
                "name and the API key, or use the embedded planner (--planner embedded)."
            ) from None
        self._keep(LLMCall(stage, self.config.model, messages, text, time.perf_counter() - started))
        return text

    def _keep(self, call: LLMCall) -> None:
        self.record.append(call)
        run = RUN_RECORD.get()
        if run is not None:
            run.append(call)
