"""SeawallTransport: routing by logical name, outgoing headers, deadlines and pass-through."""

from __future__ import annotations

import httpx
import pytest
from tests.client.support import A, B, Backend, dep, make_transport, status

from seawall.deadline import DEADLINE_HEADER
from seawall.errors import DeadlineExceeded
from seawall.governance import CALL_CHAIN_HEADER, TimeoutWheel
from seawall.governance.checks._loop import _INBOUND, Inbound
from seawall.http.client import Dependency, SeawallTransport
from seawall.testing import MockClock


async def get(
    transport: SeawallTransport, url: str = "http://inventory/items/1", **kw: object
) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport) as client:
        return await client.get(url, **kw)  # type: ignore[arg-type]


async def test_logical_name_goes_to_an_instance(autojump_clock: MockClock) -> None:
    """``http://inventory/items/1`` is sent to an instance's address; the path and query are kept."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep(A))
    response = await get(transport, "http://inventory/items/1?x=2")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    (sent,) = backend.requests
    assert str(sent.url) == "http://10.0.0.1:8001/items/1?x=2"
    assert sent.headers["host"] == "inventory"


async def test_https_scheme_is_used_for_the_instance(autojump_clock: MockClock) -> None:
    """A dependency with ``scheme="https"`` is called over https whatever the URL says."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep("10.0.0.1:8443", scheme="https"))
    await get(transport)
    assert backend.requests[0].url.scheme == "https"
    assert backend.requests[0].url.port == 8443


async def test_unknown_host_passes_through(autojump_clock: MockClock) -> None:
    """A host that names no dependency is sent as it is (no governance headers)."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep(A))
    await get(transport, "http://example.com/x")
    (sent,) = backend.requests
    assert sent.url.host == "example.com"
    assert CALL_CHAIN_HEADER not in sent.headers


async def test_unknown_host_refused_without_passthrough(autojump_clock: MockClock) -> None:
    """With ``passthrough=False`` a host that names no dependency is a connection error."""
    transport = make_transport(Backend(), autojump_clock, dep(A), passthrough=False)
    with pytest.raises(httpx.ConnectError, match=r"no dependency named 'example\.com'"):
        await get(transport, "http://example.com/x")


async def test_call_chain_names_this_service(autojump_clock: MockClock) -> None:
    """Outside any request, the chain is this service alone."""
    backend = Backend()
    await get(make_transport(backend, autojump_clock, dep(A), service="orders"))
    assert backend.requests[0].headers[CALL_CHAIN_HEADER] == "orders"


async def test_call_chain_extends_the_incoming_one(autojump_clock: MockClock) -> None:
    """Inside a request that came through ``edge,gateway``, the chain sent is ``edge,gateway,orders``."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep(A), service="orders")
    token = _INBOUND.set(Inbound(("edge", "gateway"), None, None))
    try:
        await get(transport)
    finally:
        _INBOUND.reset(token)
    assert backend.requests[0].headers[CALL_CHAIN_HEADER] == "edge,gateway,orders"


async def test_call_chain_is_bounded(autojump_clock: MockClock) -> None:
    """However long the incoming chain, at most 64 names (the newest) are sent."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep(A), service="orders")
    token = _INBOUND.set(Inbound(tuple(f"s{i}" for i in range(100)), None, None))
    try:
        await get(transport)
    finally:
        _INBOUND.reset(token)
    names = backend.requests[0].headers[CALL_CHAIN_HEADER].split(",")
    assert len(names) == 64
    assert names[-2:] == ["s99", "orders"]


async def test_trace_context_is_forwarded(autojump_clock: MockClock) -> None:
    """The incoming ``traceparent`` and ``tracestate`` go out with every call made for the request."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep(A))
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    token = _INBOUND.set(Inbound((), parent, "k=v"))
    try:
        await get(transport)
    finally:
        _INBOUND.reset(token)
    assert backend.requests[0].headers["traceparent"] == parent
    assert backend.requests[0].headers["tracestate"] == "k=v"


