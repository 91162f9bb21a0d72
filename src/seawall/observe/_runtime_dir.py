"""Worker indexes and runtime snapshots shared between the worker processes of one service.

With several workers (``seawall run --workers N``) a scrape reaches one of them; each worker
leaves its :class:`RuntimeSnapshot` in a :class:`RuntimeDir`, and the worker that answers exports
every live worker's series under a bounded ``worker`` label (an index claimed with a file lock,
reused when a worker is replaced; never the pid).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, final

import msgspec

if sys.platform != "win32":
    import fcntl

__all__ = ["GenerationSnapshot", "RuntimeDir", "RuntimeSnapshot"]


class GenerationSnapshot(msgspec.Struct, array_like=True, frozen=True):
    """One generation's GC counters in a :class:`RuntimeSnapshot`."""

    generation: int
    collections: int
    collected: int
    uncollectable: int
    pause_sum: float
    pause_counts: list[int]


class RuntimeSnapshot(msgspec.Struct, frozen=True):
    """One worker's runtime figures, as written to a :class:`RuntimeDir` and exported per worker.

    Histogram counts are per bucket (not cumulative), with the ``+Inf`` bucket last; ``None``
    marks a figure the worker could not read (no loop lag sampler, no running loop, no psutil).
    """

    worker: int
    gc_buckets: list[float]
    gc: list[GenerationSnapshot]
    threads: int
    tasks: int | None
    lag_buckets: list[float] | None
    lag_counts: list[int] | None
    lag_sum: float
    cpu_seconds: float | None
    resident_bytes: int | None
    open_fds: int | None
    max_fds: int | None


@final
class RuntimeDir:
    """A directory where worker processes claim a worker index and share runtime snapshots.

    :meth:`claim` takes the smallest free index with an exclusive ``flock`` on
    ``worker-<i>.lock``; the kernel drops the lock when the process exits, so a replacement
    worker reuses the index and the ``worker`` label stays bounded by the number of workers alive
    at once (a supervisor that starts the new worker before stopping the old one briefly needs
    one more). :meth:`read_live` returns the snapshots of workers whose lock is still held, so a
    dead worker's series disappear instead of freezing.

    Use a directory of its own (e.g. ``<SEAWALL_METRICS_DIR>/runtime``): files here are not
    request-metric snapshots.
    """

    __slots__ = ("_decoder", "_encoder", "_lock", "index", "path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(RuntimeSnapshot)
        self._lock: IO[bytes] | None = None
        #: The claimed worker index, or ``None`` before :meth:`claim`.
        self.index: int | None = None

    def claim(self) -> int:
        """Claim the smallest free worker index for this process and return it (idempotent)."""
        if self.index is not None:
            return self.index
        if sys.platform == "win32":  # pragma: no cover - no flock: one worker
            self.index = 0
            return 0
        i = 0
        while True:
            f = (self.path / f"worker-{i}.lock").open("ab")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                i += 1
                continue
            self._lock, self.index = f, i
            return i

    def release(self) -> None:
        """Give the index up (at shutdown); the kernel does the same when the process exits."""
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()
        self.index = None

    def _alive(self, index: int) -> bool:
        if sys.platform == "win32":  # pragma: no cover - no flock: one worker
            return False
        try:
            f = (self.path / f"worker-{index}.lock").open("rb")
        except OSError:
            return False
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True  # someone holds it exclusively: that worker is alive
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    def write(self, snapshot: RuntimeSnapshot) -> None:
        """Publish a worker's snapshot (atomically: readers never see a half-written file)."""
        final_path = self.path / f"worker-{snapshot.worker}.msgpack"
        tmp = self.path / f"worker-{snapshot.worker}.{os.getpid()}.tmp"
        tmp.write_bytes(self._encoder.encode(snapshot))
        tmp.replace(final_path)

    def read_live(self, *, exclude: int | None = None) -> list[RuntimeSnapshot]:
        """The latest snapshots of the workers that are alive, except ``exclude``, by index."""
        out = []
        for f in sorted(self.path.glob("worker-*.msgpack")):
            try:
                index = int(f.stem.removeprefix("worker-"))
            except ValueError:
                continue
            if index == exclude or not self._alive(index):
                continue
            try:
                snapshot = self._decoder.decode(f.read_bytes())
            except (OSError, msgspec.DecodeError):
                continue  # being replaced right now; its next snapshot will do
            if snapshot.worker == index:
                out.append(snapshot)
        return sorted(out, key=lambda s: s.worker)

    def __repr__(self) -> str:
        return f"RuntimeDir({str(self.path)!r}, index={self.index!r})"
