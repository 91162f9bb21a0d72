"""Peer apps the benchmarks serve; each module exposes an ASGI ``app`` (or a seawall ``service``)."""
