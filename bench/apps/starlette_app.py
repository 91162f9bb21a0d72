"""Starlette peer: one ``Route`` returning a ``JSONResponse``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"message": "hello"})


app = Starlette(routes=[Route("/hello", hello)])
