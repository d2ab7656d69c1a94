"""Servers as real processes on 127.0.0.1: started in their own process group, waited
for, measured (resident memory of the whole group) and always stopped.

    with serve_bundle(bundle_dir, log_file=...) as server:   # the course's service
        httpx.post(server.url + "/predict", json=district)

Every server this module starts is also remembered until it is stopped, and
:func:`stop_all` stops whatever is left (it runs at interpreter exit too), so a failing
lesson or test leaves nothing behind; :func:`leftover_servers` lists what still runs.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_course import config
from mlops_course.errors import MlopsCourseError

HOST = "127.0.0.1"
_RUNNING: dict[int, subprocess.Popen[Any]] = {}


class ServerError(MlopsCourseError):
    """A server did not start, did not answer, or could not be stopped."""


def free_port(host: str = HOST) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def group_pids(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``, read from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def rss_mb(pgid: int) -> float:
    """Resident memory (MB, 10^6 bytes) of every process in group ``pgid``, summed."""
    total_kb = 0
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb * 1024 / 1e6


def stop_group(process: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after ``timeout_s``."""
    pgid = process.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.05)
            if process.poll() is not None and not group_pids(pgid):
                _RUNNING.pop(pgid, None)
                return
    _RUNNING.pop(pgid, None)
    if group_pids(pgid):
        raise ServerError(f"could not stop process group {pgid} ({group_pids(pgid)} still "
                          f"run). Fix: kill -9 -{pgid}")


def stop_all() -> None:
    """Stop every server this process started and has not stopped yet."""
    for process in list(_RUNNING.values()):
        stop_group(process)


def leftover_servers() -> list[int]:
    """Process groups this process started that still have live members."""
    return [pgid for pgid in _RUNNING if group_pids(pgid)]


atexit.register(stop_all)


@dataclass(frozen=True)
class RunningServer:
    """A started server: address, process group, log file and start-up time."""

    name: str
    url: str
    pid: int
    log_path: Path
    startup_s: float

    def rss_mb(self) -> float:
        return rss_mb(self.pid)


def answers_ok(url: str) -> bool:
    """Whether ``url`` answers 200 within a second (a server's readiness probe)."""
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


@contextlib.contextmanager
def run_server(
    name: str,
    command: Sequence[str],
    *,
    port: int,
    ready_path: str,
    env: dict[str, str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    startup_timeout_s: float = 60.0,
) -> Iterator[RunningServer]:
    """Run ``command`` in a new session until ``http://127.0.0.1:port + ready_path``
    answers 200; yield a :class:`RunningServer`; stop the whole group when the block ends
    (normally, on an exception, or at interpreter exit)."""
    log = Path(log_path) if log_path else config.build_dir() / "serving" / f"{name}-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    url = f"http://{HOST}:{port}"
    start = time.perf_counter()
    with open(log, "wb") as handle:
        process = subprocess.Popen(list(command), stdout=handle, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=full_env,
                                   start_new_session=True, cwd=config.project_root())
    _RUNNING[process.pid] = process
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not answers_ok(url + ready_path):
            if process.poll() is not None:
                raise ServerError(f"{name} exited with status {process.returncode} before it "
                                  f"answered on {url}. Its log ({log}) ends with:\n"
                                  f"{log.read_text(errors='replace')[-1500:]}")
            if time.monotonic() > deadline:
                raise ServerError(f"{name} did not answer on {url}{ready_path} within "
                                  f"{startup_timeout_s:g} s (log: {log}). Fix: read the log; "
                                  "on a slow machine pass a longer startup_timeout_s.")
            time.sleep(0.1)
        yield RunningServer(name, url, process.pid, log, time.perf_counter() - start)
    finally:
        stop_group(process)


@contextlib.contextmanager
def serve_bundle(
    bundle_dir: str | os.PathLike[str],
    *,
    port: int | None = None,
    log_file: str | os.PathLike[str] | None = None,
    canary: str | os.PathLike[str] | None = None,
    canary_weight: float = 0.0,
    name: str = "fastapi-onnx",
) -> Iterator[RunningServer]:
    """The course's service (uvicorn, one worker) on a free port of 127.0.0.1."""
    port = port or free_port()
    command = [sys.executable, "-m", "mlops_course.service.server", "--bundle",
               str(bundle_dir), "--host", HOST, "--port", str(port)]
    if log_file:
        command += ["--log-file", str(log_file)]
    if canary:
        command += ["--canary", str(canary), "--canary-weight", str(canary_weight)]
    with run_server(name, command, port=port, ready_path="/ready") as server:
        yield server
