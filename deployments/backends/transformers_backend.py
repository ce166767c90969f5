"""Expert models run through Hugging Face ``transformers``: one backend for every pipeline task.

A card names its weights as a local folder (``weights.source == "local"``) or a hub id (``"hub"``); both go
through the same ``pipeline(task, model=location)`` / ``from_pretrained(location)`` call. Requests are
batched: each request's inputs are checked first (a bad one becomes an :class:`ExpertError` alone), the
good ones go to the model in one call, and should that call fail they are retried one by one so that only
the request that breaks the model fails.

transformers 5 removed the ``summarization``, ``translation``, ``text2text-generation``,
``question-answering`` and ``visual-question-answering`` pipelines and renamed ``image-to-text``; those
tasks run here on the model classes directly (``AutoModelForSeq2SeqLM.generate``, an extractive span
search over ``AutoModelForQuestionAnswering`` logits, a ViLT-style answer classifier, and
``generate`` over an image-to-text model). A card may still force a pipeline with ``options.pipeline_task``.
"""

from __future__ import annotations

from typing import Any

from deployments.artifacts import Artifact, Audio, Image, Json, Text
from deployments.backends.base import (
    Backend,
    ExpertError,
    ExpertRequest,
    get_input,
    get_text,
    load_error,
    weights_location,
)

PIPELINE_TASKS: dict[str, str] = {
    "text-generation": "text-generation",
    "conversational": "text-generation",
    "token-classification": "token-classification",
    "text-classification": "text-classification",
    "image-classification": "image-classification",
    "object-detection": "object-detection",
    "image-segmentation": "image-segmentation",
    "depth-estimation": "depth-estimation",
    "document-question-answering": "document-question-answering",
    "automatic-speech-recognition": "automatic-speech-recognition",
    "audio-classification": "audio-classification",
    "text-to-speech": "text-to-audio",
}
"""Registry task → the transformers 5 pipeline that performs it."""

DIRECT_TASKS = {
    "summarization": "seq2seq",
    "translation": "seq2seq",
    "text2text-generation": "seq2seq",
    "question-answering": "extractive-qa",
    "visual-question-answering": "vqa",
    "image-to-text": "image-to-text",
}
"""Registry task → how this backend runs it without a pipeline (transformers 5 has none for these)."""

INPUT_KIND = {
    "text-generation": "text",
    "conversational": "text",
    "token-classification": "text",
    "text-classification": "text",
    "text-to-speech": "text",
    "image-classification": "image",
    "object-detection": "image",
    "image-segmentation": "image",
    "depth-estimation": "image",
    "automatic-speech-recognition": "audio",
    "audio-classification": "audio",
}
"""Tasks whose pipeline takes one text, image or audio per request, and so takes a list of them in one call."""

GENERATE_KEYS = ("max_new_tokens", "max_length", "min_new_tokens", "num_beams", "do_sample", "temperature", "top_k",
                 "top_p", "repetition_penalty", "no_repeat_ngram_size")
"""Request params passed on to ``generate``."""

PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (170, 110, 40)]


