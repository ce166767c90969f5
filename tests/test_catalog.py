import json

import pytest
from click.testing import CliRunner

from dag.registry import REGISTRY
from deployments.catalog import CatalogError, ModelCard, Resources, Weights, find_card, load_catalog
from orchestrator.cli import cli


def test_shipped_catalog_is_valid_and_covers_hugginggpt_models():
    cards = load_catalog()
    ids = {c.id for c in cards}
    assert all(REGISTRY.get(c.task) is not None and REGISTRY[c.task].id == c.task for c in cards)
    for expected in ("openai/whisper-base", "facebook/detr-resnet-50", "dandelin/vilt-b32-finetuned-vqa",
                     "runwayml/stable-diffusion-v1-5", "lllyasviel/sd-controlnet-openpose", "facebook/mms-tts-eng"):
        assert expected in ids
    embedded = [c for c in cards if "embedded" in c.tags]
    assert {c.weights.source for c in embedded} <= {"package", "none"}
    assert all(c.resources.num_gpus == 0 for c in embedded)
    assert all(c.resources.num_gpus >= 1 for c in cards if c.backend == "diffusers")


def test_availability_says_what_is_missing():
    card = ModelCard(id="x/y", task="text-to-image", backend="diffusers",
                     weights=Weights(source="package", package="no_such_module_here", pip="no-such-package"))
    assert card.availability() == (False, "needs package: pip install no-such-package")
    gpu = card.model_copy(update={"resources": Resources(num_gpus=1)})
    assert gpu.availability(gpus=0) == (False, "needs 1 GPU")
    local = ModelCard(id="x/z", task="gpt2", backend="transformers", weights=Weights(source="local", path="/nope"))
    assert local.availability() == (False, "needs local weights at /nope")


def test_bad_catalog_lines_name_the_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "task": "summarization", "backend": "transformers", "weights": {"source": "hub"}}\n'
                    '{"id": "b", "task": "summarization"}\n')
    with pytest.raises(CatalogError, match="line 2"):
        load_catalog(path)
    with pytest.raises(KeyError, match="no model"):
        find_card([], "zzz")


def test_models_command_lists_status_and_filters_by_task():
    result = CliRunner().invoke(cli, ["models", "--task", "Text to Image", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows and all(r["task"] == "text-to-image" for r in rows)
    assert all(r["status"].startswith("needs") for r in rows if r["num_gpus"] > 0)
    unknown = CliRunner().invoke(cli, ["models", "--task", "teleportation"])
    assert unknown.exit_code == 2 and "unknown task" in unknown.stderr
    table = CliRunner().invoke(cli, ["models"])
    assert "opencv/canny-edge-detector" in table.stdout
