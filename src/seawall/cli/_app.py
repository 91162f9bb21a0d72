"""``seawall`` commands (typer)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from seawall.cli._debug import debug_app
from seawall.cli._gen import gen_app
from seawall.errors import ConfigError

app = typer.Typer(
    name="seawall",
    help="seawall: Python microservices with overload protection built in.",
    no_args_is_help=True,
    add_completion=False,
)


app.add_typer(gen_app)
app.add_typer(debug_app)


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
    log_format: Annotated[
        str | None, typer.Option(help="json or console logs in every worker [config logging.format].")
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="Root log level [config logging.level, INFO].")
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
    _set_logging(log_format, log_level)
    os.environ["SEAWALL_ASGI_SERVER"] = chosen  # seawall_build_info{server}
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


def _set_logging(log_format: str | None, log_level: str | None) -> None:
    """Pass ``--log-format`` / ``--log-level`` to the workers (each Service sets its logging up at
    startup) and set this process's logging up the same way."""
    from seawall.observe import configure_logging

    if log_format is not None and log_format not in ("json", "console"):
        typer.secho(
            f"--log-format must be json or console, not {log_format!r}", fg=typer.colors.RED, err=True
        )
        raise typer.Exit(2)
    if log_format is not None:
        os.environ["SEAWALL_LOG_FORMAT"] = log_format
    if log_level is not None:
        os.environ["SEAWALL_LOG_LEVEL"] = log_level.upper()
    if log_format is not None:
        try:
            configure_logging(format="json" if log_format == "json" else "console", level=log_level or "INFO")
        except ValueError as exc:
            typer.secho(f"--log-level: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None


def main() -> None:
    """Console-script entry point."""
    app()
