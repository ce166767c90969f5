"""Expert models run through ``diffusers``: Stable Diffusion text-to-image, image-to-image and ControlNet.

One card loads one base Stable Diffusion model (a local folder or a hub id). ``text-to-image`` runs
``StableDiffusionPipeline``; ``image-to-image`` and ``image-editing`` run ``StableDiffusionImg2ImgPipeline``
built from the same components (no second copy of the weights); the ControlNet ``*-text-to-image`` tasks
run ``StableDiffusionControlNetPipeline`` with ``options.controlnet`` (a folder or hub id) beside the base.

Options (card, overridden per request by params): ``num_inference_steps``, ``height``, ``width``,
``guidance_scale``, ``seed``, ``strength`` (image-to-image), ``negative_prompt``,
``controlnet_conditioning_scale``. On a GPU replica (``resources.num_gpus > 0``) weights are float16 on CUDA;
on CPU float32. The safety checker is off: local tiny models have none, and hub cards may opt back in with
``options.safety_checker = true``.
"""

from __future__ import annotations

from typing import Any

from deployments.artifacts import Artifact, Image
from deployments.backends.base import (
    Backend,
    ExpertError,
    ExpertRequest,
    get_input,
    get_text,
    load_error,
    weights_location,
)

CONTROLNET_TASKS = tuple(
    f"{name}-text-to-image" for name in ("canny", "depth", "hed", "mlsd", "normal", "openpose", "seg")
)
IMG2IMG_TASKS = ("image-to-image", "image-editing")
RUN_KEYS = ("num_inference_steps", "height", "width", "guidance_scale", "seed", "strength", "negative_prompt",
            "controlnet_conditioning_scale")


