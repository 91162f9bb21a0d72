"""Tests for seawall.observe's structured logging: redaction, formatters, access and slow logs."""

from __future__ import annotations

import io
import json
import logging
import math
import random
import re
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.observe import (
    REDACTED,
    TRACE_ID,
    AccessLog,
    ConsoleFormatter,
    JsonFormatter,
    RedactionFilter,
    Redactor,
    SlowRequestLog,
    configure_logging,
)
from seawall.testing import MockClock


class ListHandler(logging.Handler):
    """Keeps the records it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured(request: pytest.FixtureRequest) -> Iterator[tuple[logging.Logger, ListHandler]]:
    """A private logger (no propagation) with a handler that keeps its records."""
    logger = logging.getLogger(f"seawall-test.{request.node.name}")
    handler = ListHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)


@pytest.fixture
def configured(request: pytest.FixtureRequest) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A private logger set up by configure_logging(format="json") writing to a buffer."""
    name = f"seawall-cfg.{request.node.name}"
    stream = io.StringIO()
    handler = configure_logging(format="json", level="DEBUG", stream=stream, logger=name)
    logger = logging.getLogger(name)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def record(msg: str = "hello", *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("app", logging.INFO, __file__, 1, msg, args or None, None)
    rec.__dict__.update(extra)
    return rec


# --- Redactor -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "DB_PASSWORD",
        "apiKey",
        "X-Api-Key",
        "stripe_api_key",
        "auth_token",
        "Authorization",
        "Cookie",
        "set-cookie",
        "client_secret",
        "dsn",
        "sentry_dsn",
        "aws_secret_access_key",
        "x-seawall-admin-token",
    ],
)
def test_secret_names(name: str) -> None:
    """Names that end with a secret field (in any case or separator style) are secret."""
    assert Redactor().is_secret(name)


@pytest.mark.parametrize(
    "name",
    ["key", "client_key", "token_bucket", "max_tokens", "keyspace", "password_file", "monkey", "route"],
)
def test_non_secret_names(name: str) -> None:
    """Rate-limit key specs, token-bucket settings and lookalikes are not secret."""
    assert not Redactor().is_secret(name)


def test_redact_replaces_secret_values_at_any_depth() -> None:
    """Secrets nested in mappings and lists are replaced; everything else is kept."""
    config = {
        "server": {"port": 8000, "admin_token": "t0ps3cret"},
        "routes": [{"path": "/a", "rate_limit": {"key": "header:x-user"}, "password": "pw"}],
        "unset_secret": None,
    }
    assert Redactor().redact(config) == {
        "server": {"port": 8000, "admin_token": REDACTED},
        "routes": [{"path": "/a", "rate_limit": {"key": "header:x-user"}, "password": REDACTED}],
        "unset_secret": None,
    }


def test_redact_returns_a_copy() -> None:
    """The input is left untouched."""
    config = {"password": "pw", "nested": {"token": "t"}}
    Redactor().redact(config)
    assert config == {"password": "pw", "nested": {"token": "t"}}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://user:hunter2@cache:6379/0", f"redis://user:{REDACTED}@cache:6379/0"),
        ("redis://:hunter2@cache:6379/0", f"redis://:{REDACTED}@cache:6379/0"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("https://api.example/v1?token=abc&page=2", f"https://api.example/v1?token={REDACTED}&page=2"),
        ("plain text", "plain text"),
    ],
)
def test_url_credentials_are_redacted(url: str, expected: str) -> None:
    """A URL keeps its host and path but loses its password and secret query parameters."""
    assert Redactor().redact({"redis_url": url}) == {"redis_url": expected}


def test_custom_field_list() -> None:
    """A configured list replaces the default one."""
    redactor = Redactor(fields=["pin"])
    assert redactor.redact({"pin": "1234", "password": "pw"}) == {"pin": REDACTED, "password": "pw"}