class TransformersBackend(Backend):
    """Any transformers model, by task; see :data:`PIPELINE_TASKS` and :data:`DIRECT_TASKS`."""

    tasks = (*PIPELINE_TASKS, *DIRECT_TASKS)
    batched = True

    def __init__(self, card) -> None:
        super().__init__(card)
        self.pipe = None
        self.model = None
        self.tokenizer = None
        self.processor = None
        self.device = "cpu"
        self.dtype = None

    # ------------------------------------------------------------ loading

    @property
    def mode(self) -> str:
        """``pipeline`` or one of the :data:`DIRECT_TASKS` ways."""
        if self.options.get("pipeline_task") or self.card.task in PIPELINE_TASKS:
            return "pipeline"
        if self.card.task in DIRECT_TASKS:
            return DIRECT_TASKS[self.card.task]
        raise RuntimeError(f"model {self.card.id}: the transformers backend does not perform task {self.card.task!r}")

    def load(self) -> None:
        import torch

        torch.set_num_threads(max(1, int(self.card.resources.threads)))
        if self.card.resources.num_gpus > 0 and torch.cuda.is_available():
            self.device = "cuda:0"
            self.dtype = torch.float16 if self.options.get("fp16", True) else None
        location = weights_location(self.card)
        try:
            self._load(location)
        except Exception as err:  # noqa: BLE001 - every loading failure gets the same clear message
            raise RuntimeError(load_error(self.card, location, err)) from err

    def _load(self, location: str) -> None:
        mode = self.mode
        if mode == "pipeline":
            from transformers import pipeline

            task = self.options.get("pipeline_task") or PIPELINE_TASKS[self.card.task]
            kwargs: dict[str, Any] = dict(self.options.get("pipeline_kwargs", {}))
            if task == "token-classification":
                kwargs.setdefault("aggregation_strategy", "simple")
            if self.device != "cpu":
                kwargs.setdefault("device", 0)
                if self.dtype is not None:
                    kwargs.setdefault("dtype", self.dtype)
            self.pipe = pipeline(task, model=location, **kwargs)
            self.pipeline_task = task
            return
        import transformers

        auto = {
            "seq2seq": "AutoModelForSeq2SeqLM",
            "extractive-qa": "AutoModelForQuestionAnswering",
            "vqa": "AutoModelForVisualQuestionAnswering",
            "image-to-text": "AutoModelForImageTextToText",
        }[mode]
        model_class = getattr(transformers, self.options.get("model_class", auto))
        kwargs = {"dtype": self.dtype} if self.dtype is not None else {}
        self.model = model_class.from_pretrained(location, **kwargs).to(self.device).eval()
        if mode in ("seq2seq", "extractive-qa"):
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(location)
        else:
            self.processor = transformers.AutoProcessor.from_pretrained(location)

    def health(self) -> None:
        if self.pipe is None and self.model is None:
            raise RuntimeError(f"model {self.card.id} is not loaded")

    # ------------------------------------------------------------ serving

    def predict(self, requests: list[ExpertRequest]) -> list[list[Artifact] | ExpertError]:
        results: list[list[Artifact] | ExpertError | None] = [None] * len(requests)
        prepared: list[tuple[int, Any]] = []
        for index, request in enumerate(requests):
            try:
                prepared.append((index, self._prepare(request)))
            except ExpertError as err:
                results[index] = err
        if len(prepared) > 1:
            try:
                outputs = self._run([item for _, item in prepared], [requests[i] for i, _ in prepared])
                for (index, _), output in zip(prepared, outputs):
                    results[index] = output
                prepared = []
            except Exception:  # noqa: BLE001 - retried one by one below, so only the breaking request fails
                pass
        for index, item in prepared:
            try:
                results[index] = self._run([item], [requests[index]])[0]
            except ExpertError as err:
                results[index] = err
            except Exception as err:  # noqa: BLE001
                results[index] = ExpertError(f"{requests[index].task}: model {self.card.id} failed on "
                                             f"this input: {type(err).__name__}: {err}")
        return results  # type: ignore[return-value]

    def predict_one(self, request: ExpertRequest) -> list[Artifact]:
        result = self.predict([request])[0]
        if isinstance(result, ExpertError):
            raise result
        return result

    # ------------------------------------------------------------ inputs

    def _prepare(self, request: ExpertRequest) -> Any:
        """The model input of one request, checked; an ExpertError when it cannot be served."""
        mode, task = self.mode, self.card.task
        if mode == "pipeline":
            kind = INPUT_KIND.get(task)
            if kind == "text":
                return get_text(request)
            if kind == "image":
                return _pil(request)
            if kind == "audio":
                return _audio(request, self._sampling_rate())
            if task == "document-question-answering":
                return {"image": _pil(request), "question": get_text(request)}
            raise ExpertError(f"{task}: no input mapping for pipeline {self.pipeline_task!r}")
        if mode == "seq2seq":
            return self._seq2seq_text(request)
        if mode == "extractive-qa":
            return _question_and_context(request)
        if mode in ("vqa", "image-to-text"):
            image = _pil(request)
            text = None
            if mode == "vqa" or any(isinstance(a, Text) for a in request.inputs.values()):
                text = get_text(request) if mode == "vqa" else _optional_text(request)
            return image, text
        raise ExpertError(f"{task}: not supported")

    def _seq2seq_text(self, request: ExpertRequest) -> str:
        named = {name: a.text for name, a in request.inputs.items() if isinstance(a, Text)}
        src = named.pop("src_lang", None) or request.params.get("src_lang")
        tgt = named.pop("tgt_lang", None) or request.params.get("tgt_lang")
        if not named:
            return get_text(request)  # raises the standard error
        text = named.get("text") or next(iter(named.values()))
        if not text.strip():
            raise ExpertError(f"{request.task} got empty text")
        prefix = self.options.get("prefix", "")
        if not prefix and self.card.task == "translation" and tgt and self._model_type() == "t5":
            prefix = f"translate {src or 'English'} to {tgt}: "
        if not prefix and self.card.task == "summarization" and self._model_type() == "t5":
            prefix = "summarize: "
        return prefix + text

    def _model_type(self) -> str:
        model = self.model if self.model is not None else getattr(self.pipe, "model", None)
        return getattr(getattr(model, "config", None), "model_type", "") or ""

    def _sampling_rate(self) -> int:
        extractor = getattr(self.pipe, "feature_extractor", None)
        return int(getattr(extractor, "sampling_rate", 16000) or 16000)

    def _generate_kwargs(self, requests: list[ExpertRequest]) -> dict[str, Any]:
        kwargs = dict(self.options.get("generate_kwargs", {}))
        for request in requests[:1]:  # a batch shares one generate call; the first request's params rule
            kwargs.update({k: v for k, v in request.params.items() if k in GENERATE_KEYS})
        return kwargs

    # ------------------------------------------------------------ running

    def _run(self, items: list[Any], requests: list[ExpertRequest]) -> list[list[Artifact]]:
        mode = self.mode
        if mode == "pipeline":
            return self._run_pipeline(items, requests)
        if mode == "seq2seq":
            return [[Text(t)] for t in self._generate_text(items, requests)]
        if mode == "extractive-qa":
            return self._run_qa(items)
        if mode == "vqa":
            return self._run_vqa(items)
        return self._run_image_to_text(items, requests)

    def _run_pipeline(self, items: list[Any], requests: list[ExpertRequest]) -> list[list[Artifact]]:
        task = self.card.task
        kwargs: dict[str, Any] = {}
        generate = self._generate_kwargs(requests)
        if self.pipeline_task == "text-generation":
            kwargs.update(generate)  # transformers 5: generation arguments go straight to the call
            if "return_full_text" in self.options:
                kwargs["return_full_text"] = bool(self.options["return_full_text"])
        elif self.pipeline_task in ("automatic-speech-recognition", "text-to-audio") and generate:
            kwargs["generate_kwargs"] = generate
        if self.pipeline_task in ("image-classification", "audio-classification", "text-classification"):
            kwargs["top_k"] = int(self.options.get("top_k", 5))
        if task in INPUT_KIND and len(items) > 1:
            raw = self.pipe(items, batch_size=len(items), **kwargs)
        elif task in INPUT_KIND:
            raw = [self.pipe(items[0], **kwargs)]
        else:
            raw = [self.pipe(**item, **kwargs) for item in items]
        return [self._convert(output, item) for output, item in zip(raw, items)]

    def _convert(self, output: Any, item: Any) -> list[Artifact]:
        task = self.card.task
        if task in ("text-generation", "conversational"):
            first = output[0] if isinstance(output, list) else output
            return [Text(str(first["generated_text"]))]
        if task == "automatic-speech-recognition":
            return [Text(str(output["text"]).strip())]
        if task == "text-to-speech":
            import numpy as np

            samples = np.asarray(output["audio"], dtype=np.float32).reshape(-1)
            return [Audio(samples, int(output["sampling_rate"]))]
        if task == "document-question-answering":
            answers = _plain(output if isinstance(output, list) else [output])
            best = answers[0]["answer"] if answers else ""
            return [Text(best), Json(answers)]
        if task in ("image-classification", "audio-classification", "text-classification"):
            labels = _plain(output if isinstance(output, list) else [output])
            summary = ", ".join(f"{x['label']} ({x['score']:.2f})" for x in labels[:3])
            return [Json(labels), Text(summary)]
        if task == "token-classification":
            entities = _plain(output)
            summary = "; ".join(f"{e.get('word')}: {e.get('entity_group', e.get('entity'))}" for e in entities)
            return [Json(entities), Text(summary or "no entities found")]
        if task == "object-detection":
            boxes = _plain(output)
            summary = ", ".join(f"{b['label']} ({b['score']:.2f})" for b in boxes) or "no objects found"
            return [Json(boxes), Image.from_pil(_draw_boxes(item, boxes)), Text(summary)]
        if task == "image-segmentation":
            segments = list(output)
            mask = _colour_mask(item, segments)
            info = [{"label": s.get("label"), "score": None if s.get("score") is None else float(s["score"])}
                    for s in segments]
            return [Image.from_pil(mask), Json(info)]
        if task == "depth-estimation":
            return [Image.from_pil(output["depth"].convert("L"))]
        raise ExpertError(f"{task}: no output mapping")

    def _generate_text(self, texts: list[str], requests: list[ExpertRequest]) -> list[str]:
        import torch

        batch = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        kwargs = self._generate_kwargs(requests)
        if "max_new_tokens" not in kwargs and "max_length" not in kwargs:
            kwargs["max_new_tokens"] = int(self.options.get("max_new_tokens", 64))
        with torch.inference_mode():
            generated = self.model.generate(**batch, **kwargs)
        return [t.strip() for t in self.tokenizer.batch_decode(generated, skip_special_tokens=True)]

    def _run_qa(self, items: list[tuple[str, str]]) -> list[list[Artifact]]:
        """Extractive QA: the best-scoring span of the context, start ≤ end, at most ``max_answer_len`` tokens."""
        import torch

        questions, contexts = [q for q, _ in items], [c for _, c in items]
        batch = self.tokenizer(questions, contexts, return_tensors="pt", padding=True,
                               truncation="only_second", max_length=int(self.options.get("max_length", 384)),
                               return_offsets_mapping=True)
        offsets = batch.pop("offset_mapping")
        sequence_ids = [batch.sequence_ids(i) for i in range(len(items))]
        with torch.inference_mode():
            out = self.model(**{k: v.to(self.device) for k, v in batch.items()})
        max_len = int(self.options.get("max_answer_len", 15))
        results: list[list[Artifact]] = []
        for i, context in enumerate(contexts):
            in_context = torch.tensor([s == 1 for s in sequence_ids[i]])
            if not in_context.any():
                raise ExpertError("question-answering: the context was cut off entirely; shorten the question")
            start = out.start_logits[i].float().cpu().masked_fill(~in_context, -1e9)
            end = out.end_logits[i].float().cpu().masked_fill(~in_context, -1e9)
            scores = start[:, None] + end[None, :]
            n = scores.shape[0]
            allowed = torch.triu(torch.ones(n, n, dtype=torch.bool)) & ~torch.triu(
                torch.ones(n, n, dtype=torch.bool), diagonal=max_len)
            scores = scores.masked_fill(~allowed, -1e9)
            flat = int(torch.argmax(scores))
            s_tok, e_tok = divmod(flat, n)
            char_start, char_end = int(offsets[i][s_tok][0]), int(offsets[i][e_tok][1])
            answer = context[char_start:char_end]
            probs = torch.softmax(scores.flatten(), dim=0)
            info = {"answer": answer, "score": float(probs[flat]), "start": char_start, "end": char_end}
            results.append([Text(answer), Json(info)])
        return results

    def _run_vqa(self, items: list[tuple[Any, str]]) -> list[list[Artifact]]:
        import torch

        images, questions = [i for i, _ in items], [q for _, q in items]
        batch = self.processor(images=images, text=questions, return_tensors="pt", padding=True)
        with torch.inference_mode():
            logits = self.model(**{k: v.to(self.device) for k, v in batch.items()}).logits
        probs = torch.sigmoid(logits.float()).cpu() if logits.shape[-1] > 1 else logits.float().cpu()
        labels = self.model.config.id2label
        results = []
        for row in probs:
            top = torch.topk(row, k=min(5, row.shape[-1]))
            answers = [{"answer": labels[int(i)], "score": float(s)} for s, i in zip(top.values, top.indices)]
            results.append([Text(answers[0]["answer"]), Json(answers)])
        return results

    def _run_image_to_text(self, items: list[tuple[Any, str | None]], requests) -> list[list[Artifact]]:
        import torch

        images, prompts = [i for i, _ in items], [p for _, p in items]
        kwargs: dict[str, Any] = {"images": images, "return_tensors": "pt"}
        if any(prompts):
            kwargs.update(text=[p or "" for p in prompts], padding=True)
        batch = self.processor(**kwargs)
        generate = self._generate_kwargs(requests)
        generate.setdefault("max_new_tokens", int(self.options.get("max_new_tokens", 32)))
        inputs = {k: v.to(self.device) for k, v in batch.items()}
        if self.dtype is not None and "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            generated = self.model.generate(**inputs, **generate)
        decoder = getattr(self.processor, "tokenizer", self.processor)
        texts = decoder.batch_decode(generated, skip_special_tokens=True)
        return [[Text(t.strip())] for t in texts]