async def test_own_traceparent_is_kept(autojump_clock: MockClock) -> None:
    """A ``traceparent`` the caller set on the request itself is not replaced."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep(A))
    token = _INBOUND.set(Inbound((), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", None))
    mine = "00-11111111111111111111111111111111-2222222222222222-01"
    try:
        await get(transport, headers={"traceparent": mine})
    finally:
        _INBOUND.reset(token)
    assert backend.requests[0].headers["traceparent"] == mine


async def test_deadline_header_is_the_timeout_minus_the_margin(autojump_clock: MockClock) -> None:
    """With no caller deadline, the header carries the dependency's timeout less the margin."""
    backend = Backend()
    await get(make_transport(backend, autojump_clock, dep(A, timeout=2.0, deadline_margin=0.01)))
    assert backend.requests[0].headers[DEADLINE_HEADER] == "1990"


async def test_deadline_header_follows_the_caller_deadline(autojump_clock: MockClock) -> None:
    """Inside a request with 300 ms left, the call gets at most 300 ms less the margin."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep(A, timeout=2.0, deadline_margin=0.005))
    wheel = TimeoutWheel(clock=autojump_clock)
    from seawall.deadline import _current

    token = _current.set(wheel.watch(0.3))
    try:
        await get(transport)
    finally:
        _current.reset(token)
    assert backend.requests[0].headers[DEADLINE_HEADER] == "295"


async def test_explicit_deadline_header_is_only_shortened(autojump_clock: MockClock) -> None:
    """A deadline the caller put on the request bounds the call too; the smaller one is sent."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep(A, timeout=2.0, deadline_margin=0.0))
    await get(transport, headers={DEADLINE_HEADER: "700"})
    assert backend.requests[0].headers[DEADLINE_HEADER] == "700"
    await get(
        make_transport(backend, autojump_clock, dep(A, timeout=0.5, deadline_margin=0.0)),
        headers={DEADLINE_HEADER: "700"},
    )
    assert backend.requests[1].headers[DEADLINE_HEADER] == "500"


async def test_header_names_are_case_insensitive(autojump_clock: MockClock) -> None:
    """A deadline or chain header set with another case is still read as such."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep(A, timeout=2.0, deadline_margin=0.0))
    await get(transport, headers={"X-Seawall-Deadline-Ms": "300", "X-Seawall-Call-Chain": "edge"})
    sent = backend.requests[0].headers
    assert sent[DEADLINE_HEADER] == "300"
    assert sent[CALL_CHAIN_HEADER] == "edge,orders"


async def test_deadline_shrinks_across_attempts(autojump_clock: MockClock) -> None:
    """A retry carries what is left of the call's deadline, not the whole timeout again."""
    backend = Backend()
    backend.set(A, status(500))
    backend.set(B, status(500))
    transport = make_transport(backend, autojump_clock, dep(A, B, timeout=2.0, deadline_margin=0.0))
    response = await get(transport)
    assert response.status_code == 500
    sent = [int(r.headers[DEADLINE_HEADER]) for r in backend.requests]
    assert len(sent) == 3
    assert sent[0] == 2000
    assert sent[0] > sent[1] > sent[2]


async def test_spent_deadline_sends_nothing(autojump_clock: MockClock) -> None:
    """With the caller's deadline spent, the call raises DeadlineExceeded and no request leaves."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep(A))
    with pytest.raises(DeadlineExceeded):
        await get(transport, headers={DEADLINE_HEADER: "0"})
    assert backend.requests == []


async def test_less_than_the_margin_left_sends_nothing(autojump_clock: MockClock) -> None:
    """A deadline shorter than the margin (plus a millisecond) is as good as spent."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep(A, deadline_margin=0.005))
    with pytest.raises(DeadlineExceeded):
        await get(transport, headers={DEADLINE_HEADER: "5.5"})
    assert backend.requests == []


