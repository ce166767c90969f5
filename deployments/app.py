"""The experts' Serve application: one deployment per chosen model, behind a small router.

``build_app(cards)`` returns the application for ``serve.run``; ``app_builder(args)`` is the same for a
Serve config file (``import_path: deployments.app:app_builder``), and :func:`write_serve_config` writes
that file, so ``serve deploy serve_config.yaml`` starts the same experts on a cluster. The orchestrator
calls each expert through its own handle (``serve.get_deployment_handle(name, app_name)``); the router
lists the experts and answers HTTP ``GET /experts`` for people.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments.catalog import DEFAULT_CATALOG, ModelCard, find_card, load_catalog
from deployments.expert import deployment_options, expert_deployment
from deployments.runtime import SERVE_ENV

APP_NAME = "experts"
ROUTE_PREFIX = "/experts"


@serve.deployment(name="ExpertRouter", num_replicas=1, ray_actor_options={"num_cpus": 0})
class ExpertRouter:
    """Knows every expert's handle; answers which models are up and forwards calls by model id."""

    def __init__(self, experts: dict[str, DeploymentHandle], cards: dict[str, dict]) -> None:
        self.experts = experts
        self.cards = cards

    async def models(self) -> list[dict[str, Any]]:
        return [{"id": model_id, "task": card["task"], "deployment": ModelCard(**card).deployment_name}
                for model_id, card in self.cards.items()]

    async def infos(self) -> list[dict[str, Any]]:
        return [await handle.info.remote() for handle in self.experts.values()]

    async def call(self, model_id: str, request) -> Any:
        if model_id not in self.experts:
            raise KeyError(f"no expert {model_id!r} in this application; up: {', '.join(self.experts)}")
        return await self.experts[model_id].remote(request)

    async def __call__(self, http_request) -> list[dict[str, Any]]:
        return await self.models()


def build_app(cards: list[ModelCard]) -> serve.Application:
    """One Serve application with a deployment per card (each with its own replicas, resources, batching)."""
    if not cards:
        raise ValueError("no models chosen; name at least one model id from `hugginggpt models`")
    names = [card.deployment_name for card in cards]
    if len(set(names)) != len(names):
        raise ValueError(f"two cards share a deployment name: {names}")
    experts = {card.id: expert_deployment(card).bind(card.model_dump()) for card in cards}
    return ExpertRouter.bind(experts, {card.id: card.model_dump() for card in cards})


def select_cards(model_ids: list[str] | None = None, catalog: str | Path = DEFAULT_CATALOG,
                 only_available: bool = True) -> list[ModelCard]:
    """Cards by id, or every card deployable here when no ids are given."""
    cards = load_catalog(catalog)
    if model_ids:
        return [find_card(cards, model_id) for model_id in model_ids]
    return [card for card in cards if not only_available or card.availability()[0]]


def app_builder(args: dict[str, Any]) -> serve.Application:
    """Serve's application-builder entry point: ``args`` are ``models`` (ids) and ``catalog`` (path)."""
    return build_app(select_cards(args.get("models"), args.get("catalog") or DEFAULT_CATALOG))


def experts_app_config(cards: list[ModelCard], catalog: str | Path = DEFAULT_CATALOG) -> dict[str, Any]:
    """The experts' entry under ``applications:`` in a Serve config file."""
    deployments = []
    for card in cards:
        options = deployment_options(card)
        entry = {k: v for k, v in options.items() if k != "health_check_period_s"}
        entry["health_check_period_s"] = options["health_check_period_s"]
        deployments.append(entry)
    return {
        "name": APP_NAME,
        "route_prefix": ROUTE_PREFIX,
        "import_path": "deployments.app:app_builder",
        "runtime_env": {"env_vars": dict(SERVE_ENV)},
        "args": {"models": [card.id for card in cards], "catalog": str(catalog)},
        "deployments": deployments,
    }


def write_serve_config(path: str | Path, cards: list[ModelCard], catalog: str | Path = DEFAULT_CATALOG,
                       host: str = "0.0.0.0", port: int = 8000, extra_apps: list[dict[str, Any]] = ()) -> Path:
    """A Serve config YAML that ``serve deploy`` accepts, starting exactly these experts (and ``extra_apps``)."""
    config = {
        "proxy_location": "EveryNode",
        "http_options": {"host": host, "port": port},
        "applications": [experts_app_config(cards, catalog), *extra_apps],
    }
    path = Path(path)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def expert_handle(card: ModelCard, app_name: str = APP_NAME) -> DeploymentHandle:
    """The handle of a running expert deployment."""
    return serve.get_deployment_handle(card.deployment_name, app_name=app_name)
