"""The task registry: every task type a plan may name, with its input and output modalities.

It holds HuggingGPT's 35 task types (23 Hugging Face tasks, 5 ``*-control`` preprocessors, 7 ControlNet
``*-text-to-image`` tasks) and ``image-editing`` for TaskBench's "Image Editing"; each of TaskBench's 23 tool
names maps onto one of them. Lookups forgive case, ``_``/space/hyphen differences and TaskBench names, so
``"Image Classification"``, ``"image_classification"`` and ``"image-classification"`` are one task.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field

MODALITIES = ("text", "image", "audio", "video", "structured")
"""Kinds of value an argument takes or a task produces. ``structured`` is JSON (labels, boxes, scores)."""

ARG_NAME_PATTERN = re.compile(r"^(text|image|audio|video|structured)(\d*)$")
"""Argument names follow HuggingGPT: the modality, with a number when a task takes two of a kind (``text2``)."""

ARG_ALIASES = {
    "context": "text",
    "question": "text",
    "prompt": "text",
    "src_lang": "text",
    "tgt_lang": "text",
    "source_sentence": "text",
    "sentence": "text",
    "document": "image",
    "img": "image",
    "speech": "audio",
}
"""Other argument names seen in LLM plans, and the modality each one carries."""


def can_feed(produced: str, wanted: str) -> bool:
    """Whether a value of modality ``produced`` may fill an argument of modality ``wanted``.

    Structured results (labels, scores) render as text, so they may feed a text argument.
    """
    return produced == wanted or (produced == "structured" and wanted == "text")


@dataclass(frozen=True)
class TaskType:
    """One task type: what it takes, what it gives, and how TaskBench calls it."""

    id: str
    inputs: tuple[str, ...]
    """Modalities of the required arguments, in order; a repeated modality means two arguments of that kind."""
    outputs: tuple[str, ...]
    """Modalities the task produces; the first is its main result."""
    description: str
    family: str = "huggingface"
    """``huggingface``, ``control`` (a ControlNet preprocessor) or ``controlnet`` (ControlNet text-to-image)."""
    optional: tuple[str, ...] = ()
    """Modalities of optional extra arguments (a QA context, translation languages)."""
    taskbench: str | None = None
    """The TaskBench tool name for this task, when TaskBench has one."""
    aliases: tuple[str, ...] = field(default=())

    @property
    def arg_names(self) -> tuple[str, ...]:
        """Canonical argument names of the required inputs: ``("image", "text")``, ``("text", "text2")``."""
        return tuple(numbered_arg_names(self.inputs))

    def required_counts(self) -> Counter[str]:
        return Counter(self.inputs)


def numbered_arg_names(modalities: list[str] | tuple[str, ...]) -> list[str]:
    """Names for arguments of the given modalities: the second text argument is ``text2``, and so on."""
    seen: Counter[str] = Counter()
    names = []
    for modality in modalities:
        seen[modality] += 1
        names.append(modality if seen[modality] == 1 else f"{modality}{seen[modality]}")
    return names


def arg_modality(name: str) -> str | None:
    """The modality an argument name carries (``image2`` → image, ``context`` → text), or None if unknown."""
    key = name.strip().lower()
    match = ARG_NAME_PATTERN.match(key)
    if match:
        return match.group(1)
    return ARG_ALIASES.get(key)


def _t(id: str, inputs, outputs, description, **kw) -> TaskType:
    return TaskType(id=id, inputs=tuple(inputs), outputs=tuple(outputs), description=description, **kw)


_CONTROLS = {
    "canny": "Canny edge map",
    "hed": "HED soft-edge map",
    "mlsd": "M-LSD straight-line map",
    "normal": "surface normal map",
    "openpose": "OpenPose skeleton of the people's body pose",
}
_CONTROLNET_T2I = {
    "canny": "edges",
    "depth": "depth map",
    "hed": "soft edges",
    "mlsd": "straight lines",
    "normal": "normal map",
    "openpose": "human pose skeleton",
    "seg": "semantic segmentation map",
}

TASK_TYPES: tuple[TaskType, ...] = (
    # --- the 23 Hugging Face tasks of HuggingGPT ---
    _t("token-classification", ["text"], ["structured", "text"],
       "Label words in a text: named entities (people, places, organisations, dates) or parts of speech.",
       taskbench="Token Classification", aliases=("named-entity-recognition", "ner")),
    _t("text2text-generation", ["text"], ["text"],
       "Rewrite or answer a text with a sequence-to-sequence model: paraphrase, correct grammar, follow an "
       "instruction on text.", aliases=("text-to-text-generation",)),
    _t("summarization", ["text"], ["text"],
       "Write a shorter version of a long text that keeps its main points.",
       taskbench="Summarization", aliases=("text-summarization",)),
    _t("translation", ["text"], ["text"],
       "Translate a text from one language into another.", optional=("text", "text"),
       taskbench="Translation"),
    _t("question-answering", ["text"], ["text"],
       "Answer a question about a given text passage (extractive question answering).",
       optional=("text",), taskbench="Question Answering"),
    _t("conversational", ["text"], ["text"],
       "Reply to a message in a conversation, as a chat assistant would.",
       taskbench="Conversational", aliases=("chat", "chitchat")),
    _t("text-generation", ["text"], ["text"],
       "Continue or write new text from a prompt: stories, descriptions, completions.",
       taskbench="Text Generation"),
    _t("sentence-similarity", ["text", "text"], ["structured"],
       "Score how similar in meaning two sentences are.", taskbench="Sentence Similarity"),
    _t("tabular-classification", ["image"], ["text"],
       "Classify the rows of a table given as an image.", taskbench="Tabular Classification"),
    _t("object-detection", ["image"], ["structured", "image", "text"],
       "Find objects in an image with their labels and bounding boxes, and draw the boxes.",
       taskbench="Object Detection"),
    _t("image-classification", ["image"], ["structured", "text"],
       "Say what an image shows by assigning it a class label.", taskbench="Image Classification"),
    _t("image-to-image", ["image"], ["image"],
       "Transform an image into another image: restyle, enhance, colourise or vary it.",
       optional=("text",), taskbench="Image-to-Image"),
    _t("image-to-text", ["image"], ["text"],
       "Describe an image in words (captioning) or read the text printed in it (OCR).",
       taskbench="Image-to-Text", aliases=("image-captioning", "ocr", "optical-character-recognition")),
    _t("text-to-image", ["text"], ["image"],
       "Generate a picture from a text description.", taskbench="Text-to-Image"),
    _t("text-to-video", ["text"], ["video"],
       "Generate a short video from a text description.", taskbench="Text-to-Video"),
    _t("visual-question-answering", ["image", "text"], ["text"],
       "Answer a question about the content of an image.", taskbench="Visual Question Answering",
       aliases=("vqa",)),
    _t("document-question-answering", ["image", "text"], ["text"],
       "Answer a question about a document image such as a scanned page, form or invoice.",
       taskbench="Document Question Answering"),
    _t("image-segmentation", ["image"], ["image", "structured"],
       "Split an image into regions, labelling every pixel with the object or area it belongs to.",
       taskbench="Image Segmentation"),
    _t("depth-estimation", ["image"], ["image"],
       "Estimate how far each pixel of an image is from the camera, as a depth map.",
       taskbench="Depth Estimation"),
    _t("text-to-speech", ["text"], ["audio"],
       "Speak a text aloud: synthesise speech audio from text.", taskbench="Text-to-Speech",
       aliases=("tts", "speech-synthesis")),
    _t("automatic-speech-recognition", ["audio"], ["text"],
       "Transcribe the speech in an audio recording into text.",
       taskbench="Automatic Speech Recognition", aliases=("asr", "speech-recognition", "speech-to-text")),
    _t("audio-to-audio", ["audio"], ["audio"],
       "Transform audio into other audio: remove noise, enhance speech, separate sources, convert voices.",
       taskbench="Audio-to-Audio", aliases=("audio-enhancement", "speech-enhancement")),
    _t("audio-classification", ["audio"], ["structured", "text"],
       "Assign a label to an audio clip: the sound event, the speaker's emotion, the spoken command.",
       taskbench="Audio Classification"),
    # --- TaskBench's one tool that HuggingGPT lacks ---
    _t("image-editing", ["image", "text"], ["image"],
       "Edit an image as a text instruction says: change colours, add or remove objects.",
       taskbench="Image Editing"),
    # --- ControlNet preprocessors ---
    *(
        _t(f"{name}-control", ["image"], ["image"], f"Extract the {what} from an image, as a ControlNet condition.",
           family="control")
        for name, what in _CONTROLS.items()
    ),
    # --- ControlNet text-to-image ---
    *(
        _t(f"{name}-text-to-image", ["image", "text"], ["image"],
           f"Generate a picture from a text description that follows the {what} of a condition image.",
           family="controlnet")
        for name, what in _CONTROLNET_T2I.items()
    ),
)

HUGGINGGPT_TASKS: tuple[str, ...] = tuple(t.id for t in TASK_TYPES if t.id != "image-editing")
"""HuggingGPT's 35 task names, in its prompt's order."""


def _key(name: str) -> str:
    """Lookup key that ignores case and separators: ``Image-to-Text`` and ``image_to_text`` agree."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


