"""``seawall gen grafana`` and ``seawall gen alerts``: operations artefacts generated from what
seawall exports (see ``docs/metrics.md``), so dashboards and alerts never drift from the names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["gen_app"]

gen_app = typer.Typer(
    name="gen",
    help="Generate operations artefacts (Grafana dashboard, Prometheus alert rules).",
    no_args_is_help=True,
    add_completion=False,
)

_Service = Annotated[
    str | None,
    typer.Option(help="The Prometheus job of the service (default: every job exporting seawall metrics)."),
]


@gen_app.command()
def grafana(
    service: _Service = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the JSON here, not to stdout.")
    ] = None,
) -> None:
    """A Grafana dashboard (JSON model) for seawall services: import it in Grafana."""
    from seawall.cli._grafana import dashboard

    text = json.dumps(dashboard(service), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}", err=True)


@gen_app.command()
def alerts(
    service: _Service = None,
    latency_threshold: Annotated[
        float, typer.Option(help="Latency SLO bound in seconds (a histogram bucket bound).")
    ] = 0.5,
    latency_objective: Annotated[float, typer.Option(help="Share of requests under the bound.")] = 0.99,
    alertmanager: Annotated[
        bool, typer.Option("--alertmanager", help="Print the Alertmanager configuration skeleton instead.")
    ] = False,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", "-o", help="Write seawall-rules.yml and alertmanager.yml here."),
    ] = None,
) -> None:
    """Prometheus alerting rules (with runbooks) and an Alertmanager configuration skeleton."""
    from seawall.cli._alerts import alert_rules, alertmanager_config, render_yaml, rules_document

    try:
        rules = alert_rules(
            service=service, latency_threshold=latency_threshold, latency_objective=latency_objective
        )
    except ValueError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    rules_text = render_yaml(
        rules_document(rules),
        "# Prometheus alerting rules for seawall services (seawall gen alerts).\n"
        "# Load with rule_files: [seawall-rules.yml]; check with promtool check rules.\n",
    )
    am_text = render_yaml(
        alertmanager_config(),
        "# Alertmanager configuration skeleton (seawall gen alerts --alertmanager).\n"
        "# Replace the webhook URLs by your pager and ticketing receivers.\n",
    )
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "seawall-rules.yml").write_text(rules_text)
        (output_dir / "alertmanager.yml").write_text(am_text)
        typer.echo(
            f"wrote {output_dir / 'seawall-rules.yml'} and {output_dir / 'alertmanager.yml'}", err=True
        )
        return
    typer.echo(am_text if alertmanager else rules_text, nl=False)