# ---------------------------------------------------------------- helpers


def _pil(request: ExpertRequest):
    artifact = get_input(request, "image")
    try:
        return artifact.to_pil().convert("RGB")
    except Exception as err:  # noqa: BLE001 - corrupt bytes are the request's fault
        raise ExpertError(f"{request.task}: the image cannot be read: {err}") from None


def _audio(request: ExpertRequest, rate: int) -> dict:
    artifact = get_input(request, "audio").resampled(rate)
    if artifact.samples.size == 0:
        raise ExpertError(f"{request.task} got empty audio")
    return {"raw": artifact.samples, "sampling_rate": artifact.sample_rate}


def _optional_text(request: ExpertRequest) -> str | None:
    texts = [a.text for a in request.inputs.values() if isinstance(a, Text) and a.text.strip()]
    return texts[0] if texts else None


def _question_and_context(request: ExpertRequest) -> tuple[str, str]:
    """The question (``question`` or the first text) and the context (``context`` or the second text)."""
    named = {name: a for name, a in request.inputs.items() if isinstance(a, Text | Json)}
    question = named.pop("question", None)
    context = named.pop("context", None)
    rest = [named[k] for k in sorted(named)]  # text, text2, …
    if question is None and rest:
        question = rest.pop(0)
    if context is None and rest:
        context = rest.pop(0)
    if context is None and request.params.get("context"):
        context = Text(str(request.params["context"]))
    if question is None or context is None:
        raise ExpertError(f"{request.task} needs a question and a context text; got "
                          f"{', '.join(request.inputs) or 'nothing'}")
    q, c = (a.text if isinstance(a, Text) else a.describe() for a in (question, context))
    if not q.strip() or not c.strip():
        raise ExpertError(f"{request.task} got an empty question or context")
    return q, c


