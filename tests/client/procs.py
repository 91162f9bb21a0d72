"""Real ``seawall run`` processes on loopback for the outbound-call integration tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SEAWALL = Path(sys.executable).parent / "seawall"


class Running:
    """One ``seawall run`` process (its own process group, so the workers die with it)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._log = log

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL the server and its workers at once (a crash, not a drain)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def write_config(directory: Path, name: str, dependencies: dict[str, dict[str, object]]) -> Path:
    """A seawall.yaml declaring ``dependencies``."""
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"dependencies": dependencies}))
    return path


def upstream(*ports: int, **settings: object) -> dict[str, object]:
    """A ``dependencies:`` entry on loopback ``ports``."""
    return {"instances": [f"127.0.0.1:{p}" for p in ports], **settings}


@contextlib.contextmanager
def seawall_run(
    target: str,
    port: int,
    config: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 15.0,
) -> Iterator[Running]:
    """``seawall run TARGET --port PORT [--config CONFIG]`` from the repo root, until /healthz answers."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_")}
    environ.update(env or {})
    args = [str(SEAWALL), "run", target, "--port", str(port)]
    if config is not None:
        args += ["--config", str(config)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            args,
            cwd=REPO,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        server = Running(process, port, log)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    pytest.fail(f"seawall run {target} exited with {process.returncode}:\n{server.log()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"seawall run {target} not healthy after {timeout}s:\n{server.log()}")
                time.sleep(0.05)
            yield server
        finally:
            server.stop()
