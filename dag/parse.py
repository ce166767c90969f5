"""Parse an LLM's plan text into a :class:`~dag.plan.Plan`, repairing what is unambiguous.

Real LLMs wrap the JSON in prose or code fences, leave trailing commas, use single quotes or Python
literals, add or drop a brace, spell references ``<GENERATED-0>`` or ``<resource>-0``, and give ``dep``
as a bare number or not at all. Each repair made is recorded in plain words; text that cannot be read
without guessing raises :class:`PlanParseError` naming the line, the column and what was expected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from dag.plan import NO_DEPENDENCY, Plan
from dag.registry import numbered_arg_names
from dag.resources import canonical_references, file_modality, map_strings, whole_reference

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_PLAN_START = re.compile(r"\[\s*[\{\]]")
_CLOSER = {"[": "]", "{": "}"}
_LITERALS = {"True": "true", "False": "false", "None": "null"}
_TASK_LIST_KEYS = ("tasks", "plan", "task_list", "task_nodes")
_ARGS_KEYS = ("arguments", "parameters", "inputs", "params")


class PlanParseError(ValueError):
    """The text holds no plan we can read without guessing; says where and what."""

    def __init__(self, message: str, *, text: str = "", position: int | None = None, hint: str = "") -> None:
        self.reason = message
        self.hint = hint
        self.line = self.column = None
        self.excerpt = ""
        if position is not None and text:
            self.line = text.count("\n", 0, position) + 1
            self.column = position - (text.rfind("\n", 0, position) + 1) + 1
            start = max(0, position - 30)
            self.excerpt = text[start : position + 30].replace("\n", " ")
        where = f" at line {self.line}, column {self.column}" if self.line else ""
        near = f" near …{self.excerpt}…" if self.excerpt else ""
        full = f"cannot read the plan{where}: {message}{near}"
        if hint:
            full += f". {hint}"
        super().__init__(full)


@dataclass
class ParsedPlan:
    """A plan read from text, and the repairs it needed (empty when the text was clean JSON)."""

    plan: Plan
    repairs: list[str] = field(default_factory=list)


def parse_plan(source: str | list | dict) -> ParsedPlan:
    """Read a plan from LLM output text (or already-decoded JSON data).

    Raises :class:`PlanParseError` when the text holds no readable plan.
    """
    repairs: list[str] = []
    data = source if not isinstance(source, str) else _decode(source, repairs)
    items = _task_list(data, repairs)
    tasks = _coerce_tasks(items, repairs)
    try:
        plan = Plan.model_validate(tasks)
    except ValidationError as err:  # only reachable through odd value types the coercion let pass
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PlanParseError(f"task field {where}: {first['msg']}") from None
    return ParsedPlan(plan=plan, repairs=repairs)


# --------------------------------------------------------------------------- text → JSON data


def _decode(text: str, repairs: list[str]) -> Any:
    body = _extract(text, repairs)
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        pass
    fixed = _repair_tokens(body, repairs)
    try:
        return json.loads(fixed)
    except json.JSONDecodeError as err:
        raise PlanParseError(
            err.msg[0].lower() + err.msg[1:],
            text=fixed,
            position=err.pos,
            hint='Expected a JSON list of tasks: [{"task": ..., "id": 0, "dep": [-1], "args": {...}}]',
        ) from None


def _extract(text: str, repairs: list[str]) -> str:
    """The JSON part of an LLM answer: inside a code fence if there is one, without prose around it."""
    if not text.strip():
        raise PlanParseError("the text is empty", hint="The LLM answered nothing; ask it again")
    body = text
    fences = [m.group(1) for m in _FENCE.finditer(text) if "[" in m.group(1) or "{" in m.group(1)]
    if fences:
        body = fences[0]
        repairs.append("took the JSON out of a ``` code fence")
    match = _PLAN_START.search(body)
    start = match.start() if match else body.find("{")
    if start < 0:
        start = body.find("[")
    if start < 0:
        raise PlanParseError(
            "no JSON list or object in the text",
            hint='The answer must contain a task list such as [{"task": "image-to-text", "id": 0, ...}]',
        )
    end = _matching_end(body, start)
    if body[start] == "{" and "{" in body[end:]:
        # Objects one after another with no list around them: read them all as the list.
        end = body.rfind("}") + 1
        repairs.append("wrapped task objects that had no list around them in a list")
        return "[" + body[start:end] + "]"
    if body[:start].strip() or body[end:].strip():
        repairs.append("dropped the prose around the JSON")
    return body[start:end]


def _matching_end(text: str, start: int) -> int:
    """Index just past the bracket that closes ``text[start]``, or the end of a text cut short.

    A closer that does not match the innermost open bracket is stray and does not end anything.
    """
    stack: list[str] = []
    quote = None
    i = start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch == '"':
            quote = ch
        elif ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack and _CLOSER[stack[-1]] == ch:
            stack.pop()
            if not stack:
                return i + 1
        i += 1
    return len(text)


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {col}"


def _repair_tokens(text: str, repairs: list[str]) -> str:
    """One pass over the JSON-ish text fixing what has a single reading.

    Single-quoted strings become double-quoted (a quote followed by a letter is an apostrophe, not the
    end), Python's True/False/None become JSON, bare keys get quotes, trailing commas go, a missing comma
    between two objects is added, a closing bracket with no opener is dropped, and brackets left open at
    the end are closed.
    """
    out: list[str] = []
    stack: list[str] = []
    notes: dict[str, list[str]] = {}

    def note(kind: str, pos: int) -> None:
        notes.setdefault(kind, []).append(_where(text, pos))

    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            end = _string_end(text, i, '"')
            out.append(text[i:end])
            i = end
            continue
        if ch == "'" and _value_may_start(out):
            end = _string_end(text, i, "'")
            inner = text[i + 1 : end - 1].replace("\\'", "'").replace('"', '\\"')
            out.append(f'"{inner}"')
            note("single-quoted strings turned into double-quoted", i)
            i = end
            continue
        if ch.isalpha() or ch == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_-"):
                j += 1
            word = text[i:j]
            k = j
            while k < n and text[k].isspace():
                k += 1
            if word in _LITERALS:
                out.append(_LITERALS[word])
                note(f"Python {word} turned into {_LITERALS[word]}", i)
            elif k < n and text[k] == ":" and _value_may_start(out):
                out.append(f'"{word}"')
                note("quotes added around bare keys", i)
            else:
                out.append(word)
            i = j
            continue
        if ch == ",":
            k = i + 1
            while k < n and text[k].isspace():
                k += 1
            if k >= n or text[k] in "]}":
                note("trailing commas removed", i)
                i += 1
                continue
        if ch in "[{":
            if ch == "{" and _last_significant(out) == "}":
                out.append(",")
                note("missing commas added between objects", i)
            stack.append(ch)
        elif ch in "]}":
            if not stack or _CLOSER[stack[-1]] != ch:
                if ch == "]" and stack and stack[-1] == "{" and "[" in stack:
                    # `{"a": 1 ]`: the object was never closed; close it before the list.
                    while stack and stack[-1] == "{":
                        out.append("}")
                        stack.pop()
                    note("missing closing braces added", i)
                    if stack and stack[-1] == "[":
                        stack.pop()
                        out.append(ch)
                    i += 1
                    continue
                note(f"stray {ch!r} removed", i)
                i += 1
                continue
            stack.pop()
        out.append(ch)
        i += 1
    if stack:
        out.extend(_CLOSER[c] for c in reversed(stack))
        note("unclosed brackets closed at the end", n)
    for kind, places in notes.items():
        shown = ", ".join(places[:3]) + (" …" if len(places) > 3 else "")
        repairs.append(f"{kind} ({shown})")
    return "".join(out)


def _string_end(text: str, start: int, quote: str) -> int:
    """Index just past the string that opens at ``start``.

    For single quotes, a quote followed by a letter (``What's``) is an apostrophe inside the string.
    """
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == quote:
            if quote == '"':
                return i + 1
            k = i + 1
            while k < len(text) and text[k] in " \t":
                k += 1
            if k >= len(text) or text[k] in ",:]}\n\r":
                return i + 1
        i += 1
    return len(text)


def _last_significant(out: list[str]) -> str:
    for piece in reversed(out):
        stripped = piece.strip()
        if stripped:
            return stripped[-1]
    return ""


def _value_may_start(out: list[str]) -> bool:
    """Whether the output so far ends where a key or value begins (after ``{ [ , :`` or at the start)."""
    return _last_significant(out) in ("", "{", "[", ",", ":")


# --------------------------------------------------------------------------- JSON data → task dicts


def _task_list(data: Any, repairs: list[str]) -> list:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in _TASK_LIST_KEYS:
            if isinstance(data.get(key), list):
                repairs.append(f'took the task list from the "{key}" field')
                return data[key]
        if "task" in data:
            repairs.append("wrapped a single task object in a list")
            return [data]
    raise PlanParseError(
        f"expected a JSON list of tasks, found {type(data).__name__}",
        hint='Answer with a list: [{"task": ..., "id": 0, "dep": [-1], "args": {...}}], or [] when nothing applies',
    )


def _coerce_tasks(items: list, repairs: list[str]) -> list[dict[str, Any]]:
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise PlanParseError(
                f"item {position} of the task list is {type(item).__name__} {item!r:.60}, not a task object",
                hint='Each task is an object: {"task": ..., "id": ..., "dep": [...], "args": {...}}',
            )
    have_ids = [("id" in item) for item in items]
    if items and not any(have_ids):
        repairs.append("tasks had no ids; numbered them 0, 1, 2, … in list order")
    elif not all(have_ids):
        missing = [str(p) for p, ok in enumerate(have_ids) if not ok]
        raise PlanParseError(
            f"task(s) at position {', '.join(missing)} have no \"id\" while others do",
            hint='Give every task a unique integer "id"',
        )
    return [_coerce_task(item, position, any(have_ids), repairs) for position, item in enumerate(items)]


def _coerce_task(item: dict, position: int, has_ids: bool, repairs: list[str]) -> dict[str, Any]:
    task = dict(item)
    label = f"task at position {position}"
    if "task" not in task:
        for key in ("name", "tool", "task_name", "type"):
            if isinstance(task.get(key), str):
                task["task"] = task.pop(key)
                repairs.append(f'{label}: read the task name from "{key}"')
                break
        else:
            raise PlanParseError(f'{label} has no "task" name', hint='Name its task type: {"task": "image-to-text", …}')
    if not isinstance(task["task"], str) or not task["task"].strip():
        raise PlanParseError(f'{label} has task {task["task"]!r}, not a task name',
                             hint="Use a task type from the list")
    task["task"] = task["task"].strip()

    task["id"] = _as_int(task["id"], f"{label}: id", repairs) if has_ids else position
    label = f"task {task['id']}"

    if "args" not in task:
        for key in _ARGS_KEYS:
            if key in task:
                task["args"] = task.pop(key)
                repairs.append(f'{label}: read the arguments from "{key}"')
                break
        else:
            task["args"] = {}
    task["args"] = _coerce_args(task["args"], label, repairs)

    if "dep" not in task:
        for key in ("deps", "dependencies", "depends_on"):
            if key in task:
                task["dep"] = task.pop(key)
                repairs.append(f'{label}: read the dependencies from "{key}"')
                break
        else:
            task["dep"] = [NO_DEPENDENCY]
            repairs.append(f"{label}: no \"dep\"; dependencies come from its <GENERATED> references")
    task["dep"] = _coerce_dep(task["dep"], label, repairs)
    return task


def _as_int(value: Any, what: str, repairs: list[str]) -> int:
    if isinstance(value, bool):
        raise PlanParseError(f"{what} is {value!r}, not an integer", hint="Use integer task ids")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        repairs.append(f"{what} {value!r} read as {int(value)}")
        return int(value)
    if isinstance(value, str):
        ref_id = whole_reference(canonical_references(value))
        text = str(ref_id) if ref_id is not None else value.strip()
        if re.fullmatch(r"-?\d+", text):
            repairs.append(f"{what} {value!r} read as {int(text)}")
            return int(text)
    raise PlanParseError(f"{what} is {value!r}, not an integer", hint="Use integer task ids, -1 for none")


def _coerce_dep(value: Any, label: str, repairs: list[str]) -> list[int]:
    if value is None or value == [] or value == "":
        return [NO_DEPENDENCY]
    if not isinstance(value, list):
        if isinstance(value, str) and "," in value:
            parts = [p for p in value.split(",") if p.strip()]
            repairs.append(f'{label}: "dep" {value!r} split into a list')
            value = parts
        else:
            repairs.append(f'{label}: "dep" {value!r} wrapped in a list')
            value = [value]
    deps = [_as_int(v, f"{label}: dep", repairs) for v in value]
    real = [d for d in deps if d != NO_DEPENDENCY]
    return list(dict.fromkeys(real)) or [NO_DEPENDENCY]


def _coerce_args(value: Any, label: str, repairs: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        repairs.append(f'{label}: "args" was a bare string; read it as {{"text": …}}')
        value = {"text": value}
    elif isinstance(value, list):
        keys = numbered_arg_names([guess_modality(v) for v in value])
        repairs.append(f'{label}: "args" was a list; named its items {", ".join(keys)} by what they hold')
        value = dict(zip(keys, value))
    elif not isinstance(value, dict):
        raise PlanParseError(f'{label}: "args" is {value!r}, not an object', hint='Use {"text": …, "image": …}')
    changed = False
    out: dict[str, Any] = {}
    for key, item in value.items():
        new = map_strings(item, canonical_references)
        changed |= new != item
        out[str(key)] = new
    if changed:
        repairs.append(f"{label}: references rewritten to the <GENERATED>-k form")
    return out


def guess_modality(value: Any, referenced_output: str | None = None) -> str:
    """The modality an unnamed argument holds: a file's by its extension, a reference's by what the
    referenced task outputs (``referenced_output``), anything else text."""
    if isinstance(value, str) and whole_reference(canonical_references(value)) is not None:
        return referenced_output or "text"
    return file_modality(value) or "text"
