"""Structured logs: JSON or console output, secret redaction, sampled access and slow-request logs.

Everything is plain stdlib :mod:`logging` (no structlog): :func:`configure_logging` installs one
handler on the root logger with a :class:`JsonFormatter` (or :class:`ConsoleFormatter`) and a
:class:`RedactionFilter`, so records from seawall, the server and the application all come out
alike. :class:`Redactor` is the one place that decides what a secret looks like; the debug
``config`` endpoint uses it too.

The request path never formats a log line it does not emit: :class:`AccessLog` draws its sample
first, :class:`SlowRequestLog` compares one float.
"""

from __future__ import annotations

import logging
import math
import random
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Final, Literal, Protocol, final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from seawall._clock import MONOTONIC, Clock
from seawall.errors import TRACE_ID as _TRACE_ID
from seawall.limit import TokenBucket

__all__ = [
    "REDACTED",
    "SECRET_FIELDS",
    "TRACE_ID",
    "AccessLog",
    "AccessLogStatistics",
    "ConsoleFormatter",
    "JsonFormatter",
    "RedactionFilter",
    "Redactor",
    "SlowRequestLog",
    "SlowRequestStatistics",
    "configure_logging",
]

#: What a redacted value is replaced with.
REDACTED: Final = "<redacted>"

#: Field names whose values are secrets, matched against the end of a normalised name
#: (``apiKey``, ``X-Api-Key`` and ``stripe_api_key`` all end in ``api_key``). A bare ``key`` is
#: deliberately absent: seawall's own config uses ``key`` / ``client_key`` for rate-limit key
#: specs (``"ip"``, ``"header:x-user"``), which operators need to see.
SECRET_FIELDS: Final = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "secret_key",
    "signing_key",
    "encryption_key",
    "credential",
    "credentials",
    "dsn",
    "authorization",
    "proxy_authorization",
    "cookie",
    "cookies",
    "set_cookie",
    "session",
    "session_id",
)

#: The trace id of the request being handled, for log records and error bodies; tracing sets it per
#: request (the same object as :data:`seawall.errors.TRACE_ID`).
TRACE_ID: Final = _TRACE_ID

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")
#: userinfo of a URL: ``scheme://user:password@`` (the password is group "pw").
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:]*:)(?P<pw>[^/@\s]*)(?=@)")
#: ``Bearer <credential>``; the credential must look like one (8+ token characters) so that prose
#: such as "basic setup" is left alone.
_AUTH_SCHEME = re.compile(r"(?i)\b(?P<scheme>bearer|basic|digest)\s+[A-Za-z0-9._~+/=-]{8,}")
_COOKIE_LINE = re.compile(r"(?im)\b(?P<name>(?:set-)?cookie)\s*:\s*[^\r\n]*")
_CACHE_LIMIT: Final = 4096


def _normalise(name: str) -> str:
    return _NON_WORD.sub("_", _CAMEL.sub("_", name).lower()).strip("_")


