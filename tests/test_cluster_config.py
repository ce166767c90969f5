"""``cluster.yaml`` checked offline the way ``ray up`` checks it, plus the rules this project's cluster needs.

``ray up`` runs ``prepare_config`` (merge with the AWS defaults, setup commands, Docker and min/max checks)
and ``validate_config`` (Ray's ``ray-schema.json`` plus cross-field checks) before it talks to the cloud;
both run here without credentials. The cloud steps after them (instance-type lookup, IAM/subnet/key
bootstrap) need AWS; only the instance-type check is tried, and skipped without credentials.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "cluster.yaml"


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(CONFIG.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def prepared(raw) -> dict:
    """The config as ``ray up`` sees it after its offline steps (defaults merged, validated)."""
    config = prepare_config(copy.deepcopy(raw))
    validate_config(config)
    return config


def _workers(config: dict) -> dict[str, dict]:
    return {name: spec for name, spec in config["available_node_types"].items() if name != config["head_node_type"]}


def test_ray_accepts_the_config(prepared):
    assert prepared["cluster_name"] == "hugginggpt-ray"
    assert prepared["provider"]["type"] == "aws"


@pytest.mark.parametrize("breakage", ["misspelled key", "unknown node-type field", "min_workers above max"])
def test_ray_validation_rejects_a_broken_config(raw, breakage):
    """The validation above is not vacuous: the same functions reject small mistakes."""
    broken = copy.deepcopy(raw)
    worker = next(iter(_workers(broken).values()))
    if breakage == "misspelled key":
        broken["idle_timeout_minute"] = broken.pop("idle_timeout_minutes")
    elif breakage == "unknown node-type field":
        worker["num_gpus"] = 1
    else:
        worker["min_workers"] = broken["max_workers"] + 1
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        validate_config(prepare_config(broken))


def test_the_head_takes_no_work(prepared):
    head = prepared["available_node_types"][prepared["head_node_type"]]
    assert head["resources"]["CPU"] == 0  # no task or expert replica is placed on the head
    assert head["resources"].get("GPU", 0) == 0
    assert head["max_workers"] == 0 and head.get("min_workers", 0) == 0


def test_every_worker_type_has_a_gpu(prepared):
    workers = _workers(prepared)
    assert workers
    for name, spec in workers.items():
        resources = spec["resources"]
        assert resources.get("GPU", 0) >= 1, name
        assert resources.get("CPU", 0) >= 1, name  # replicas need CPUs too, and the head has none
        assert resources.get("memory", 0) > 0, name  # cards ask for memory; the autoscaler must see it
        assert 0 <= spec["min_workers"] <= spec["max_workers"], name
    assert any(spec["min_workers"] >= 1 for spec in workers.values())  # a GPU worker is up from the start
    assert sum(spec["max_workers"] for spec in workers.values()) == prepared["max_workers"]


def test_idle_gpu_workers_are_released(prepared):
    assert 0 < prepared["idle_timeout_minutes"] <= 60


def test_the_repository_reaches_every_node(prepared):
    assert prepared["file_mounts"]["~/hugginggpt-ray"] == "."
    assert (CONFIG.parent / "setup.cfg").exists()  # "." is this repository when ray up runs from its root


def test_gpu_workers_install_the_package_with_cuda_torch(prepared):
    commands = prepared["worker_setup_commands"]  # setup_commands + worker_setup_commands, as run
    installs = [c for c in commands if "pip install" in c and "-e" in c.split() and "hugginggpt-ray[" in c]
    assert installs and all("embedded" in c for c in installs)
    assert not any("constraints/cpu.txt" in c or "whl/cpu" in c for c in commands)  # CPU torch would ignore GPUs


def test_the_head_installs_the_package(prepared):
    commands = prepared["head_setup_commands"]
    assert any("pip install" in c and "-e" in c.split() and "hugginggpt-ray[embedded]" in c for c in commands)


def test_the_start_commands_start_ray(prepared):
    head, workers = prepared["head_start_ray_commands"], prepared["worker_start_ray_commands"]
    assert head[0] == "ray stop" and workers[0] == "ray stop"
    start = head[-1]
    for flag in ("ray start --head", "--port=6379", "--dashboard-host=0.0.0.0",
                 "--autoscaling-config=~/ray_bootstrap_config.yaml"):
        assert flag in start, flag
    assert "ray start --address=$RAY_HEAD_IP:6379" in workers[-1]


def test_token_auth_is_on_everywhere(prepared):
    """The job API listens on 0.0.0.0: every node must demand the token that file_mounts brings."""
    assert prepared["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    for start in (prepared["head_start_ray_commands"][-1], prepared["worker_start_ray_commands"][-1]):
        assert "RAY_AUTH_MODE=token ray start" in start


def test_the_images_run_this_ray_version(prepared):
    docker = prepared["docker"]
    for image in (docker["head_image"], docker["worker_image"]):
        assert image.startswith(f"rayproject/ray:{ray.__version__}-"), image
    assert docker["worker_image"].endswith("-gpu") and not docker["head_image"].endswith("-gpu")


def test_declared_worker_resources_match_the_instance_types(prepared, monkeypatch):
    """Needs AWS: what Ray detects for each instance type must cover what the config declares."""
    botocore = pytest.importorskip("botocore.exceptions")
    from ray.autoscaler._private.providers import _get_node_provider_cls

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    bare = copy.deepcopy(prepared)
    for spec in bare["available_node_types"].values():
        spec.pop("resources", None)
    provider = _get_node_provider_cls(bare["provider"])
    try:
        detected = provider.fillout_available_node_types_resources(bare)
    except (botocore.NoCredentialsError, botocore.EndpointConnectionError, botocore.ClientError) as err:
        pytest.skip(f"needs AWS credentials and network (ec2:DescribeInstanceTypes): {type(err).__name__}")
    for name, spec in _workers(prepared).items():
        found = detected["available_node_types"][name]["resources"]
        assert found["GPU"] == spec["resources"]["GPU"] and found["CPU"] == spec["resources"]["CPU"], name
        assert found["memory"] >= spec["resources"]["memory"], name
