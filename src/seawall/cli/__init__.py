"""The ``seawall`` command line: serve a service, and (later) scaffold, generate and benchmark.

Commands run user code only through the ASGI server they start; nothing here is imported by the
request path.
"""

from __future__ import annotations

from seawall.cli._app import app, main

__all__ = ["app", "main"]
