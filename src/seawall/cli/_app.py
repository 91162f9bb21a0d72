"""``seawall`` commands (typer)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from seawall.cli._debug import debug_app
from seawall.cli._gen import gen_app
from seawall.cli._run import DEFAULT_BACKLOG, DEFAULT_HEADER_TIMEOUT
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
    backlog: Annotated[
        int | None,
        typer.Option(help=f"Pending connections per socket [config server.backlog, {DEFAULT_BACKLOG}]."),
    ] = None,
    backpressure: Annotated[
        int | None,
        typer.Option(
            help="Open connections per worker, idle ones included (granian) "
            "[config server.backpressure, backlog/workers]."
        ),
    ] = None,
    header_timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds a connection gets to send a request head, and may idle between requests "
            f"(granian) [config server.header_timeout, {DEFAULT_HEADER_TIMEOUT:g}]."
        ),
    ] = None,
    reuse_port: Annotated[
        bool | None,
        typer.Option(
            "--reuse-port/--no-reuse-port",
            help="Share the port with servers already listening on it (SO_REUSEPORT) instead of "
            "refusing to start [config server.reuse_port, off].",
        ),
    ] = None,
    http: Annotated[
        str | None,
        typer.Option(
            help="1: HTTP/1.1 only (default); auto: also h2c, but then connections that never send "
            "a byte are not closed by --header-timeout [config server.http]."
        ),
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="json or console logs in every worker [config logging.format].")
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="Root log level [config logging.level, INFO].")
    ] = None,
) -> None:
    """Serve a seawall Service (or any ASGI app) with granian or uvicorn."""
    from seawall.cli._run import RunOptions, check_options, check_target, resolve_bind, serve
    from seawall.http._config import CONFIG_ENV, find_config, load_config

    found = find_config(config)
    # Workers load exactly this file (or, with "", environment overrides only).
    os.environ[CONFIG_ENV] = str(found.resolve()) if found is not None else ""
    try:
        cfg = load_config(found)
    except ConfigError as exc:
        _fail(f"invalid configuration: {exc}")
    s = cfg.server
    flags: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "server": server,
        "drain_delay": drain_delay,
        "grace_period": grace_period,
        "backlog": backlog,
        "backpressure": backpressure,
        "header_timeout": header_timeout,
        "reuse_port": reuse_port,
        "http": http,
    }
    merged: dict[str, Any] = {
        name: value if value is not None else getattr(s, name) for name, value in flags.items()
    }
    options = RunOptions(target=target, **merged)
    names = {
        name: f"--{name.replace('_', '-')}" if value is not None else f"server.{name}"
        for name, value in flags.items()
    }
    try:
        check_options(options, names)
    except ValueError as exc:
        _fail(str(exc))
    try:
        check_target(target, cfg)  # the whole configuration against the service, before any worker
    except ConfigError as exc:
        _fail(f"invalid configuration: {exc}")
    except ImportError as exc:
        _fail(f"cannot load {target}: {exc}")
    try:
        ip = resolve_bind(options.host, options.port, reuse_port=options.reuse_port)
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    _set_logging(log_format, log_level)
    os.environ["SEAWALL_ASGI_SERVER"] = options.server  # seawall_build_info{server}
    raise typer.Exit(serve(replace(options, host=ip)))


def _set_logging(log_format: str | None, log_level: str | None) -> None:
    """Pass ``--log-format`` / ``--log-level`` to the workers (each Service sets its logging up at
    startup) and set this process's logging up the same way."""
    from seawall.observe import configure_logging

    if log_format is not None and log_format not in ("json", "console"):
        _fail(f"--log-format must be json or console, not {log_format!r}")
    if log_level is not None:
        os.environ["SEAWALL_LOG_LEVEL"] = log_level.upper()
    if log_format is not None:
        os.environ["SEAWALL_LOG_FORMAT"] = log_format
        try:
            configure_logging(format="json" if log_format == "json" else "console", level=log_level or "INFO")
        except ValueError as exc:
            _fail(f"--log-level: {exc}")


def _fail(message: str) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


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


@app.command()
def demo(
    duration: Annotated[
        float,
        typer.Option(help="Seconds to run (3 to 600); the five phases share them equally.", min=3, max=600),
    ] = 20.0,
) -> None:
    """Run a gateway, a catalog and three inventory instances in this process, drive them through
    a spike, a failing instance and an outage, and show what seawall did. Needs no server."""
    from seawall.cli._demo import DemoError, run_demo

    try:
        run_demo(duration)
    except ValueError as exc:  # NaN passes click's range check
        _fail(f"--duration: {exc}")
    except DemoError as exc:
        typer.secho(f"seawall demo: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.secho("seawall demo: interrupted", err=True)
        raise typer.Exit(130) from None


def main() -> None:
    """Console-script entry point."""
    app()
