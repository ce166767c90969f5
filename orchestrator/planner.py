"""Stage 1: planning. The LLM planner speaks HuggingGPT's prompt; both planners return a checked plan.

The LLM planner sends HuggingGPT's task-planning prompt (the task list format, the registry's task names
with their argument modalities, the chat context) and, when ``dag/`` finds problems with the answer, asks
again with the exact problems, a bounded number of rounds; then it fails with the last plan and its
problems. The demonstrations shown before the request are the bank's most similar ones
(``orchestrator/demos.py``). The embedded planner (``orchestrator/embedded_planner.py``) needs no LLM.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from dag.parse import PlanParseError
from dag.registry import REGISTRY, TaskRegistry
from dag.validate import PlanReport, check_plan
from orchestrator.demos import Demo
from orchestrator.llm import LLMClient

PARSE_TASK_SYSTEM = (
    "#1 Task Planning Stage: The AI assistant can parse user input to several tasks: [{{\"task\": task, \"id\": "
    "task_id, \"dep\": dependency_task_id, \"args\": {{\"text\": text or <GENERATED>-dep_id, \"image\": image_url or "
    "<GENERATED>-dep_id, \"audio\": audio_url or <GENERATED>-dep_id}}}}]. The special tag \"<GENERATED>-dep_id\" refer "
    "to the one generated text/image/audio in the dependency task (Please consider whether the dependency task "
    "generates resources of this type.) and \"dep_id\" must be in \"dep\" list. The \"dep\" field denotes the ids of "
    "the previous prerequisite tasks which generate a new resource that the current task relies on. The \"args\" "
    "field must in [\"text\", \"image\", \"audio\"], nothing else. The task MUST be selected from the following "
    "options: {tasks}. There may be multiple tasks of the same type. Think step by step about all the tasks needed "
    "to resolve the user's request. Parse out as few tasks as possible while ensuring that the user request can be "
    "resolved. Pay attention to the dependencies and order among tasks. If the user input can't be parsed, you need "
    "to reply empty JSON []."
)
PARSE_TASK_PROMPT = (
    "The chat log [ {context} ] may contain the resources I mentioned. Now I input {{ {request} }}. Pay attention "
    "to the input and output types of tasks and the dependencies between tasks."
)
REPAIR_PROMPT = (
    "Your plan cannot run. Problems:\n{problems}\nAnswer again with the whole corrected task list as JSON, nothing "
    "else."
)


class PlanningError(ValueError):
    """No valid plan after the allowed rounds; carries the last plan text and its problems."""

    def __init__(self, message: str, last_answer: str = "", problems: list[str] | None = None) -> None:
        self.last_answer = last_answer
        self.problems = problems or []
        detail = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{message}\nlast plan: {last_answer[:1000]}\n{detail}".rstrip())


def task_list(registry: TaskRegistry = REGISTRY) -> str:
    """The registry's tasks for the prompt, each with the argument modalities it takes."""
    return ", ".join(f'"{t.id}" ({"+".join(t.inputs)})' for t in registry if t.id != "image-editing")


@dataclass
class LLMPlanner:
    llm: LLMClient
    rounds: int = 3
    """How many answers the LLM may give in all (the first and the repairs)."""
    demos: list[Demo] = field(default_factory=list)
    """Fixed demonstrations, used when :meth:`plan` is given none (HuggingGPT's few-shot examples)."""
    registry: TaskRegistry = REGISTRY

    def plan(self, request: str, context: list[dict[str, str]] | None = None,
             demos: list[Demo] | None = None) -> PlanReport:
        """Plan ``request``; ``demos`` (most similar first, from :class:`DemoBank.retrieve`) go before it as
        earlier turns of the chat, the most similar last, nearest the request."""
        messages = [{"role": "system", "content": PARSE_TASK_SYSTEM.format(tasks=task_list(self.registry))}]
        for demo in reversed(demos if demos is not None else self.demos):
            messages.append({"role": "user", "content": demo.request})
            messages.append({"role": "assistant", "content": json.dumps(demo.plan, ensure_ascii=False)})
        history = " ".join(f"{m['role']}: {m['content']}" for m in (context or []))
        messages.append({"role": "user", "content": PARSE_TASK_PROMPT.format(context=history, request=request)})
        answer, problems = "", []
        for _ in range(self.rounds):
            answer = self.llm.chat(messages, stage="plan")
            try:
                report = check_plan(answer, self.registry)
            except PlanParseError as err:
                problems = [str(err)]
            else:
                if report.valid:
                    return report
                problems = [str(p) for p in report.problems]
            messages += [{"role": "assistant", "content": answer},
                         {"role": "user", "content": REPAIR_PROMPT.format(problems="\n".join(problems))}]
        raise PlanningError(f"the LLM gave no valid plan in {self.rounds} rounds", answer, problems)
