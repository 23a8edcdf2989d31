"""The events benchmark's child processes: the receiver, the applier, the load generator, and a
health probe of the receiver.

Each runs as the bench's other children do (``sys.executable -m …``), with the webhook secret
passed through the environment only; output goes to a temporary file, never to a pipe nobody
drains (``serve --apply`` prints one line per repository round).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import orjson

from prmon_pipeline.cli.webhooks import SECRET_VARIABLE, STARTED, started_url

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _environment(database_url: str, secret: str, api_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PRMON_DATABASE_URL"] = database_url
    env[SECRET_VARIABLE] = secret
    if api_url is not None:
        env["PRMON_GITHUB_API_URL"] = api_url
    return env


class Child:
    """A child process whose output goes to a temporary file."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.output: IO[bytes] = tempfile.NamedTemporaryFile(prefix="prmon-bench-")  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 - our own modules, fixed arguments
            command, stdout=self.output, stderr=subprocess.STDOUT, env=env
        )

    def text(self) -> str:
        return Path(self.output.name).read_text(errors="replace")

    def wait_for(self, marker: str, timeout: float = 60.0) -> str:
        """The first output line that starts with ``marker``; RuntimeError if none comes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.text().splitlines():
                if line.startswith(marker):
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        tail = self.text().strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(self.process.args)} did not start: {tail}")  # type: ignore[arg-type]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (``/proc/PID/stat``)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up, no commit of what was in flight."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.output.close()


@contextmanager
def receiver(
    database_url: str, secret: str, *, apply: bool = False, api_url: str | None = None
) -> Iterator[tuple[Child, str]]:
    """``prmon webhooks serve --port 0 [--apply]`` and its delivery URL."""
    command = [sys.executable, "-m", "prmon_pipeline.cli", "webhooks", "serve", "--port", "0"]
    child = Child(
        command + (["--apply"] if apply else []), _environment(database_url, secret, api_url)
    )
    try:
        line = child.wait_for(STARTED)
        yield child, started_url(line)
    finally:
        child.stop()


def start_applier(
    database_url: str, api_url: str, module: str = "prmon_pipeline.bench.event_applier"
) -> Child:
    """``bench.event_applier`` (the continuous applier alone) or ``bench.event_sensor``,
    ready when it says so."""
    command = [
        sys.executable,
        "-m",
        module,
        f"--database-url={database_url}",
        f"--api-url={api_url}",
    ]
    child = Child(command, _environment(database_url, "unused-by-the-applier", api_url))
    child.wait_for("applying")
    return child


def send(mode: str, url: str, secret: str, *arguments: str) -> dict[str, object]:
    """Run ``bench.event_sender MODE`` to completion and return its figures."""
    command = [sys.executable, "-m", "prmon_pipeline.bench.event_sender", mode, f"--url={url}"]
    env = dict(os.environ)
    env[SECRET_VARIABLE] = secret
    done = subprocess.run(  # noqa: S603
        [*command, *arguments], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"event sender failed: {done.stderr.strip().splitlines()[-1:]}")
    figures: dict[str, object] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return figures


class HealthProbe:
    """``GET /healthz`` every ``interval`` seconds in a thread: answers, failures, last counters."""

    def __init__(self, delivery_url: str, interval: float = 0.2) -> None:
        self.url = delivery_url.rsplit("/webhooks/", 1)[0] + "/healthz"
        self.interval = interval
        self.ok = 0
        self.failed = 0
        self.counters: dict[str, object] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-probe", daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._probe()  # the counters as they stand at the end

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._probe()

    def _probe(self) -> None:
        try:
            answer = httpx.get(self.url, timeout=5.0)
            answer.raise_for_status()
        except httpx.HTTPError:
            self.failed += 1
            return
        self.ok += 1
        self.counters = answer.json()
