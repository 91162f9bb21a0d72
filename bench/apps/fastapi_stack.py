"""FastAPI with the governance stack people usually bolt on, i.e. what seawall's full chain replaces.

- rate limit: slowapi, limit high enough never to trigger (we measure the cost, not rejections);
- circuit breaker: pybreaker around the handler call;
- metrics: prometheus-fastapi-instrumentator (middleware + ``/metrics``);
- timeout: ``asyncio.timeout`` around the handler body.
"""

from __future__ import annotations

import asyncio

import pybreaker
from fastapi import FastAPI, Request
from prometheus_fastapi_instrumentator import Instrumentator
from slowapi import Limiter, _rate_limit_exceeded_handler
from slowapi.errors import RateLimitExceeded
from slowapi.util import get_remote_address

limiter = Limiter(key_func=get_remote_address)
breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)

app = FastAPI()
app.state.limiter = limiter
app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]
Instrumentator().instrument(app).expose(app)


async def _hello() -> dict[str, str]:
    return {"message": "hello"}


@app.get("/hello")
@limiter.limit("1000000/second")
async def hello(request: Request) -> dict[str, str]:
    async with asyncio.timeout(5.0):
        # pybreaker's call_async needs tornado; calling() is its documented context-manager form.
        with breaker.calling():
            return await _hello()