@final
class Redactor:
    """Decides which fields are secret and blanks them out of mappings, URLs and free text.

    A field is secret when its normalised name (lower snake case: ``apiKey`` → ``api_key``,
    ``X-Auth-Token`` → ``x_auth_token``) equals one of ``fields`` or ends with ``_`` + one of
    them. Strings anywhere that hold a URL with a password (``redis://user:pw@host``) keep the
    URL but lose the password, and query parameters with secret names lose their values.

    Args:
        fields: secret field names (any case or separator style).
        marker: the replacement text.

    Example::

        Redactor().redact({"redis_url": "redis://:hunter2@cache:6379/0", "api_key": "abc"})
        # {"redis_url": "redis://:<redacted>@cache:6379/0", "api_key": "<redacted>"}
    """

    __slots__ = ("_cache", "_fields", "_free_text", "marker")

    def __init__(self, *, fields: Iterable[str] = SECRET_FIELDS, marker: str = REDACTED) -> None:
        normalised = {_normalise(f) for f in fields}
        normalised.discard("")
        if not normalised:
            raise ValueError("fields must name at least one field")
        self._fields = frozenset(normalised)
        self.marker = marker
        self._cache: dict[str, bool] = {}
        # ``name=value`` / ``name: value`` / ``'name': 'value'`` in free text, for any secret name
        # written with ``_``, ``-`` or nothing between its words.
        names = "|".join(
            sorted((re.escape(f).replace("_", "[_-]?") for f in self._fields), key=len, reverse=True)
        )
        self._free_text = re.compile(
            rf"(?i)(?P<name>\b[\w-]*(?:{names})\b['\"]?\s*[:=]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&}}\]]+)"
        )

    @property
    def fields(self) -> frozenset[str]:
        """The normalised secret field names."""
        return self._fields

    def is_secret(self, name: str) -> bool:
        """Whether a field called ``name`` holds a secret."""
        hit = self._cache.get(name)
        if hit is None:
            norm = _normalise(name)
            hit = norm in self._fields or any(norm.endswith("_" + f) for f in self._fields)
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[name] = hit
        return hit

    def redact(self, obj: Any) -> Any:
        """A copy of ``obj`` (mappings, lists, tuples, strings) with secrets replaced.

        Values of secret fields become the marker (``None`` stays ``None``: "not set" is no
        secret); strings are passed through :meth:`redact_url`. Other values are returned as is.
        """
        if isinstance(obj, Mapping):
            return {
                k: (self.marker if v is not None else None)
                if isinstance(k, str) and self.is_secret(k)
                else self.redact(v)
                for k, v in obj.items()
            }
        if isinstance(obj, list | tuple):
            return [self.redact(v) for v in obj]
        if isinstance(obj, str):
            return self.redact_url(obj)
        return obj

    def redact_url(self, text: str) -> str:
        """``text`` with the password of any URL in it, and secret query parameters, replaced."""
        if "://" not in text:
            return text
        text = _URL_PASSWORD.sub(lambda m: m["head"] + self.marker, text)
        if "?" in text and " " not in text:
            try:
                parts = urlsplit(text)
            except ValueError:
                return text
            if parts.query:
                pairs = parse_qsl(parts.query, keep_blank_values=True)
                query = [(k, self.marker if self.is_secret(k) else v) for k, v in pairs]
                text = urlunsplit(parts._replace(query=urlencode(query, safe="<>")))
        return text

    def scrub(self, text: str) -> str:
        """Free text with ``secret=value`` pairs, auth schemes, cookie lines and URL passwords hidden.

        Best effort, for log messages and tracebacks: structured fields are redacted exactly by
        :meth:`redact`, free text only where it looks like one of those patterns.
        """
        text = self.redact_url(text)
        text = _COOKIE_LINE.sub(lambda m: f"{m['name']}: {self.marker}", text)
        text = _AUTH_SCHEME.sub(lambda m: f"{m['scheme']} {self.marker}", text)
        return self._free_text.sub(lambda m: m["name"] + self.marker, text)

    def __repr__(self) -> str:
        return f"Redactor(fields={sorted(self._fields)!r})"


# --- formatters ---------------------------------------------------------------------------------

#: LogRecord's own attributes: an ``extra`` field may not shadow them.
_RECORD_ATTRS: Final = frozenset(
    {*logging.LogRecord("", 0, "", 0, "", (), None).__dict__, "message", "asctime"}
)
#: Attributes that are not user "extra" fields (``trace_id`` has its own place in the output).
_NOT_EXTRA: Final = _RECORD_ATTRS | {"taskName", "trace_id"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _NOT_EXTRA and not k.startswith("_")}


def _trace_id(record: logging.LogRecord) -> str | None:
    trace_id = getattr(record, "trace_id", None)
    return str(trace_id) if trace_id else TRACE_ID.get()


@final
class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, then ``trace_id``,
    extra fields, ``exception`` (the formatted traceback) and ``stack`` when present.

    ``trace_id`` comes from the record (``extra={"trace_id": ...}``) or else :data:`TRACE_ID`.
    ``ts`` is the record's creation time in UTC, RFC 3339 with milliseconds. Values JSON cannot
    hold are written as ``str(value)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._encode = msgspec.json.Encoder(enc_hook=str).encode

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if trace_id := _trace_id(record):
            out["trace_id"] = trace_id
        for k, v in _extras(record).items():
            out.setdefault(k, v)
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
            out["exception"] = record.exc_text
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        try:
            return self._encode(out).decode()
        except (TypeError, ValueError, msgspec.EncodeError):  # e.g. non-string keys in an extra
            return self._encode({k: v if isinstance(v, str) else repr(v) for k, v in out.items()}).decode()


def _pair(key: str, value: Any) -> str:
    return f"{key}={value!r}" if isinstance(value, str) and " " in value else f"{key}={value}"


