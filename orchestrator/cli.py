"""The ``hugginggpt`` command line.

Exit codes: 0 success, 2 a problem with the input (an invalid or unreadable plan, a bad file), which the
message names together with what to do.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from dag.graph import PlanGraphError, build_graph
from dag.metrics import confusions, evaluate_plans, read_jsonl
from dag.parse import PlanParseError
from dag.plan import Plan
from dag.render import to_dot, to_mermaid, to_png
from dag.validate import PlanReport, check_plan
from deployments.runtime import apply_env_defaults, quiet_serve_logs

apply_env_defaults()  # before any command imports ray.serve, which reads it once

INPUT_ERROR = 2


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(INPUT_ERROR)


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        _fail(f"{path} is not UTF-8 text; give a plan as JSON or as the LLM's raw answer")
    except OSError as err:
        _fail(f"cannot read {path}: {err.strerror}")
    raise AssertionError("unreachable")


def _report(path: str) -> PlanReport:
    """Parse, normalise and validate the plan in ``path``; an unreadable plan ends the command."""
    try:
        return check_plan(_read_text(path))
    except PlanParseError as err:
        _fail(f"{path}: {err}")
    raise AssertionError("unreachable")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hugginggpt-ray")
def cli() -> None:
    """HuggingGPT on Ray: plan multimodal requests as task DAGs and run them on expert models."""


@cli.command()
@click.argument("plan", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print {valid, problems, plan} as JSON.")
def validate(plan: str, as_json: bool) -> None:
    """Check PLAN (JSON, or an LLM's raw answer) against the task registry.

    Exits 0 with a one-line summary when the plan can run, 2 listing every problem when it cannot.
    """
    if as_json:
        try:
            report = check_plan(_read_text(plan))
        except PlanParseError as err:
            click.echo(json.dumps({
                "valid": False,
                "problems": [{"task_id": None, "kind": "parse_error", "message": str(err), "hint": err.hint}],
                "plan": [],
            }, indent=2))
            sys.exit(INPUT_ERROR)
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        sys.exit(0 if report.valid else INPUT_ERROR)

    report = _report(plan)
    for note in report.repairs:
        click.echo(f"repaired: {note}", err=True)
    for note in report.warnings:
        click.echo(f"warning: {note}", err=True)
    click.echo(f"{plan}: {report.summary()}")
    for problem in report.problems:
        click.echo(f"  {problem}")
    sys.exit(0 if report.valid else INPUT_ERROR)


@cli.command()
@click.argument("plan", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "png"]), default=None,
              help="Picture format; by default taken from --out's suffix (.png, .dot, .mmd), else mermaid.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="File to write; mermaid and dot go to standard output without it.")
def graph(plan: str, fmt: str | None, out: str | None) -> None:
    """Draw the DAG of PLAN as Mermaid, Graphviz DOT or PNG."""
    if fmt is None:
        suffix = Path(out).suffix.lower() if out else ""
        fmt = {".png": "png", ".dot": "dot", ".gv": "dot"}.get(suffix, "mermaid")
    if fmt == "png" and not out:
        _fail("--format png needs --out FILE.png")
    report = _report(plan)
    try:
        dag = build_graph(report.plan)
    except PlanGraphError as err:
        problems = "\n".join(f"  {p}" for p in report.problems)
        _fail(f"{plan}: cannot draw it: {err}\n{problems}")
    for problem in report.problems:
        click.echo(f"warning: {problem}", err=True)
    if fmt == "png":
        to_png(dag, out, title=report.summary())
        click.echo(f"wrote {out}")
        return
    text = to_mermaid(dag) if fmt == "mermaid" else to_dot(dag)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")
    else:
        click.echo(text, nl=False)


def _format_row(name: str, scores: dict) -> str:
    def fmt(value: float | None) -> str:
        return "   -  " if value is None else f"{value:6.3f}"

    return f"{name:<10} {scores['n']:>5}  {fmt(scores['node_f1'])}  {fmt(scores['edge_f1'])}"


def print_scores(result: dict) -> None:
    """The node/edge F1 table that eval commands print."""
    click.echo(f"{'':<10} {'n':>5}  {'node F1':>6}  {'edge F1':>6}")
    click.echo(_format_row("overall", result["overall"]))
    for name, scores in result["by_type"].items():
        click.echo(_format_row(name, scores))
    for name, scores in result.get("by_n_tools", {}).items():
        click.echo(_format_row(f"{name} tools", scores))


@cli.command("eval-plans")
@click.option("--gold", required=True, type=click.Path(exists=True, dir_okay=False),
              help="TaskBench gold records (JSON lines with id, type, task_nodes).")
@click.option("--pred", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Predicted plans (JSON lines with id and task_nodes, or result.task_nodes).")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def eval_plans(gold: str, pred: str, as_json: bool) -> None:
    """Score predicted plans against gold with TaskBench's node F1 and edge F1.

    A gold id with no prediction counts as an empty plan; records TaskBench's evaluate.py cannot parse
    are left out and listed.
    """
    try:
        gold_records, pred_records = read_jsonl(gold), read_jsonl(pred)
    except ValueError as err:
        _fail(str(err))
    result = evaluate_plans(gold_records, pred_records).to_dict()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    print_scores(result)
    if result["missing_predictions"]:
        click.echo(f"{result['missing_predictions']} gold id(s) had no prediction and scored as empty plans")
    for record_id, why in result["dropped"].items():
        click.echo(f"left out {record_id}: {why}")


def _catalog_rows(task: str | None, catalog: str | None) -> list[dict]:
    from deployments.catalog import DEFAULT_CATALOG, load_catalog

    try:
        cards = load_catalog(catalog or DEFAULT_CATALOG)
    except (OSError, ValueError) as err:
        _fail(str(err))
    rows = []
    for card in cards:
        if task and card.task != task:
            continue
        ok, why = card.availability(gpus=_local_gpus())
        rows.append({"id": card.id, "task": card.task, "backend": card.backend, "status": why,
                     "deployable": ok, "num_gpus": card.resources.num_gpus, "description": card.description})
    return rows


def _local_gpus() -> float:
    try:
        import torch

        return float(torch.cuda.device_count())
    except ImportError:
        return 0.0


@cli.command()
@click.option("--task", default=None, help="Only models for this task (a registry id such as image-to-text).")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A model catalog (JSON lines); the shipped one by default.")
@click.option("--address", default=None, envvar="RAY_ADDRESS",
              help="A running Ray cluster to ask which experts are deployed (default: $RAY_ADDRESS).")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog rows as JSON.")
def models(task: str | None, catalog: str | None, address: str | None, as_json: bool) -> None:
    """The model catalog, each model with its status: deployed, deployable here, or what it needs."""
    from dag.registry import REGISTRY

    if task and REGISTRY.get(task) is None:
        _fail(f"unknown task {task!r}; did you mean {', '.join(REGISTRY.suggest(task)) or 'none'}?")
    if task:
        task = REGISTRY[task].id
    rows = _catalog_rows(task, catalog)
    if address:
        deployed = _deployed_models(address)
        for row in rows:
            if row["id"] in deployed:
                row["status"] = "deployed"
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no model in the catalog does {task}")
        return
    width = max(len(r["id"]) for r in rows)
    task_width = max(len(r["task"]) for r in rows)
    for row in rows:
        click.echo(f"{row['id']:<{width}}  {row['task']:<{task_width}}  {row['status']}")


def _deployed_models(address: str) -> set[str]:
    from ray import serve

    from deployments.app import APP_NAME
    from deployments.runtime import init_ray

    init_ray(address=address, log_to_driver=False)
    try:
        router = serve.get_app_handle(APP_NAME)
        return {m["id"] for m in router.models.remote().result(timeout_s=30)}
    except Exception:  # noqa: BLE001 - no experts application running means nothing is deployed
        return set()


@cli.group()
def experts() -> None:
    """Start and inspect the expert model deployments."""


@experts.command("up")
@click.option("--models", "model_ids", multiple=True, help="Model ids to start (repeatable); default: every "
              "model deployable here.")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--address", default=None, envvar="RAY_ADDRESS",
              help="Ray cluster to deploy on; default: start a local one (kept up until Ctrl-C).")
@click.option("--write-config", type=click.Path(dir_okay=False), default=None,
              help="Also write a Serve config YAML for `serve deploy` with these experts.")
@click.option("--detach", is_flag=True, help="Return once healthy (on a local cluster this shuts it down).")
def experts_up(model_ids: tuple[str, ...], catalog: str | None, address: str | None, write_config: str | None,
               detach: bool) -> None:
    """Start expert deployments on the local or connected cluster and report which are healthy."""

    from ray import serve

    from deployments.app import APP_NAME, ROUTE_PREFIX, build_app, select_cards, write_serve_config
    from deployments.catalog import DEFAULT_CATALOG
    from deployments.runtime import init_ray, start_serve

    try:
        cards = select_cards(list(model_ids) or None, catalog or DEFAULT_CATALOG)
    except (KeyError, ValueError, OSError) as err:
        _fail(str(err).strip("'\""))
    blocked = [(c.id, c.availability(gpus=None)[1]) for c in cards if not c.availability(gpus=None)[0]]
    if blocked:
        _fail("cannot start " + "; ".join(f"{m} ({why})" for m, why in blocked))
    if not cards:
        _fail("no model in the catalog is deployable here; `hugginggpt models` says what each needs")
    if write_config:
        write_serve_config(write_config, cards, catalog or DEFAULT_CATALOG)
        click.echo(f"wrote {write_config} (serve deploy {write_config})")
    started = time.perf_counter()
    init_ray(address=address)
    start_serve(http=True)
    try:
        router = serve.run(build_app(cards), name=APP_NAME, route_prefix=ROUTE_PREFIX)
    except Exception as err:  # noqa: BLE001 - report which deployment failed and why, not a traceback
        _fail(f"the experts did not start: {err}")
    infos = router.infos.remote().result(timeout_s=600)
    click.echo(f"{len(infos)} expert(s) healthy in {time.perf_counter() - started:.1f} s:")
    for info in infos:
        click.echo(f"  {info['model_id']:<40} {', '.join(info['tasks']):<32} loaded in {info['load_seconds']:.2f} s")
    if detach or address:
        return
    click.echo("serving on this machine's local Ray cluster; Ctrl-C stops it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()


@cli.command("eval-planner")
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False),
              help="TaskBench records (JSON lines with id, instruction, task_nodes).")
@click.option("--planner", type=click.Choice(["embedded", "llm"]), default="embedded", show_default=True)
@click.option("--limit", type=int, default=None, help="Score only the first N records.")
@click.option("--demos", "demo_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="LLM planner: TaskBench files to retrieve demonstrations from (repeatable; besides the shipped "
                   "ones). The record being scored is never shown as its own demonstration.")
@click.option("--demos-k", type=int, default=4, show_default=True, help="LLM planner: demonstrations per request.")
@click.option("--llm-base-url", default=None, help="OpenAI-compatible base URL (default: $HUGGINGGPT_LLM_BASE_URL).")
@click.option("--llm-model", default=None, help="The LLM's model name (default: $HUGGINGGPT_LLM_MODEL).")
@click.option("--neural/--no-neural", default=True, show_default=True,
              help="Embedded planner: use the tagger's neural half (MiniLM tuned with LoRA) beside its regression.")
@click.option("--tagger/--no-tagger", default=True, show_default=True,
              help="Embedded planner: revise the cue tasks with the task tagger (orchestrator/task_tagger.py).")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def eval_planner(data: str, planner: str, limit: int | None, demo_files: tuple[str, ...], demos_k: int,
                 llm_base_url: str | None, llm_model: str | None, neural: bool, tagger: bool, as_json: bool) -> None:
    """Plan every instruction of a TaskBench file and score the plans with node F1 and edge F1."""
    from dag.taskbench import to_taskbench
    from orchestrator.llm import LLMError

    try:
        records = read_jsonl(data)[:limit]
    except ValueError as err:
        _fail(str(err))
    try:
        plan_one = _planner_for_eval(planner, demo_files, demos_k, llm_base_url, llm_model, tagger, neural)
    except ValueError as err:
        _fail(str(err))
    predictions, invalid, seconds = {}, 0, 0.0
    for record in records:
        started = time.perf_counter()
        try:
            plan, valid = plan_one(record)
        except LLMError as err:
            _fail(str(err))
        seconds += time.perf_counter() - started
        invalid += not valid
        nodes = to_taskbench(plan) if plan is not None else {"task_nodes": [], "task_links": []}
        predictions[str(record["id"])] = {"id": record["id"], **nodes}
    result = evaluate_plans(records, predictions).to_dict()
    result["invalid_plans"] = invalid
    result["seconds_per_request"] = round(seconds / max(1, len(records)), 4)
    result["confusions"] = confusions(records, predictions)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    print_scores(result)
    click.echo(f"{invalid} invalid plan(s); {result['seconds_per_request'] * 1000:.1f} ms per request")
    click.echo("mixed up (gold → predicted, records):")
    for row in result["confusions"][:10]:
        click.echo(f"  {row['gold']:<28} → {row['predicted']:<28} {row['count']:>4}")


@cli.command("train-tagger")
@click.option("--data", "data_paths", multiple=True, required=True, type=click.Path(exists=True),
              help="TaskBench records to learn from: a JSON-lines file or a folder of them (repeatable).")
@click.option("--exclude", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="TaskBench files whose ids are never learned from, e.g. the records you will score (repeatable).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the model (.npz). The planner uses it when $HUGGINGGPT_TAGGER names it.")
@click.option("--c", "strength", type=float, default=10.0, show_default=True, help="Inverse regularisation.")
@click.option("--neural-epochs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also fine-tune the neural half (MiniLM with LoRA) for this many epochs: about 4 minutes an "
                   "epoch over 7k records on 2 cores. 0 fits the regression only.")
def train_tagger(data_paths: tuple[str, ...], exclude: tuple[str, ...], out: str, strength: float,
                 neural_epochs: int) -> None:
    """Fit the embedded planner's task tagger on TaskBench plans (needs scikit-learn)."""
    from dag.metrics import TOOLS
    from orchestrator.embedded_planner import EmbeddedPlanner, load_embed
    from orchestrator.task_tagger import fit_task_tagger

    try:
        import sklearn  # noqa: F401
    except ImportError:
        _fail("train-tagger needs scikit-learn: pip install scikit-learn")
    files = [f for p in data_paths for f in (sorted(Path(p).glob("*.jsonl")) if Path(p).is_dir() else [Path(p)])]
    try:
        skip = {str(r.get("id")) for path in exclude for r in read_jsonl(path)}
        by_id = {str(r.get("id")): r for f in files for r in read_jsonl(f)}
        records = [r for key, r in by_id.items() if key not in skip]
    except ValueError as err:
        _fail(str(err))
    try:
        cue_planner = EmbeddedPlanner(load_embed())
    except RuntimeError as err:  # the MiniLM package is missing: package_dir says what to install
        _fail(str(err))

    def cue_tools(request: str) -> list[str]:
        return cue_planner.taskbench_tools(cue_planner.plan(request))

    started = time.perf_counter()
    meta = {"files": len(files), "first_file": files[0].name if files else None, "excluded_ids": len(skip)}
    try:
        model = fit_task_tagger(records, cue_tools, sorted(TOOLS), c=strength, meta=meta,
                                text_order=cue_planner.text_order, neural_epochs=neural_epochs,
                                log=lambda line: click.echo(line, err=True))
    except (ValueError, RuntimeError) as err:
        _fail(str(err))
    model.save(out)
    neural = f"; neural half tuned for {neural_epochs} epochs" if model.neural is not None else ""
    click.echo(f"learned from {model.meta['records']} records ({len(skip)} ids excluded) in "
               f"{time.perf_counter() - started:.0f} s; {len(model.vocabulary)} terms{neural}; wrote {out}")


def _planner_for_eval(planner: str, demo_files: tuple[str, ...], demos_k: int, llm_base_url: str | None,
                      llm_model: str | None, tagger: bool = True, neural: bool = True):
    """A function record → (plan as scored, whether it is valid). An invalid plan is scored as written, as
    TaskBench scores what a model answered; an answer that is not a plan at all scores as an empty one.
    A record is never shown its own demonstration."""
    from dag.validate import check_plan
    from orchestrator.embedded_planner import load_embed, load_embedded_planner

    if planner == "embedded":
        model = load_embedded_planner(tagger=tagger, neural=neural)

        def embedded(record: dict) -> tuple[Plan | None, bool]:
            report = check_plan(model.plan(record.get("instruction", "")))
            return report.plan, report.valid

        return embedded

    from orchestrator.demos import DemoBank, shipped_demos, taskbench_demos
    from orchestrator.llm import LLMClient, LLMConfig
    from orchestrator.planner import LLMPlanner, PlanningError

    config = LLMConfig.from_env(base_url=llm_base_url, model=llm_model)
    if not config.configured:
        raise ValueError("--planner llm needs an LLM: pass --llm-base-url (or set HUGGINGGPT_LLM_BASE_URL), or an "
                         "OpenAI key in OPENAI_API_KEY")
    bank = DemoBank(":memory:", load_embed())  # this evaluation's own bank: the user's is left alone
    bank.add_many(shipped_demos())
    for path in demo_files:
        bank.add_many(taskbench_demos(path))
    llm_planner = LLMPlanner(LLMClient(config))

    def llm(record: dict) -> tuple[Plan | None, bool]:
        instruction = record.get("instruction", "")
        demos = bank.retrieve(instruction, k=demos_k, exclude_ids=[str(record.get("id"))],
                              exclude_requests=[instruction]) if demos_k else []
        try:
            return llm_planner.plan(instruction, demos=demos).plan, True
        except PlanningError as err:
            try:
                return check_plan(err.last_answer).plan, False
            except PlanParseError:
                return None, False

    return llm


@cli.command("plan")
@click.argument("request")
@click.option("--file", "files", multiple=True, type=click.Path(dir_okay=False), help="An input file (repeatable).")
@click.option("--planner", type=click.Choice(["embedded", "llm"]), default="embedded", show_default=True)
@click.option("--llm-base-url", default=None, help="OpenAI-compatible base URL (default: $HUGGINGGPT_LLM_BASE_URL).")
@click.option("--llm-model", default=None, help="The LLM's model name (default: $HUGGINGGPT_LLM_MODEL).")
@click.option("--png", type=click.Path(dir_okay=False), default=None, help="Also draw the DAG into this PNG.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan_command(request: str, files: tuple[str, ...], planner: str, llm_base_url: str | None,
                 llm_model: str | None, png: str | None, as_json: bool) -> None:
    """Plan REQUEST without running it: print the plan and its DAG (Mermaid)."""
    from orchestrator.llm import LLMConfig, LLMError
    from orchestrator.pipeline import Config, HuggingGPT
    from orchestrator.planner import PlanningError

    config = Config(planner=planner, llm=LLMConfig.from_env(base_url=llm_base_url, model=llm_model))
    try:
        plan = HuggingGPT(config).plan(request, list(files))
    except (PlanningError, LLMError) as err:
        _fail(str(err))
    graph = build_graph(plan)
    if png:
        to_png(graph, png, title=request[:100])
    if as_json:
        click.echo(plan.to_json(indent=2))
        return
    for task in plan:
        click.echo(f"{task.id}: {task.task} {json.dumps(task.args, ensure_ascii=False)} dep={task.dep}")
    click.echo(to_mermaid(graph), nl=False)


@cli.command()
@click.argument("request")
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="An input file (repeatable); files the request names are read too.")
@click.option("--planner", type=click.Choice(["embedded", "llm"]), default="embedded", show_default=True)
@click.option("--llm-base-url", default=None, help="OpenAI-compatible base URL (default: $HUGGINGGPT_LLM_BASE_URL).")
@click.option("--llm-model", default=None, help="The LLM's model name (default: $HUGGINGGPT_LLM_MODEL).")
@click.option("--out", "out_dir", default="runs", show_default=True, help="Where runs write their artifacts.")
@click.option("--address", default=None, envvar="RAY_ADDRESS", help="Ray cluster (default: a local one).")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON.")
def run(request: str, files: tuple[str, ...], planner: str, llm_base_url: str | None, llm_model: str | None,
        out_dir: str, address: str | None, as_json: bool) -> None:
    """Run REQUEST end to end: plan, choose models, execute the DAG on Ray, answer.

    A live table on stderr shows each task's model and state; the answer goes to stdout."""
    from orchestrator.llm import LLMConfig
    from orchestrator.pipeline import RUN_ERRORS, Config, HuggingGPT

    config = Config(planner=planner, llm=LLMConfig.from_env(base_url=llm_base_url, model=llm_model),
                    out_dir=out_dir, address=address)

    from orchestrator.progress import RunProgress

    quiet_serve_logs()  # keeps the table whole
    progress = RunProgress(request)
    try:
        if as_json:
            result = HuggingGPT(config).run(request, files=list(files))
        else:
            with progress:
                result = HuggingGPT(config).run(request, files=list(files), on_event=progress)
    except RUN_ERRORS as err:
        _fail(str(err))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
        return
    click.echo(result.answer)
    click.echo(f"({result.seconds:.1f} s; artifacts and run.json in {result.out_dir})", err=True)


