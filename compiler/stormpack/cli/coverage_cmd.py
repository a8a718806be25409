"""``stormpack coverage``: ATT&CK techniques of the pack against those of the campaign, and a
Navigator layer."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from ..coverage import compute_coverage, coverage_layer, render_text
from ..navigator import write_layer


@click.command("coverage")
@click.option(
    "--rules", "rules_dir", type=click.Path(path_type=Path), default=Path("rules"), show_default=True
)
@click.option(
    "--layer",
    "layer_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="write an ATT&CK Navigator layer (format 4.5) to this file",
)
@click.option(
    "--campaign",
    "campaign_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="campaign technique list (default: the packaged data/campaign_techniques.yml)",
)
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def coverage_cmd(rules_dir: Path, layer_path: Path | None, campaign_path: Path | None, fmt: str) -> None:
    """Print which campaign techniques the pack covers; optionally write a Navigator layer."""
    report = compute_coverage([rules_dir], campaign_path)
    if fmt == "json":
        click.echo(json.dumps(asdict(report), indent=2))
    else:
        click.echo(render_text(report), nl=False)
    if layer_path is not None:
        write_layer(layer_path, coverage_layer(report))
        click.echo(f"wrote {layer_path}", err=True)