@final
class ConsoleFormatter(logging.Formatter):
    """Human-readable lines: ``time LEVEL logger: message key=value ... trace_id=...``, then the
    traceback on the following lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record)
        pairs = [
            f"{k}={v!r}" if isinstance(v, str) and " " in v else f"{k}={v}"
            for k, v in _extras(record).items()
        ]
        if trace_id := _trace_id(record):
            pairs.append(f"trace_id={trace_id}")
        return f"{line} {' '.join(pairs)}" if pairs else line


# --- redaction filter ---------------------------------------------------------------------------


@final
class RedactionFilter(logging.Filter):
    """Removes secrets from every record before any handler formats it.

    - the message is rendered once and scrubbed (``password=...``, ``Authorization: Bearer ...``,
      cookie lines, URL passwords), so ``%``-args cannot smuggle a secret through;
    - extra fields with secret names become :data:`REDACTED`; mapping extras (``headers=...``)
      lose their secret entries;
    - the traceback text is rendered and scrubbed (exception messages often carry URLs).

    Attach it to a handler (as :func:`configure_logging` does) so it sees records from every
    logger. It never drops a record.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor if redactor is not None else Redactor()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self.redactor
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # malformed %-args: leave it to the formatter's error path
            message = None
        if message is not None:
            record.msg, record.args = redactor.scrub(message), None
        for name, value in _extras(record).items():
            if redactor.is_secret(name):
                setattr(record, name, REDACTED if value is not None else None)
            elif isinstance(value, Mapping | list | tuple | str):
                setattr(record, name, redactor.redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redactor.scrub(record.exc_text)
        return True


# --- configuration ------------------------------------------------------------------------------


class _SeawallHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` owns (and replaces when called again)."""


def configure_logging(
    *,
    format: Literal["json", "console"] = "json",
    level: int | str = "INFO",
    stream: IO[str] | None = None,
    secret_fields: Iterable[str] = SECRET_FIELDS,
    logger: str | None = None,
) -> logging.Handler:
    """Send logs to ``stream`` (default stderr) as JSON lines or console text, secrets redacted.

    Installs one handler on the root logger (or ``logger``) and sets its level; calling it
    again replaces that handler, leaving handlers installed by others alone. This is what
    ``seawall run --log-format json|console`` calls in each worker.

    Args:
        format: ``"json"`` (one object per line, for log shippers) or ``"console"``.
        level: a level name (``"DEBUG"``, ``"info"``) or number.
        stream: where to write; default ``sys.stderr``.
        secret_fields: field names whose values are never logged (see :data:`SECRET_FIELDS`).
        logger: the logger to configure; default the root logger.

    Returns:
        The installed handler.

    Example::

        configure_logging(format="json", level="INFO")
        logging.getLogger("app").info("started", extra={"port": 8000})
    """
    if format not in ("json", "console"):
        raise ValueError(f"format must be 'json' or 'console', got {format!r}")
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if not isinstance(number, int):
            raise ValueError(f"unknown log level {level!r}")
        level = number
    target = logging.getLogger(logger)
    for old in [h for h in target.handlers if isinstance(h, _SeawallHandler)]:
        target.removeHandler(old)
        old.close()
    handler = _SeawallHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else ConsoleFormatter())
    handler.addFilter(RedactionFilter(Redactor(fields=secret_fields)))
    target.addHandler(handler)
    target.setLevel(level)
    return handler


# --- access and slow-request logs ---------------------------------------------------------------


class _Random(Protocol):
    def random(self) -> float: ...


@dataclass(frozen=True, slots=True)
class AccessLogStatistics:
    """Counts of :class:`AccessLog`: requests ``logged`` and ``skipped`` by sampling."""

    logged: int
    skipped: int


def _check_extra(fields: Mapping[str, Any]) -> dict[str, Any]:
    # LogRecord refuses extras that shadow its own attributes (KeyError); never fail a request
    return {k if k not in _RECORD_ATTRS else f"field_{k}": v for k, v in fields.items()}


@final
class AccessLog:
    """A sampled access log: one INFO record per sampled request on ``seawall.access``.

    Each request is logged with probability ``sample_rate`` (drawn from ``rng``); with
    ``always_errors`` every 5xx is logged whatever the draw. Records carry ``method``, ``route``
    (the template, never the raw path: query strings hold tokens), ``status``, ``duration_ms``
    and ``sample_rate`` (so a log pipeline can weight counts by ``1 / sample_rate``), plus any
    extra fields given. An unsampled request costs one ``rng.random()`` call.

    Args:
        sample_rate: probability in [0, 1] that a request is logged.
        rng: the randomness (``random.Random``-like); seed it in tests.
        always_errors: log every 5xx regardless of sampling.
        logger: where to log; default ``logging.getLogger("seawall.access")``.

    Example::

        access = AccessLog(sample_rate=0.01)
        access.log(method="GET", route="/users/{id}", status=200, duration=0.0042)
    """

    __slots__ = ("_always_errors", "_logged", "_logger", "_random", "_rate", "_skipped")

    def __init__(
        self,
        *,
        sample_rate: float = 1.0,
        rng: _Random | None = None,
        always_errors: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:  # also rejects NaN
            raise ValueError("sample_rate must be in [0, 1]")
        self._rate = sample_rate
        self._random = (rng if rng is not None else random.Random()).random
        self._always_errors = always_errors
        self._logger = logger if logger is not None else logging.getLogger("seawall.access")
        self._logged = 0
        self._skipped = 0

    @property
    def sample_rate(self) -> float:
        """The probability that a request is logged."""
        return self._rate

    def log(self, *, method: str, route: str, status: int, duration: float, **fields: Any) -> bool:
        """Log one finished request if it is sampled; return whether it was logged.

        ``duration`` is in seconds; ``fields`` become extra record fields.
        """
        rate = self._rate
        sampled = rate >= 1.0 or (rate > 0.0 and self._random() < rate)
        if not sampled and not (self._always_errors and status >= 500):
            self._skipped += 1
            return False
        if not self._logger.isEnabledFor(logging.INFO):
            return False
        self._logged += 1
        extra = {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(duration * 1000.0, 3),
            "sample_rate": rate,
        }
        if fields:
            extra.update(_check_extra(fields))
        self._logger.info("%s %s %d %.1fms", method, route, status, duration * 1000.0, extra=extra)
        return True

    def statistics(self) -> AccessLogStatistics:
        """Counts so far."""
        return AccessLogStatistics(self._logged, self._skipped)

    def __repr__(self) -> str:
        return f"AccessLog(sample_rate={self._rate!r}, logged={self._logged!r})"


@dataclass(frozen=True, slots=True)
class SlowRequestStatistics:
    """Counts of :class:`SlowRequestLog`: slow requests ``logged``, and ``suppressed`` by the
    rate cap."""

    logged: int
    suppressed: int


@final
class SlowRequestLog:
    """Logs a WARNING on ``seawall.slow`` for every request slower than ``threshold``.

    The record names the route template, method, status and duration (``duration_ms``,
    ``threshold_ms``) and the trace id when there is one, so the slow request can be found in
    the traces. During an incident every request may be slow: ``max_per_second`` caps the lines
    with a token bucket (burst = one second's worth) and counts the rest as suppressed.

    Args:
        threshold: seconds at or above which a request is slow (> 0).
        max_per_second: most slow-request lines per second; ``None`` for no cap.
        clock: the time source for the cap.
        logger: where to log; default ``logging.getLogger("seawall.slow")``.

    Example::

        slow = SlowRequestLog(threshold=0.5)
        slow.observe(route="/report", method="GET", duration=0.81, status=200)
    """

    __slots__ = ("_bucket", "_logged", "_logger", "_suppressed", "_threshold")

    def __init__(
        self,
        *,
        threshold: float,
        max_per_second: float | None = 10.0,
        clock: Clock = MONOTONIC,
        logger: logging.Logger | None = None,
    ) -> None:
        if not (math.isfinite(threshold) and threshold > 0):
            raise ValueError("threshold must be > 0 and finite")
        if max_per_second is not None and not (math.isfinite(max_per_second) and max_per_second > 0):
            raise ValueError("max_per_second must be > 0 and finite")
        self._threshold = threshold
        self._bucket = (
            None
            if max_per_second is None
            else TokenBucket(rate=max_per_second, burst=max(1, math.ceil(max_per_second)), clock=clock)
        )
        self._logger = logger if logger is not None else logging.getLogger("seawall.slow")
        self._logged = 0
        self._suppressed = 0

    @property
    def threshold(self) -> float:
        """Seconds at or above which a request is slow."""
        return self._threshold

    def observe(
        self,
        *,
        route: str,
        method: str,
        duration: float,
        status: int | None = None,
        trace_id: str | None = None,
        **fields: Any,
    ) -> bool:
        """Log the request if it was slow (and the cap allows); return whether it was logged."""
        if duration < self._threshold:
            return False
        if self._bucket is not None and not self._bucket.try_acquire():
            self._suppressed += 1
            return False
        self._logged += 1
        extra: dict[str, Any] = {
            "route": route,
            "method": method,
            "status": status,
            "duration_ms": round(duration * 1000.0, 3),
            "threshold_ms": round(self._threshold * 1000.0, 3),
        }
        if trace_id is not None:
            extra["trace_id"] = trace_id
        if fields:
            extra.update(_check_extra(fields))
        self._logger.warning(
            "slow request: %s %s took %.1f ms (threshold %.1f ms)",
            method,
            route,
            duration * 1000.0,
            self._threshold * 1000.0,
            extra=extra,
        )
        return True

    def statistics(self) -> SlowRequestStatistics:
        """Counts so far."""
        return SlowRequestStatistics(self._logged, self._suppressed)

    def __repr__(self) -> str:
        return f"SlowRequestLog(threshold={self._threshold!r}, logged={self._logged!r})"