def test_empty_field_list_is_rejected() -> None:
    """At least one field must be secret."""
    with pytest.raises(ValueError, match="fields must name at least one field"):
        Redactor(fields=["", "-"])


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("login with password=hunter2 failed", "hunter2"),
        ("Authorization: Bearer abcdef123456", "abcdef123456"),
        ("headers={'api_key': 'k3y-value', 'accept': 'json'}", "k3y-value"),
        ("Cookie: session=abc123; theme=dark", "abc123"),
        ('{"token": "tok-99"}', "tok-99"),
        ("connecting to redis://:hunter2@cache:6379", "hunter2"),
    ],
)
def test_scrub_hides_secrets_in_free_text(text: str, secret: str) -> None:
    """Common ways secrets show up in log messages are scrubbed."""
    scrubbed = Redactor().scrub(text)
    assert secret not in scrubbed
    assert REDACTED in scrubbed


@pytest.mark.parametrize("text", ["token bucket refilled", "basic setup done", "keyspace=users rate=5"])
def test_scrub_leaves_prose_alone(text: str) -> None:
    """Words that merely resemble secrets are not touched."""
    assert Redactor().scrub(text) == text


@given(st.text(alphabet="0123456789", min_size=6, max_size=20))
def test_a_secret_never_survives_redaction(secret: str) -> None:
    """Whatever the secret, it appears nowhere in the redacted config."""
    config = {
        "db": {"password": secret, "url": f"postgres://app:{secret}@db/app"},
        "headers": [{"Authorization": f"Bearer {secret}"}],
    }
    assert secret not in json.dumps(Redactor().redact(config))


# --- formatters ---------------------------------------------------------------------------------


def test_json_line_has_the_core_fields() -> None:
    """One JSON object: ts (UTC, ms), level, logger and the formatted message."""
    out = json.loads(JsonFormatter().format(record("%d items", 3)))
    assert out["level"] == "INFO"
    assert out["logger"] == "app"
    assert out["message"] == "3 items"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(out["ts"]))
    assert "trace_id" not in out