async def test_four_xx_is_returned_not_retried(autojump_clock: MockClock) -> None:
    """A 404 is the caller's answer: returned at once, one request."""
    backend = Backend()
    backend.set(A, status(404))
    backend.set(B, status(404))
    response = await get(make_transport(backend, autojump_clock, dep(A, B)))
    assert response.status_code == 404
    assert len(backend.requests) == 1


async def test_dependency_factory_is_built_at_first_call(autojump_clock: MockClock) -> None:
    """A dependency added as a factory is built when the first call names it."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock)
    built: list[str] = []

    def factory() -> Dependency:
        built.append("inventory")
        return dep(A)

    transport.add(factory, name="inventory")
    assert built == []
    assert (await get(transport)).status_code == 200
    assert built == ["inventory"]


def test_a_name_is_routed_once(autojump_clock: MockClock) -> None:
    """Adding a second dependency with a taken name is refused."""
    transport = make_transport(Backend(), autojump_clock, dep(A))
    with pytest.raises(ValueError, match="already routed"):
        transport.add(dep(B))


def test_service_name_with_a_comma_is_refused() -> None:
    """The service name goes into a comma-separated header: commas and spaces are refused."""
    with pytest.raises(ValueError, match="service must be a name"):
        SeawallTransport(service="a,b")


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port"),
    [
        ("http://inventory/items/1?x=2#f", "http", "10.0.0.1", 8001),
        ("http://inventory/a%20b?q=%C3%BC", "http", "10.0.0.1", 80),
        ("http://inventory/", "https", "Inventory.Local", 443),
        ("http://inventory:9000/x", "https", "::1", 8443),
    ],
)
def test_retarget_matches_copy_with(url: str, scheme: str, host: str, port: int) -> None:
    """The fast URL rewrite gives exactly what ``URL.copy_with`` gives."""
    from seawall.http.client._call import retarget

    given = httpx.URL(url)
    fast = retarget(given, scheme, host, port)
    slow = given.copy_with(scheme=scheme, host=host, port=port)
    assert fast == slow
    assert (fast.raw_host, fast.port, fast.raw_path) == (slow.raw_host, slow.port, slow.raw_path)


class _Streamed(httpx.AsyncByteStream):
    """A body that arrives as a stream, as from a real connection (not read by the transport yet)."""

    def __init__(self, *parts: bytes) -> None:
        self.parts = parts
        self.reads = 0

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        self.reads += 1
        for part in self.parts:
            yield part


async def test_a_plain_body_comes_back_read(autojump_clock: MockClock) -> None:
    """An unencoded body is read from the connection once and handed back as the response's
    content: the caller's client does not iterate a second stream."""
    backend = Backend()
    body = _Streamed(b'{"ok":', b" true}")
    backend.set(A, lambda request: httpx.Response(200, stream=body))
    transport = make_transport(backend, autojump_clock, dep(A))
    response = await transport.handle_async_request(httpx.Request("GET", "http://inventory/items/1"))
    assert response.is_stream_consumed
    assert response.json() == {"ok": True}
    assert body.reads == 1


async def test_an_encoded_body_is_decoded_by_the_client(autojump_clock: MockClock) -> None:
    """A gzip body is decoded as httpx would; a corrupt one raises httpx's DecodingError, not a 5xx."""
    import gzip

    backend = Backend()
    encoded = {"content-encoding": "gzip"}
    zipped = gzip.compress(b"hi")
    backend.set(A, lambda request: httpx.Response(200, headers=encoded, stream=_Streamed(zipped)))
    assert (await get(make_transport(backend, autojump_clock, dep(A)))).text == "hi"
    backend.set(A, lambda request: httpx.Response(200, headers=encoded, stream=_Streamed(b"not gzip")))
    with pytest.raises(httpx.DecodingError):
        await get(make_transport(backend, autojump_clock, dep(A)))
