"""The ``hugginggpt`` command line.

Exit codes: 0 success, 2 a problem with the input (an invalid or unreadable plan, a bad file), which the
message names together with what to do.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from dag.graph import PlanGraphError, build_graph
from dag.metrics import evaluate_plans, read_jsonl
from dag.parse import PlanParseError
from dag.render import to_dot, to_mermaid, to_png
from dag.validate import PlanReport, check_plan

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


def main() -> None:
    cli(prog_name="hugginggpt")


if __name__ == "__main__":
    main()