def test_json_trace_id_from_the_record() -> None:
    """An explicit trace_id on the record is written."""
    out = json.loads(JsonFormatter().format(record(trace_id="4bf92f3577b34da6a3ce929d0e0e4736")))
    assert out["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_json_trace_id_from_the_context() -> None:
    """Without one on the record, the current request's TRACE_ID is written."""
    token = TRACE_ID.set("0af7651916cd43dd8448eb211c80319c")
    try:
        out = json.loads(JsonFormatter().format(record()))
    finally:
        TRACE_ID.reset(token)
    assert out["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


def test_json_exception_is_a_field() -> None:
    """A logged exception becomes an "exception" field with the traceback."""
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        rec = logging.LogRecord("app", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    out = json.loads(JsonFormatter().format(rec))
    assert "Traceback" in str(out["exception"])
    assert "RuntimeError: boom" in str(out["exception"])


def test_json_extras_and_unencodable_values() -> None:
    """Extra fields are written; values JSON cannot hold are written as text."""
    out = json.loads(JsonFormatter().format(record(route="/a", obj=object())))
    assert out["route"] == "/a"
    assert str(out["obj"]).startswith("<object object")


def test_console_line_lists_extras_and_trace_id() -> None:
    """The console line ends with key=value pairs and the trace id."""
    text = ConsoleFormatter().format(record(route="/a", trace_id="abc"))
    assert text.endswith("app: hello route=/a trace_id=abc")


# --- redaction filter and configure_logging -----------------------------------------------------


def test_filter_scrubs_the_rendered_message() -> None:
    """A secret passed as a %-argument is scrubbed from the message."""
    rec = record("connecting with password=%s", "hunter2")
    RedactionFilter().filter(rec)
    assert rec.getMessage() == f"connecting with password={REDACTED}"


def test_filter_redacts_extras() -> None:
    """Secret-named extras and secret entries of mapping extras are replaced."""
    rec = record(api_key="abc", headers={"authorization": "Bearer abcdefgh1", "accept": "json"}, n=3)
    RedactionFilter().filter(rec)
    assert rec.__dict__["api_key"] == REDACTED
    assert rec.__dict__["headers"] == {"authorization": REDACTED, "accept": "json"}
    assert rec.__dict__["n"] == 3


def test_configured_logging_never_writes_secrets(configured: tuple[logging.Logger, io.StringIO]) -> None:
    """Through configure_logging, message args, extras and tracebacks are all redacted."""
    logger, stream = configured
    logger.info("auth with token=%s", "s3cr3t-a")
    logger.info("request", extra={"headers": {"cookie": "sid=s3cr3t-b"}, "password": "s3cr3t-c"})
    try:
        raise ConnectionError("cannot reach redis://:s3cr3t-d@cache:6379")
    except ConnectionError:
        logger.exception("redis down")
    text = stream.getvalue()
    assert "s3cr3t" not in text
    out = lines(stream)
    assert len(out) == 3
    assert out[2]["message"] == "redis down"
    assert "ConnectionError" in str(out[2]["exception"])


def test_configure_logging_replaces_its_own_handler_only(request: pytest.FixtureRequest) -> None:
    """Calling it twice leaves one seawall handler and keeps handlers installed by others."""
    name = f"seawall-cfg.{request.node.name}"
    logger = logging.getLogger(name)
    other = ListHandler()
    logger.addHandler(other)
    try:
        first = configure_logging(stream=io.StringIO(), logger=name)
        second = configure_logging(format="console", stream=io.StringIO(), logger=name, level=logging.WARNING)
        assert logger.handlers == [other, second]
        assert first not in logger.handlers
        assert isinstance(second.formatter, ConsoleFormatter)
        assert logger.level == logging.WARNING
    finally:
        for h in list(logger.handlers):
            logger.removeHandler(h)


def test_configure_logging_root_by_default() -> None:
    """Without a logger name, the root logger gets the handler."""
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(stream=io.StringIO(), level="warning")
    try:
        assert handler in root.handlers
        assert root.level == logging.WARNING
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"format": "xml"}, "format must be 'json' or 'console'"), ({"level": "LOUD"}, "unknown log level")],
)
def test_configure_logging_validates(kwargs: dict[str, str], message: str) -> None:
    """An unknown format or level is rejected before anything changes."""
    with pytest.raises(ValueError, match=message):
        configure_logging(logger="seawall-cfg.invalid", **kwargs)  # type: ignore[arg-type]


# --- AccessLog ----------------------------------------------------------------------------------


def test_access_log_record_fields(captured: tuple[logging.Logger, ListHandler]) -> None:
    """A sampled request is logged with method, route template, status, duration and extras."""
    logger, handler = captured
    access = AccessLog(logger=logger)
    assert access.log(method="GET", route="/users/{id}", status=200, duration=0.0042, client="10.0.0.1")
    (rec,) = handler.records
    assert rec.getMessage() == "GET /users/{id} 200 4.2ms"
    fields = rec.__dict__
    assert (fields["method"], fields["route"], fields["status"]) == ("GET", "/users/{id}", 200)
    assert fields["duration_ms"] == 4.2
    assert fields["sample_rate"] == 1.0
    assert fields["client"] == "10.0.0.1"


def test_access_log_sampling_follows_the_rng(captured: tuple[logging.Logger, ListHandler]) -> None:
    """With a seeded rng, exactly the draws below the rate are logged."""
    logger, handler = captured
    access = AccessLog(sample_rate=0.25, rng=random.Random(7), logger=logger)
    twin = random.Random(7)
    expected = sum(twin.random() < 0.25 for _ in range(2000))
    logged = sum(access.log(method="GET", route="/a", status=200, duration=0.001) for _ in range(2000))
    assert logged == expected == len(handler.records)
    assert access.statistics().logged == expected
    assert access.statistics().skipped == 2000 - expected