class TaskRegistry:
    """Finds task types by any of their names and suggests the nearest ones for a misspelt name."""

    def __init__(self, task_types: tuple[TaskType, ...] = TASK_TYPES) -> None:
        self.by_id: dict[str, TaskType] = {t.id: t for t in task_types}
        self._by_key: dict[str, TaskType] = {}
        for t in task_types:
            for name in (t.id, t.taskbench, *t.aliases):
                if name:
                    self._by_key[_key(name)] = t

    def __iter__(self):
        return iter(self.by_id.values())

    def __len__(self) -> int:
        return len(self.by_id)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get(self, name: str) -> TaskType | None:
        """The task type for ``name`` (an id, a TaskBench name or an alias), or None."""
        return self._by_key.get(_key(name)) if isinstance(name, str) else None

    def __getitem__(self, name: str) -> TaskType:
        task_type = self.get(name)
        if task_type is None:
            raise KeyError(f"unknown task {name!r}; nearest: {', '.join(self.suggest(name)) or 'none'}")
        return task_type

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Nearest task ids to a name that is not in the registry, best first."""
        keys = {_key(t.id): t.id for t in self}
        keys.update({_key(t.taskbench): t.id for t in self if t.taskbench})
        found = difflib.get_close_matches(_key(str(name)), list(keys), n=n * 2, cutoff=0.5)
        out: list[str] = []
        for k in found:
            if keys[k] not in out:
                out.append(keys[k])
        return out[:n]

    def taskbench_tools(self) -> dict[str, str]:
        """TaskBench tool name → task id, for the 23 tools."""
        return {t.taskbench: t.id for t in self if t.taskbench}


REGISTRY = TaskRegistry()