class DiffusersBackend(Backend):
    tasks = ("text-to-image", *IMG2IMG_TASKS, *CONTROLNET_TASKS)
    batched = False

    def __init__(self, card) -> None:
        super().__init__(card)
        self.pipe = None
        self.img2img = None
        self.controlnet_pipe = None
        self.device = "cpu"
        self.dtype = None

    def load(self) -> None:
        import torch

        torch.set_num_threads(max(1, int(self.card.resources.threads)))
        gpu = self.card.resources.num_gpus > 0 and torch.cuda.is_available()
        self.device = "cuda" if gpu else "cpu"
        self.dtype = torch.float16 if gpu else torch.float32
        base = weights_location(self.card)
        controlnet_path = self.options.get("controlnet")
        if self.card.task in CONTROLNET_TASKS and not controlnet_path:
            raise RuntimeError(f"model {self.card.id}: task {self.card.task} needs options.controlnet "
                               "(a ControlNet folder or hub id)")
        try:
            self._load(base, controlnet_path)
        except Exception as err:  # noqa: BLE001 - one clear message for every loading failure
            raise RuntimeError(load_error(self.card, base, err)) from err

    def _load(self, base: str, controlnet_path: str | None) -> None:
        from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

        kwargs: dict[str, Any] = {"dtype": self.dtype}
        if not self.options.get("safety_checker", False):
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        if self.dtype is not None and str(self.dtype) == "torch.float16" and self.options.get("fp16_variant"):
            kwargs["variant"] = "fp16"
        self.pipe = StableDiffusionPipeline.from_pretrained(base, **kwargs).to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        if self.card.task in IMG2IMG_TASKS:
            self.img2img = StableDiffusionImg2ImgPipeline(**self.pipe.components, requires_safety_checker=False)
            self.img2img.set_progress_bar_config(disable=True)
        if controlnet_path:
            from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

            if self.card.weights.source == "local":
                controlnet_path = weights_location(self.card, controlnet_path, "ControlNet weights")
            controlnet = ControlNetModel.from_pretrained(controlnet_path, dtype=self.dtype).to(self.device)
            self.controlnet_pipe = StableDiffusionControlNetPipeline(
                **self.pipe.components, controlnet=controlnet, requires_safety_checker=False
            )
            self.controlnet_pipe.set_progress_bar_config(disable=True)

    def health(self) -> None:
        if self.pipe is None:
            raise RuntimeError(f"model {self.card.id} is not loaded")

    def _settings(self, request: ExpertRequest) -> dict[str, Any]:
        merged = {**{k: v for k, v in self.options.items() if k in RUN_KEYS},
                  **{k: v for k, v in request.params.items() if k in RUN_KEYS}}
        settings: dict[str, Any] = {}
        for key in ("num_inference_steps", "height", "width"):
            if key in merged:
                settings[key] = int(merged[key])
        for key in ("height", "width"):
            if key in settings and (settings[key] <= 0 or settings[key] % 8):
                raise ExpertError(f"{request.task}: {key} must be a positive multiple of 8, not {settings[key]}")
        for key in ("guidance_scale", "strength", "controlnet_conditioning_scale"):
            if key in merged:
                settings[key] = float(merged[key])
        if merged.get("negative_prompt"):
            settings["negative_prompt"] = str(merged["negative_prompt"])
        if merged.get("seed") is not None:
            import torch

            settings["generator"] = torch.Generator(device="cpu").manual_seed(int(merged["seed"]))
        return settings

    def predict_one(self, request: ExpertRequest) -> list[Artifact]:
        import torch

        task = self.card.task if request.task not in self.tasks else request.task
        settings = self._settings(request)
        with torch.inference_mode():
            if task in IMG2IMG_TASKS:
                picture = _pil(request)
                prompt = _prompt(request, default=self.options.get("default_prompt", ""))
                original = picture.size
                settings.pop("width", None)
                settings.pop("height", None)
                width = int(request.params.get("width", picture.width)) // 8 * 8
                height = int(request.params.get("height", picture.height)) // 8 * 8
                if width <= 0 or height <= 0:
                    raise ExpertError(f"{request.task}: the image is too small ({picture.width}×{picture.height})")
                picture = picture.resize((width, height))
                pipe = self.img2img or _img2img(self.pipe)
                settings.setdefault("strength", 0.75)
                settings.pop("controlnet_conditioning_scale", None)
                out = pipe(prompt=prompt, image=picture, **settings).images[0]
                wanted = (width, height) if {"width", "height"} & set(request.params) else original
                if out.size != wanted:
                    out = out.resize(wanted)
            elif task in CONTROLNET_TASKS:
                if self.controlnet_pipe is None:
                    raise ExpertError(f"model {self.card.id} has no ControlNet loaded for {request.task}")
                prompt = get_text(request)
                condition = _pil(request)
                settings.setdefault("width", condition.width // 8 * 8 or 8)
                settings.setdefault("height", condition.height // 8 * 8 or 8)
                condition = condition.resize((settings["width"], settings["height"]))
                settings.pop("strength", None)
                out = self.controlnet_pipe(prompt=prompt, image=condition, **settings).images[0]
            else:
                prompt = get_text(request)
                settings.pop("strength", None)
                settings.pop("controlnet_conditioning_scale", None)
                out = self.pipe(prompt=prompt, **settings).images[0]
        return [Image.from_pil(out)]


def _img2img(pipe):
    from diffusers import StableDiffusionImg2ImgPipeline

    img2img = StableDiffusionImg2ImgPipeline(**pipe.components, requires_safety_checker=False)
    img2img.set_progress_bar_config(disable=True)
    return img2img


def _pil(request: ExpertRequest):
    artifact = get_input(request, "image")
    try:
        return artifact.to_pil().convert("RGB")
    except Exception as err:  # noqa: BLE001
        raise ExpertError(f"{request.task}: the image cannot be read: {err}") from None


def _prompt(request: ExpertRequest, default: str = "") -> str:
    try:
        return get_text(request)
    except ExpertError:
        if default:
            return default
        if request.task == "image-editing":
            raise
        return ""
