"""Batch workloads: ``hugginggpt batch IN.jsonl --out OUT.jsonl`` (being written)."""

from __future__ import annotations

import click


@click.command("batch")
def batch_command() -> None:
    """Run every request of a JSON-lines file (not yet available)."""
    raise click.ClickException("hugginggpt batch is not available yet")
