"""``seawall debug profile URL``: fetch a CPU profile from a running service's
``/_seawall/debug/profile`` and save it (HTML flame graph, or speedscope JSON)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["debug_app"]

debug_app = typer.Typer(
    name="debug",
    help="Troubleshoot a running service through its /_seawall/debug/ endpoints.",
    no_args_is_help=True,
    add_completion=False,
)


@debug_app.command()
def profile(
    url: Annotated[str, typer.Argument(help="The service's base URL, e.g. http://127.0.0.1:8000.")],
    seconds: Annotated[float, typer.Option(help="How long to sample.")] = 10.0,
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Where to save it: .html (flame graph) or .json (speedscope)."),
    ] = Path("profile.html"),
    token: Annotated[
        str | None, typer.Option(help="The admin token [$SEAWALL_ADMIN_TOKEN]; loopback needs none.")
    ] = None,
) -> None:
    """Take a CPU profile of the service's event loop for SECONDS and save it."""
    import httpx

    fmt = "speedscope" if output.suffix == ".json" else "html"
    token = token or os.environ.get("SEAWALL_ADMIN_TOKEN")
    headers = {"authorization": f"Bearer {token}"} if token else {}
    endpoint = url.rstrip("/") + "/_seawall/debug/profile"
    typer.echo(f"profiling {url} for {seconds:g}s...", err=True)
    try:
        response = httpx.get(
            endpoint,
            params={"seconds": f"{seconds:g}", "format": fmt},
            headers=headers,
            timeout=seconds + 60,
        )
    except httpx.HTTPError as exc:
        typer.secho(f"cannot reach {endpoint}: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    if response.status_code != 200:
        typer.secho(f"{response.status_code} from {endpoint}: {response.text}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    output.write_bytes(response.content)
    hint = "open it in a browser" if fmt == "html" else "open it at https://www.speedscope.app"
    typer.echo(f"wrote {output} ({len(response.content)} bytes); {hint}", err=True)