@cli.command()
@click.argument("run", type=click.Path(exists=True))
@click.option("--good/--bad", default=True, show_default=True,
              help="Good: the run's plan becomes a demonstration; bad: a counter-example, never adopted again.")
def feedback(run: str, good: bool) -> None:
    """Mark a run (its folder or run.json) good or bad; the demonstration bank learns from it."""
    from orchestrator.pipeline import Config, HuggingGPT

    path = Path(run) / "run.json" if Path(run).is_dir() else Path(run)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        request, plan = record["request"], record["plan"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        _fail(f"{path} is not a run record (run.json with request and plan): {err}")
    new = HuggingGPT(Config()).learn(request, plan, good)
    kind = "demonstration" if good else "counter-example"
    click.echo(f"{'stored' if new else 'already known; marked'} as a {kind}: {request!r}")


def _add_commands() -> None:
    """Commands kept in their own modules: batch jobs and the HTTP service."""
    from orchestrator.batch import batch_command
    from orchestrator.service_cli import serve_command

    cli.add_command(batch_command)
    cli.add_command(serve_command)


_add_commands()


def main() -> None:
    from orchestrator.task_tagger import TaggerMissing

    try:
        cli(prog_name="hugginggpt")
    except TaggerMissing as err:  # raised where the embedded planner loads, in any command
        _fail(str(err))


if __name__ == "__main__":
    main()