def test_access_log_always_logs_server_errors(captured: tuple[logging.Logger, ListHandler]) -> None:
    """At a sample rate of 0, only 5xx are logged (and not even those without always_errors)."""
    logger, handler = captured
    access = AccessLog(sample_rate=0.0, logger=logger)
    assert not access.log(method="GET", route="/a", status=404, duration=0.001)
    assert access.log(method="GET", route="/a", status=503, duration=0.001)
    quiet = AccessLog(sample_rate=0.0, always_errors=False, logger=logger)
    assert not quiet.log(method="GET", route="/a", status=503, duration=0.001)
    assert [r.__dict__["status"] for r in handler.records] == [503]


def test_access_log_reserved_extra_names_are_prefixed(captured: tuple[logging.Logger, ListHandler]) -> None:
    """An extra called "message" cannot break logging; it is renamed."""
    logger, handler = captured
    AccessLog(logger=logger).log(method="GET", route="/a", status=200, duration=0.0, message="x")
    assert handler.records[0].__dict__["field_message"] == "x"


def test_access_log_disabled_logger_logs_nothing(captured: tuple[logging.Logger, ListHandler]) -> None:
    """Above INFO, nothing is emitted."""
    logger, handler = captured
    logger.setLevel(logging.WARNING)
    assert not AccessLog(logger=logger).log(method="GET", route="/a", status=200, duration=0.0)
    assert handler.records == []


@pytest.mark.parametrize("rate", [-0.1, 1.1, math.nan])
def test_access_log_rate_is_validated(rate: float) -> None:
    """sample_rate must be a probability."""
    with pytest.raises(ValueError, match=r"sample_rate must be in \[0, 1\]"):
        AccessLog(sample_rate=rate)


# --- SlowRequestLog -----------------------------------------------------------------------------


def test_slow_request_is_logged_at_or_above_threshold(captured: tuple[logging.Logger, ListHandler]) -> None:
    """Under the threshold nothing; at or over it a WARNING with route, method and duration."""
    logger, handler = captured
    slow = SlowRequestLog(threshold=0.5, logger=logger, clock=MockClock())
    assert not slow.observe(route="/r", method="GET", duration=0.499)
    assert slow.observe(route="/r", method="GET", duration=0.5, status=200, trace_id="abc")
    (rec,) = handler.records
    assert rec.levelno == logging.WARNING
    assert rec.getMessage() == "slow request: GET /r took 500.0 ms (threshold 500.0 ms)"
    assert (rec.__dict__["route"], rec.__dict__["duration_ms"], rec.__dict__["trace_id"]) == (
        "/r",
        500.0,
        "abc",
    )


def test_slow_request_lines_are_capped(captured: tuple[logging.Logger, ListHandler]) -> None:
    """With max_per_second=2, a burst of 5 logs 2 and suppresses 3; a second later 2 more pass."""
    logger, handler = captured
    clock = MockClock()
    slow = SlowRequestLog(threshold=0.1, max_per_second=2, clock=clock, logger=logger)
    assert [slow.observe(route="/r", method="GET", duration=1.0) for _ in range(5)] == [True] * 2 + [
        False
    ] * 3
    clock.jump(1.0)
    assert [slow.observe(route="/r", method="GET", duration=1.0) for _ in range(3)] == [True, True, False]
    assert slow.statistics().logged == len(handler.records) == 4
    assert slow.statistics().suppressed == 4


def test_slow_request_without_cap_logs_everything(captured: tuple[logging.Logger, ListHandler]) -> None:
    """max_per_second=None never suppresses."""
    logger, handler = captured
    slow = SlowRequestLog(threshold=0.1, max_per_second=None, logger=logger)
    for _ in range(50):
        slow.observe(route="/r", method="GET", duration=1.0)
    assert len(handler.records) == 50


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0}, "threshold must be > 0"),
        ({"threshold": math.inf}, "threshold must be > 0"),
        ({"threshold": 1, "max_per_second": 0}, "max_per_second must be > 0"),
        ({"threshold": 1, "max_per_second": math.nan}, "max_per_second must be > 0"),
    ],
)
def test_slow_request_log_validates(kwargs: dict[str, float], message: str) -> None:
    """threshold and max_per_second must be positive and finite."""
    with pytest.raises(ValueError, match=message):
        SlowRequestLog(**kwargs)
