"""``hugginggpt serve``: the experts and the HTTP service on a local or connected Ray cluster."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the HTTP proxy binds.")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--address", default=None, envvar="RAY_ADDRESS", help="Ray cluster (default: a local one).")
@click.option("--model", "models", multiple=True, help="An expert to start (repeatable; default: all deployable).")
@click.option("--planner", type=click.Choice(["embedded", "llm"]), default="embedded", show_default=True)
@click.option("--llm-base-url", default=None, help="OpenAI-compatible base URL (default: $HUGGINGGPT_LLM_BASE_URL).")
@click.option("--llm-model", default=None, help="The LLM's model name (default: $HUGGINGGPT_LLM_MODEL).")
@click.option("--token", default=None, envvar="HUGGINGGPT_API_TOKEN",
              help="Require 'Authorization: Bearer TOKEN' on every API route (default: $HUGGINGGPT_API_TOKEN).")
@click.option("--allow-url-host", "url_hosts", multiple=True,
              help="A host (name or name:port) whose http(s) URLs may be fetched as input files (repeatable).")
@click.option("--runs", "runs_dir", default="runs", show_default=True, help="Folder for uploads and artifacts.")
@click.option("--max-concurrent-runs", type=int, default=16, show_default=True,
              help="Runs in flight before the service answers 503 with Retry-After.")
@click.option("--max-body-mb", type=float, default=50, show_default=True, help="Largest request body or file.")
@click.option("--write-config", type=click.Path(dir_okay=False), default=None,
              help="Only write a Serve config (experts + service) for `serve deploy FILE`, and exit.")
def serve_command(host: str, port: int, address: str | None, models: tuple[str, ...], planner: str,
                  llm_base_url: str | None, llm_model: str | None, token: str | None, url_hosts: tuple[str, ...],
                  runs_dir: str, max_concurrent_runs: int, max_body_mb: float, write_config: str | None) -> None:
    """Serve HuggingGPT over HTTP: the web page at /, HuggingGPT's API (/hugginggpt, /tasks, /results) and
    OpenAI's (/v1/chat/completions, /v1/models), with the experts as their own Serve deployments."""
    from deployments.app import select_cards
    from orchestrator.cli import _fail
    from orchestrator.ingress import ServiceConfig

    try:
        cards = select_cards(list(models) or None)
    except (KeyError, ValueError, OSError) as err:
        _fail(str(err).strip("'\""))
    blocked = [f"{c.id} ({c.availability()[1]})" for c in cards if not c.availability()[0]]
    if blocked:
        _fail("cannot start " + "; ".join(blocked))
    if not cards:
        _fail("no model in the catalog is deployable here; `hugginggpt models` says what each needs")
    service = ServiceConfig(runs_dir=str(Path(runs_dir).resolve()), experts=[c.id for c in cards], planner=planner,
                            llm_base_url=llm_base_url, llm_model=llm_model, token=token,
                            allowed_url_hosts=list(url_hosts), max_body_bytes=int(max_body_mb * 1024 * 1024),
                            max_concurrent_runs=max_concurrent_runs)
    if write_config:
        _write_config(write_config, cards, service, host, port)
        click.echo(f"wrote {write_config}: `serve deploy {write_config}` starts the experts and the service")
        return
    _serve(cards, service, host, port, address)


def _write_config(path: str, cards, service, host: str, port: int) -> None:
    from deployments.app import write_serve_config
    from deployments.catalog import DEFAULT_CATALOG
    from deployments.runtime import SERVE_ENV

    config = {k: v for k, v in vars(service).items() if k != "token"}  # a token belongs in the environment
    ingress = {"name": "hugginggpt", "route_prefix": "/", "import_path": "orchestrator.ingress:app_builder",
               "runtime_env": {"env_vars": dict(SERVE_ENV)}, "args": config}
    write_serve_config(path, cards, DEFAULT_CATALOG, host=host, port=port, extra_apps=[ingress])


def _serve(cards, service, host: str, port: int, address: str | None) -> None:
    from ray import serve

    from deployments.app import APP_NAME, ROUTE_PREFIX, build_app
    from deployments.runtime import init_ray, quiet_serve_logs, start_serve
    from orchestrator.cli import _fail
    from orchestrator.ingress import build_ingress

    quiet_serve_logs()
    started = time.perf_counter()
    init_ray(address=address, log_to_driver=False)
    start_serve(http=True, host=host, port=port)
    try:
        serve.run(build_app(cards), name=APP_NAME, route_prefix=ROUTE_PREFIX)
        serve.run(build_ingress(service), name="hugginggpt", route_prefix="/")
    except Exception as err:  # noqa: BLE001 - say which deployment failed and why, not a traceback
        _fail(f"the service did not start: {err}")
    click.echo(f"serving {len(cards)} expert(s) at http://{host}:{port}/ (web page), /v1 (OpenAI API), "
               f"/hugginggpt (HuggingGPT API); ready in {time.perf_counter() - started:.1f} s", err=True)
    if address:
        click.echo("deployed on the cluster; it keeps serving after this command exits", err=True)
        return
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    import ray

    serve.shutdown()
    ray.shutdown()