def _plain(value: Any) -> Any:
    """Pipeline output made JSON-friendly: numpy scalars → Python numbers, PIL images dropped."""
    import numpy as np

    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not hasattr(v, "getpixel")}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _draw_boxes(picture, boxes: list[dict]):
    from PIL import ImageDraw

    canvas = picture.convert("RGB").copy()
    draw = ImageDraw.Draw(canvas)
    for n, found in enumerate(boxes):
        box = found.get("box", {})
        colour = PALETTE[n % len(PALETTE)]
        xy = [box.get("xmin", 0), box.get("ymin", 0), box.get("xmax", 0), box.get("ymax", 0)]
        draw.rectangle(xy, outline=colour, width=max(1, canvas.width // 200))
        draw.text((xy[0] + 2, xy[1] + 2), f"{found.get('label')} {found.get('score', 0):.2f}", fill=colour)
    return canvas


def _colour_mask(picture, segments: list[dict]):
    """Each segment's mask painted in its own colour over a black canvas the size of the input image."""
    import numpy as np
    from PIL import Image as PILImage

    canvas = np.zeros((picture.height, picture.width, 3), dtype=np.uint8)
    for n, segment in enumerate(segments):
        mask = segment.get("mask")
        if mask is None:
            continue
        if mask.size != picture.size:
            mask = mask.resize(picture.size)
        canvas[np.asarray(mask.convert("L")) > 127] = PALETTE[n % len(PALETTE)]
    return PILImage.fromarray(canvas)
