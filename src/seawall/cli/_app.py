"""``seawall`` commands (typer)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from seawall.errors import ConfigError

app = typer.Typer(
    name="seawall",
    help="seawall: Python microservices with overload protection built in.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """seawall: Python microservices with overload protection built in."""


@app.command()
def run(
    target: Annotated[
        str, typer.Argument(help="The service to serve, as MODULE:ATTR (e.g. examples.hello:service).")
    ],
    host: Annotated[str | None, typer.Option(help="Address to bind [config server.host, 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind [config server.port, 8000].")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [config server.workers, 1].")] = None,
    config: Annotated[
        Path | None, typer.Option(help="seawall.yaml/TOML file [$SEAWALL_CONFIG, ./seawall.yaml].")
    ] = None,
    server: Annotated[str | None, typer.Option(help="granian (default) or uvicorn.")] = None,
    drain_delay: Annotated[
        float | None, typer.Option(help="On SIGTERM, seconds /readyz stays 503 before the listener closes.")
    ] = None,
    grace_period: Annotated[
        float | None, typer.Option(help="Seconds in-flight requests get to finish after that.")
    ] = None,
) -> None:
    """Serve a seawall Service (or any ASGI app) with granian or uvicorn."""
    from seawall.cli._run import RunOptions, serve
    from seawall.http._config import CONFIG_ENV, load_config

    if config is not None:
        os.environ[CONFIG_ENV] = str(config.resolve())
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.secho(f"invalid configuration: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    s = cfg.server
    chosen = server or s.server
    if chosen not in ("granian", "uvicorn"):
        typer.secho(f"--server must be granian or uvicorn, not {chosen!r}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    options = RunOptions(
        target=target,
        host=host or s.host,
        port=port if port is not None else s.port,
        workers=workers or s.workers,
        server=chosen,
        drain_delay=drain_delay if drain_delay is not None else s.drain_delay,
        grace_period=grace_period if grace_period is not None else s.grace_period,
    )
    raise typer.Exit(serve(options))


@app.command()
def graph(
    files: Annotated[
        list[str],
        typer.Argument(
            help="seawall.yaml/TOML files, one per service; NAME=FILE names the service "
            "(default: the file's stem, or its directory's name for seawall.yaml)."
        ),
    ],
) -> None:
    """Check the call graph the services' dependencies declare: name every cycle (exit 1), print
    the longest call chain."""
    from seawall.cli._graph import run_graph

    raise typer.Exit(run_graph(files, echo=typer.echo))


def main() -> None:
    """Console-script entry point."""
    app()
