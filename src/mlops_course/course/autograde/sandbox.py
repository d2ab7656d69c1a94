"""The sandbox that student code runs in: limits, a separate user, namespaces, a cgroup.

One :class:`Sandbox` is chosen per grading run by :meth:`Sandbox.detect`, which tries
the strongest mode this machine allows and keeps the first that passes a preflight
(a real worker started in it, importing the course package):

============ ============================================================================
mode         layers (each includes everything below it in the table)
============ ============================================================================
namespaces   root: new network (loopback only), mount, PID, IPC and UTS namespaces; a
             minimal read-only root that holds only system folders, the Python
             installation, the course package and its data (no ``solutions/``, no
             ``.git``, no other submission, no output folder); private ``/tmp``;
             a separate unprivileged uid per concurrent job; a cgroup per run
             (memory and process count of the whole submission) where cgroups are
             writable
userns       not root, user namespaces allowed: the same namespaces and root, but the
             code runs as your uid (mapped) and without a cgroup
uid          root without namespaces: separate uid, cgroup; the host's file system
             (world-readable files, ``/tmp``) and network stay reachable
limits       anything else: resource limits and a process group only
============ ============================================================================

Always on, in every mode: a fresh temporary folder as the working directory, a
scrubbed environment (``PYTHONHASHSEED=0``, one BLAS thread), ``RLIMIT_AS`` / ``CPU``
/ ``FSIZE`` / ``NOFILE`` / ``NPROC`` / ``CORE``, a wall-clock limit enforced by the
grader, and ``SIGKILL`` to the whole process group (or PID namespace) at the end.
Output goes to a file the grader owns (capped by ``RLIMIT_FSIZE``); results come back
over a pipe, one step at a time (see :mod:`mlops_course.course.autograde.worker`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mlops_course import config
from mlops_course.errors import MlopsCourseError

MODES = ("namespaces", "userns", "uid", "limits")
SANDBOX_UID_BASE = 59000  # uid of job slot N is SANDBOX_UID_BASE + N (root modes only)
MAX_SLOTS = 256
LAUNCHER = Path(__file__).with_name("launcher.py")
SETUP_FAILED = 125
MAX_LINE_BYTES = 2_000_000  # one answer line: a probe value is capped at 1 MB in the worker
MAX_NOISE_BYTES = 16_000_000  # more stray bytes than this on the result pipe: stop the run
STARTUP_TIMEOUT_S = 60.0
SANDBOX_WORKDIR = "/tmp/work"


class SandboxError(MlopsCourseError):
    """The sandbox could not be started at all (not a problem of the submission)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission.

    Parameters
    ----------
    timeout_s:
        Wall-clock budget of the whole submission (all its cells and probes, restarts
        included). What is not done by then is graded ``timeout``.
    step_timeout_s:
        Budget of one answer cell or one test's probe. Default: the submission's
        budget shared out, ``timeout_s / (answer cells + tests + 1)`` (at least 1 s), so
        that endless loops lose only the tests that run into them, never the others.
    memory_mb:
        Address space of each process (``RLIMIT_AS``); the cgroup, where there is one,
        caps the resident memory of all the submission's processes at twice this.
    max_processes:
        Processes and threads the sandbox user may have at once (``RLIMIT_NPROC``, and
        ``pids.max`` in the cgroup).
    max_file_mb:
        Largest file the code may write, its printed output included (``RLIMIT_FSIZE``).
    disk_mb:
        Size of the private ``/tmp`` (namespaces modes).
    max_open_files:
        ``RLIMIT_NOFILE``.
    """

    timeout_s: float = 120.0
    step_timeout_s: float | None = None
    memory_mb: int = 2048
    max_processes: int = 64
    max_file_mb: int = 64
    disk_mb: int = 256
    max_open_files: int = 256

    def __post_init__(self) -> None:
        for name in ("timeout_s", "memory_mb", "max_processes", "max_file_mb", "disk_mb",
                     "max_open_files"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)}")
        if self.memory_mb < 256:
            raise ValueError(f"memory_mb={self.memory_mb} is too small to start Python with "
                             "NumPy and pandas; use at least 256 (default 2048)")

    def step_budget_s(self, steps: int = 3) -> float:
        """The time budget of one answer cell or probe when there are ``steps`` of them."""
        return self.step_timeout_s or max(1.0, self.timeout_s / (max(steps, 3) + 1))

    def rlimits(self, extra_processes: int = 0) -> dict[str, tuple[int, int]]:
        """The ``setrlimit`` values (soft, hard) the launcher applies before the worker."""
        cpu = int(self.timeout_s) + 5
        nproc = self.max_processes + extra_processes
        return {
            "AS": (self.memory_mb << 20,) * 2,
            "CPU": (cpu, cpu + 1),
            "FSIZE": (self.max_file_mb << 20,) * 2,
            "NOFILE": (self.max_open_files,) * 2,
            "NPROC": (nproc, nproc),
            "CORE": (0, 0),
        }

    def describe(self) -> str:
        """One line for the summary."""
        step = (f"{self.step_timeout_s:g} s" if self.step_timeout_s else "a fair share")
        return (f"{self.timeout_s:g} s per submission ({step} per test), "
                f"{self.memory_mb} MB memory, {self.max_processes} processes, "
                f"{self.max_file_mb} MB per file")


# --------------------------------------------------------------------------- cgroups

@dataclass(frozen=True)
class _CgroupLayout:
    """Where this process may create child cgroups for memory and pids."""

    version: int
    memory: Path  # parent folder for the memory controller (v2: the one folder)
    pids: Path
    cpu: Path | None = None  # fair CPU shares between jobs, where available

    @classmethod
    def detect(cls) -> _CgroupLayout | None:
        """Find a writable cgroup (v2 with memory+pids delegated, or v1 hierarchies)."""
        try:
            own = Path("/proc/self/cgroup").read_text().splitlines()
            mounts = Path("/proc/mounts").read_text().splitlines()
        except OSError:
            return None
        paths = {}
        for line in own:
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path.lstrip("/")
        v1, v2 = {}, None
        for line in mounts:
            parts = line.split()
            if len(parts) < 4:
                continue
            if parts[2] == "cgroup2":
                v2 = Path(parts[1])
            elif parts[2] == "cgroup":
                for option in parts[3].split(","):
                    if option in ("memory", "pids", "cpu"):
                        v1[option] = Path(parts[1])
        if v2 is not None and "" in paths:
            # our own cgroup if it delegates memory and pids, else (root) the top one
            for base in dict.fromkeys((v2 / paths[""], v2)):
                try:
                    delegated = (base / "cgroup.subtree_control").read_text().split()
                except OSError:
                    continue
                if {"memory", "pids"} <= set(delegated) and os.access(base, os.W_OK):
                    return cls(2, base, base, base if "cpu" in delegated else None)
        if {"memory", "pids"} <= set(v1) and {"memory", "pids"} <= set(paths):
            memory, pids = v1["memory"] / paths["memory"], v1["pids"] / paths["pids"]
            cpu = v1["cpu"] / paths["cpu"] if "cpu" in v1 and "cpu" in paths else None
            if cpu is not None and not os.access(cpu, os.W_OK):
                cpu = None
            if os.access(memory, os.W_OK) and os.access(pids, os.W_OK):
                return cls(1, memory, pids, cpu)
        return None


class _Cgroup:
    """One run's cgroup: created with limits, joined by the launcher, removed after."""

    def __init__(self, layout: _CgroupLayout, name: str, memory_bytes: int, pids: int) -> None:
        self.layout = layout
        folders = {layout.memory / name, layout.pids / name}
        if layout.cpu is not None:  # every job gets the same share, however many processes
            folders.add(layout.cpu / name)
        self.dirs = sorted(folders)
        for folder in self.dirs:
            folder.mkdir()
        if layout.version == 2:
            folder = self.dirs[0]
            (folder / "memory.max").write_text(str(memory_bytes))
            if (folder / "memory.swap.max").exists():
                (folder / "memory.swap.max").write_text("0")
            (folder / "pids.max").write_text(str(pids))
        else:
            (layout.memory / name / "memory.limit_in_bytes").write_text(str(memory_bytes))
            (layout.pids / name / "pids.max").write_text(str(pids))
        self.memory_dir = layout.memory / name

    @property
    def procs_files(self) -> list[str]:
        return [str(folder / "cgroup.procs") for folder in self.dirs]

    def oom_kills(self) -> int:
        """How many processes the kernel killed for memory in this cgroup."""
        name = "memory.events" if self.layout.version == 2 else "memory.oom_control"
        try:
            text = (self.memory_dir / name).read_text()
        except OSError:
            return 0
        match = re.search(r"^oom_kill (\d+)$", text, re.MULTILINE)
        return int(match.group(1)) if match else 0

    def remove(self) -> None:
        """Kill anything left inside, then remove the folders."""
        for folder in self.dirs:
            for _ in range(100):
                try:
                    pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.01)
            for _ in range(100):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


# ------------------------------------------------------------------------ job slots

class _Slot:
    """A job slot, exclusive across every grader on this machine (an flock'ed file)."""

    def __init__(self) -> None:
        folder = Path(tempfile.gettempdir()) / f"mlops-course-grading-{os.getuid()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
            raise SandboxError(f"{folder} is not private to you (owner or mode changed); "
                               "remove it and grade again")
        self.handle: IO[str] | None = None
        for number in range(MAX_SLOTS):
            uid = SANDBOX_UID_BASE + number
            if _uid_has_account(uid):
                continue
            handle = open(folder / f"slot-{number}.lock", "a")  # noqa: SIM115 - held open
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self.handle, self.number, self.uid = handle, number, uid
            return
        raise SandboxError(f"all {MAX_SLOTS} grading slots are busy; wait for other graders")

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _uid_has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
    return pids


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid`` until none is left (fork loops included)."""
    for _ in range(200):
        pids = _processes_of(uid)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def _kill_child_of(parent: int, pid: int) -> None:
    """SIGKILL ``pid`` if it is still a child of ``parent`` (through a pidfd, so that a pid
    the kernel gave to another process meanwhile is never signalled)."""
    try:
        handle = os.pidfd_open(pid)
    except OSError:
        return
    try:
        with open(f"/proc/{pid}/stat") as stat:
            if int(stat.read().rsplit(")", 1)[1].split()[1]) == parent:
                signal.pidfd_send_signal(handle, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass
    finally:
        os.close(handle)


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (its threads' children lists)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(word) for word in f.read().split()]
    return found


def _user_process_count() -> int:
    try:
        return len(_processes_of(os.getuid()))
    except OSError:
        return 0


# ---------------------------------------------------------------------- the worker

@dataclass
class StepFailure:
    """A step that got no answer: the worker died or overran its time."""

    status: str  # "timeout", "memory" or "crashed"
    message: str


@dataclass
class WorkerProcess:
    """A running worker inside the sandbox, and the grader's end of its two pipes."""

    popen: subprocess.Popen[bytes]
    read_fd: int
    write_fd: int
    run_dir: Path
    mode: str
    uid: int | None
    cgroup: _Cgroup | None
    stray_bytes: int = 0
    stray_lines: int = 0
    child_token: str | None = None  # the fork whose child serves steps now
    spawn_token: str | None = None  # the spawn whose submission zygote serves steps now
    zygote_pid: int | None = None  # the warm zygote's pid on this machine (outside its ns)
    _buffer: bytearray = field(default_factory=bytearray)
    _eof: bool = False
    _oom_before: int = 0

    # -- transport
    def _read_line(self, deadline: float) -> bytes | None:
        """One line from the worker; None at EOF; TimeoutError after ``deadline``."""
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                return line
            if len(self._buffer) > MAX_LINE_BYTES:
                self.stray_bytes += len(self._buffer)
                self._buffer.clear()
                if self.stray_bytes > MAX_NOISE_BYTES:
                    raise _Flood()
            if self._eof:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError()
            ready, _, _ = select.select([self.read_fd], [], [], remaining)
            if ready:
                chunk = os.read(self.read_fd, 1 << 16)
                if not chunk:
                    self._eof = True
                self._buffer += chunk

    def _send(self, message: dict[str, Any], deadline: float) -> bool:
        data = memoryview(json.dumps(message).encode() + b"\n")
        while data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError()
            _, ready, _ = select.select([], [self.write_fd], [], remaining)
            if ready:
                try:
                    written = os.write(self.write_fd, data[: 1 << 16])
                except (BrokenPipeError, OSError):
                    return False
                data = data[written:]
        return True

    def _receive(self, token: str | None, deadline: float) -> dict[str, Any] | None:
        """The answer carrying ``token`` (or the hello); stray lines are counted."""
        while True:
            line = self._read_line(deadline)
            if line is None:
                return None
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                record = None
            if isinstance(record, dict):
                if token is None and record.get("hello") == 1:
                    return record
                if token is not None and record.get("token") == token:
                    return record
                if (self.child_token is not None and record.get("token") == self.child_token
                        and "ended" in record):  # the zygote: the child died or left
                    self.child_token = None
                    return {"ended": record["ended"]}
                if (self.spawn_token is not None and record.get("token") == self.spawn_token
                        and "ended" in record):  # the warm zygote: the submission's died
                    self.spawn_token = self.child_token = None
                    self.kill()  # as if the zygote had died: a fresh sandbox goes on
                    return {"ended": record["ended"]}
            self.stray_lines += 1
            self.stray_bytes += len(line)
            if self.stray_bytes > MAX_NOISE_BYTES:
                raise _Flood()

    # -- steps
    def wait_ready(self, deadline: float) -> bool:
        """Wait for the worker's hello; False if it died or did not start in time."""
        try:
            return self._receive(None, deadline) is not None
        except (TimeoutError, _Flood):
            return False

    def step(self, message: dict[str, Any], budget_s: float, deadline: float
             ) -> dict[str, Any] | StepFailure:
        """Send one step, wait for its answer; kill the worker if it does not come."""
        token = os.urandom(12).hex()
        self._oom_before = self.cgroup.oom_kills() if self.cgroup else 0
        soft = max(0.01, min(budget_s, deadline - time.monotonic()))
        hard = min(time.monotonic() + soft + max(1.0, 0.1 * soft), deadline + 1.0)
        try:
            if not self._send({**message, "timeout": soft, "token": token}, hard):
                return self._died()
            record = self._receive(token, hard)
        except TimeoutError:
            if not self.kill_submission(time.monotonic() + 2.0):
                self.kill()
            return StepFailure("timeout", f"took longer than {soft:.3g} s and was stopped")
        except _Flood:
            self.kill()
            return StepFailure("crashed", "wrote more than 16 MB of stray data to the "
                                          "grader's pipe and was stopped")
        if record is None:
            return self._died()
        if "ended" in record:
            ended = record["ended"]
            return self._died(ended if type(ended) is int and abs(ended) < 512 else 1)
        return record

    # -- the zygote's children
    def fork(self, deadline: float) -> bool:
        """Ask the zygote for a fresh child to run the student's code; False if it failed."""
        token = os.urandom(12).hex()
        try:
            if not self._send({"op": "fork", "token": token}, deadline):
                return False
            record = self._receive(token, deadline)
        except (TimeoutError, _Flood):
            return False
        if record is None or record.get("status") != "ok":
            return False
        self.child_token = token
        return True

    # -- a warm zygote's submissions
    def spawn(self, deadline: float) -> str | None:
        """Ask a warm zygote (setup cells done, no probes) to check that nothing of the
        last submission is left and to fork the zygote of the next one; None when it did,
        else why not (the caller then starts a fresh sandbox)."""
        token = os.urandom(12).hex()
        if self.zygote_pid is None:  # launcher -> init -> zygote, before any student code
            below_init = [c for p in _children(self.popen.pid) for c in _children(p)]
            self.zygote_pid = below_init[0] if len(below_init) == 1 else 0
        # From outside, before the message is written: a process the last submission left
        # could hold a copy of the pipe, stop the warm zygote and read the next
        # submission's answers and probes in its place (and answer them).
        problem = self._strangers()
        if problem is not None:
            return f"not clean: {problem}"
        try:
            if not self._send({"op": "spawn", "token": token}, deadline):
                return "the warm zygote is gone"
            record = self._receive(token, deadline)
        except (TimeoutError, _Flood):
            return "the warm zygote did not answer"
        if record is None:
            return "the warm zygote ended"
        if record.get("status") != "ok":
            return str(record.get("error", "refused"))[:500]
        self.spawn_token = token
        self.stray_bytes = self.stray_lines = 0  # counted per submission from here
        with contextlib.suppress(OSError):  # crash messages show this submission's output
            os.truncate(self.run_dir / "output.log", 0)
        return None

    def _strangers(self) -> str | None:
        """SIGKILL, from this side, every process of this sandbox's PID namespace but its
        init and the warm zygote; what is still wrong after that (a description), or None.
        Seen from outside, no process inside can hide or stop this."""
        inits = _children(self.popen.pid)
        if len(inits) != 1 or not self.zygote_pid:
            return "an unexpected process tree"
        try:
            namespace = os.readlink(f"/proc/{inits[0]}/ns/pid")
        except OSError:
            return "a PID namespace that cannot be read"
        for _ in range(200):
            found = 0
            for entry in os.listdir("/proc"):
                if not entry.isdigit() or int(entry) in (inits[0], self.zygote_pid):
                    continue
                try:  # the pidfd first: a pid reused after the check is never signalled
                    handle = os.pidfd_open(int(entry))
                except OSError:
                    continue
                try:
                    if os.readlink(f"/proc/{entry}/ns/pid") == namespace:
                        found += 1
                        signal.pidfd_send_signal(handle, signal.SIGKILL)
                except OSError:
                    pass
                finally:
                    os.close(handle)
            if not found:
                break
            time.sleep(0.002)
        else:
            return "processes that survived SIGKILL"
        try:
            with open(f"/proc/{self.zygote_pid}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return "a warm zygote that is gone"
        return "a stopped warm zygote" if state in ("T", "t") else None

    def kill_submission(self, deadline: float) -> bool:
        """SIGKILL the submission's zygote and its child, not the warm zygote above them
        (a step overran its time); True when the warm zygote saw it end and waits for the
        next spawn, which kills whatever else is left. False: kill the whole sandbox."""
        token = self.spawn_token
        below = _children(self.zygote_pid) if self.zygote_pid else []
        if token is None or len(below) != 1:  # the warm zygote has only that one child
            return False
        self.spawn_token = self.child_token = None
        stray = (self.stray_lines, self.stray_bytes)
        _kill_child_of(self.zygote_pid, below[0])
        for pid in _children(below[0]):
            _kill_child_of(below[0], pid)
        try:
            record = self._receive(token, deadline)
        except (TimeoutError, _Flood):
            return False
        self.stray_lines, self.stray_bytes = stray  # a late answer is dropped, as in a kill
        return record is not None and "ended" in record and self.popen.poll() is None

    def end_spawn(self, deadline: float) -> bool:
        """End the submission's zygote (and its child); True when it exited cleanly and the
        warm zygote is waiting for the next spawn, else False and the sandbox is killed."""
        if self.spawn_token is None or not self.end_child(deadline):
            self.kill()
            return False
        token, self.spawn_token = self.spawn_token, None
        try:
            record = self._receive(token, deadline) if self._send({"op": "bye"}, deadline) \
                else None
        except (TimeoutError, _Flood, OSError):
            record = None
        if record is not None and record.get("ended") == 0 and self.popen.poll() is None:
            return True
        self.kill()
        return False

    def end_child(self, deadline: float) -> bool:
        """Let the current child exit and wait for the zygote to see it; False (and the
        whole sandbox killed) when that does not happen in time."""
        if self.child_token is None:
            return True
        token = self.child_token
        try:
            self._send({"op": "bye"}, deadline)
            while self.child_token is not None:
                record = self._receive(token, deadline)
                if record is None:
                    break
                if "ended" in record:
                    self.child_token = None
        except (TimeoutError, _Flood, OSError):
            pass
        if self.child_token is None and self.popen.poll() is None:
            return True
        self.kill()
        return False

    def _died(self, child_code: int | None = None) -> StepFailure:
        code = self.wait(5.0) if child_code is None else (
            child_code if child_code >= 0 else 128 - child_code)
        oom = (self.cgroup.oom_kills() if self.cgroup else 0) > self._oom_before
        tail = self.output_tail()
        signum = -code if code is not None and code < 0 else (
            code - 128 if code is not None and 128 < code < 160 else None)
        if oom or "MemoryError" in tail or "bad_alloc" in tail:
            return StepFailure("memory", "ran out of memory and was killed")
        if signum == signal.SIGXCPU:
            return StepFailure("timeout", "used up its CPU time limit")
        if signum is not None:
            how = f"killed by {signal.Signals(signum).name}" if signum in signal.valid_signals(
            ) else f"killed by signal {signum}"
        else:
            how = f"exit code {code}: os._exit() or a crash in compiled code?"
        last = tail.strip().splitlines()[-1:] if tail.strip() else []
        detail = f"; last output: {last[0][:200]}" if last else ""
        return StepFailure("crashed", f"the process ended in the middle of this step ({how})"
                                      f"{detail}")

    # -- life cycle
    def output_tail(self, size: int = 4000) -> str:
        """The end of what the worker printed (for crash messages)."""
        path = self.run_dir / "output.log"
        try:
            with open(path, "rb") as handle:
                handle.seek(max(0, path.stat().st_size - size))
                return handle.read().decode(errors="replace")
        except OSError:
            return ""

    def wait(self, timeout_s: float) -> int | None:
        """The launcher's exit status, or None if it is still running after ``timeout_s``."""
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def finish(self) -> None:
        """Ask the child, then the zygote, to exit; kill them if they do not."""
        if not self.end_child(time.monotonic() + 2.0):
            return
        with contextlib.suppress(TimeoutError):
            self._send({"op": "bye"}, time.monotonic() + 1.0)
        if self.wait(2.0) is None:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group (and PID namespace, and uid), then reap."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10.0)
        if self.mode == "uid" and self.uid is not None:
            _kill_uid(self.uid)

    def close(self) -> None:
        """Kill what is left and release every resource (pipes, cgroup, folder)."""
        if self.popen.poll() is None:
            self.kill()
        if self.mode == "uid" and self.uid is not None:
            _kill_uid(self.uid)
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.cgroup is not None:
            self.cgroup.remove()
        _rmtree(self.run_dir)


class _Flood(Exception):
    """The worker wrote too much stray data to the result pipe."""


def _rmtree(path: Path) -> None:
    def make_writable(func, name, exc_info):  # noqa: ANN001
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(name), 0o700)
            os.chmod(name, 0o700)
            func(name)

    shutil.rmtree(path, onerror=make_writable)


# --------------------------------------------------------------------- the sandbox

def _readable_roots() -> list[str]:
    """Folders the worker must see, read-only: Python, the venv, the package, the data."""
    import mlops_course

    wanted = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
              str(Path(mlops_course.__file__).resolve().parents[1])}
    import site

    for packages in site.getsitepackages():
        wanted.add(packages)
        for pth in Path(packages).glob("*.pth"):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                for line in pth.read_text().splitlines():
                    if line.startswith("/") and os.path.isdir(line.strip()):
                        wanted.add(line.strip())
    data = config.data_dir()
    if data.is_dir():
        wanted.add(str(data))
    roots: list[str] = []
    for path in sorted({os.path.realpath(p) for p in wanted if os.path.exists(p)}):
        if path.startswith(("/usr/", "/etc/")) or path in ("/usr", "/etc"):
            continue
        if not any(path == root or path.startswith(root + "/") for root in roots):
            roots.append(path)
    return roots


@dataclass
class Sandbox:
    """Starts workers in one sandbox mode; see the module docstring for the modes.

    Use :meth:`detect` rather than the constructor: it picks the strongest mode that
    works here and says what is missing.
    """

    mode: str
    limits: Limits = field(default_factory=Limits)
    use_cgroup: bool = True
    degraded: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown sandbox mode {self.mode!r}; choose one of {MODES}")
        if self.mode == "userns" and os.geteuid() == 0:
            raise ValueError("mode 'userns' maps your own uid, which for root is root inside "
                             "the namespace; as root use mode 'namespaces'")
        self._cgroup_layout = _CgroupLayout.detect() if (
            self.use_cgroup and self.mode in ("namespaces", "uid")) else None

    # -- choice
    @classmethod
    def detect(cls, limits: Limits | None = None, *, modes: tuple[str, ...] | None = None
               ) -> Sandbox:
        """The strongest sandbox that works on this machine, checked by a preflight run.

        Parameters
        ----------
        limits:
            Resource limits of each run (default :class:`Limits`).
        modes:
            Modes to try, strongest first (default: all that can apply to this user).

        Raises
        ------
        SandboxError
            Not even the ``limits`` mode can start a worker (broken installation).
        """
        limits = limits or Limits()
        key = modes or ()
        if key not in _DETECTED:
            _DETECTED[key] = _detect(modes)
        mode, use_cgroup, degraded = _DETECTED[key]
        return cls(mode, limits, use_cgroup, degraded)

    def with_limits(self, limits: Limits) -> Sandbox:
        """The same sandbox with other limits."""
        return Sandbox(self.mode, limits, self.use_cgroup, self.degraded)

    def describe(self) -> str:
        """What protects the machine, in one paragraph (printed once per batch)."""
        layers = {
            "namespaces": "network, mount and PID namespaces, a minimal read-only root, "
                          "a separate uid per job",
            "userns": "user, network, mount and PID namespaces, a minimal read-only root",
            "uid": "a separate uid per job",
            "limits": "resource limits only",
        }[self.mode]
        layout = self._cgroup_layout
        cgroup = (f", cgroup v{layout.version} (memory, processes"
                  f"{', fair CPU share' if layout.cpu else ''})" if layout else "")
        seccomp = _SECCOMP.get(self.mode)
        filtered = (", a syscall filter (no keyrings, ptrace, bpf, perf events, userfaultfd, "
                    "io_uring, mounts or new namespaces)" if seccomp else "")
        per_job = ("; per job: fresh /tmp, /dev/shm, IPC and PID namespaces, emptied and "
                   "checked between submissions, nothing outlives it"
                   if self.mode in ("namespaces", "userns") and seccomp else "")
        text = (f"sandbox: {self.mode} ({layers}{cgroup}{filtered}){per_job}; "
                f"limits: {self.limits.describe()}")
        notes = list(self.degraded)
        if seccomp is False:
            notes.append("no syscall filter: kernel keyrings and other per-uid state can "
                         "outlive a job")
        if self.mode in ("uid", "limits"):
            notes.append("no namespaces: /tmp, SysV IPC and other per-uid state can outlive "
                         "a job")
        if self.mode in ("namespaces", "uid") and self.use_cgroup and not self._cgroup_layout:
            notes.append("no writable cgroup: memory is capped per process (RLIMIT_AS), "
                         "not per submission")
        return text + "".join(f"\n  degraded: {note}" for note in notes)

    # -- runs
    @contextlib.contextmanager
    def start(self) -> Iterator[WorkerProcess]:
        """Start one worker in a fresh sandbox; kill it and clean up on exit."""
        slot = _Slot() if self.mode in ("namespaces", "uid") else None
        run_dir = Path(tempfile.mkdtemp(prefix="mlops-grade-"))
        worker: WorkerProcess | None = None
        opened: list[int] = []
        try:
            worker = self._spawn(slot, run_dir, opened)
            yield worker
        finally:
            if worker is not None:
                worker.close()
            else:
                for fd in opened:
                    with contextlib.suppress(OSError):
                        os.close(fd)
                _rmtree(run_dir)
            if slot is not None:
                slot.release()

    def _spawn(self, slot: _Slot | None, run_dir: Path, opened: list[int]) -> WorkerProcess:
        uid = slot.uid if slot else os.getuid()
        gid = slot.uid if slot else os.getgid()
        namespaced = self.mode in ("namespaces", "userns")
        if self.mode == "uid":
            _kill_uid(uid)  # a leftover from a grader that was killed
        if namespaced:
            (run_dir / "root").mkdir()
            cwd = SANDBOX_WORKDIR
        else:
            cwd = str(run_dir / "work")
            os.mkdir(cwd, 0o700)
            if self.mode == "uid":
                os.chmod(run_dir, 0o711)
                os.chown(cwd, uid, gid)
        cgroup = None
        if self._cgroup_layout is not None and slot is not None:
            name = f"mlops-grade-{os.getpid()}-{slot.number}"
            try:
                cgroup = _Cgroup(self._cgroup_layout, name, 2 * (self.limits.memory_mb << 20),
                                 self.limits.max_processes)
            except OSError as exc:
                raise SandboxError(f"could not create the cgroup {name}: {exc}") from exc
        try:
            to_worker = os.pipe()
            opened.extend(to_worker)
            from_worker = os.pipe()
            opened.extend(from_worker)
            log = os.open(run_dir / "output.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            opened.append(log)
            extra = _user_process_count() if self.mode in ("limits", "userns") else 0
            cfg = {
                "mode": self.mode,
                "uid": uid,
                "gid": gid,
                "root": str(run_dir / "root"),
                "cwd": cwd,
                "binds": _readable_roots() + ["/usr", "/etc"],
                "symlinks": [[p, os.readlink(p)] for p in ("/bin", "/lib", "/lib64", "/sbin",
                                                           "/lib32", "/libx32")
                             if os.path.islink(p)],
                "disk_mb": self.limits.disk_mb,
                "loopback": True,
                "cgroup_procs": cgroup.procs_files if cgroup else [],
                "rlimits": self.limits.rlimits(extra),
                "fds": [to_worker[0], from_worker[1]],
                "argv": [sys.executable, "-s", "-P", "-B", "-m",
                         "mlops_course.course.autograde.worker",
                         str(to_worker[0]), str(from_worker[1])]
                        + (["--pidns"] if namespaced else []),
                "env": _worker_env(cwd),
            }
            for path in ("/bin", "/lib", "/lib64", "/sbin", "/lib32", "/libx32"):
                if os.path.isdir(path) and not os.path.islink(path):
                    cfg["binds"].append(path)
            popen = subprocess.Popen(
                [sys.executable, "-I", "-S", str(LAUNCHER), json.dumps(cfg)],
                pass_fds=(to_worker[0], from_worker[1]), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, cwd=run_dir, env={"PATH": "/usr/bin:/bin"},
                start_new_session=True, close_fds=True,
            )
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise
        for fd in (to_worker[0], from_worker[1], log):
            os.close(fd)
            opened.remove(fd)
        os.set_blocking(to_worker[1], False)
        return WorkerProcess(popen, from_worker[0], to_worker[1], run_dir, self.mode,
                             uid if self.mode == "uid" else None, cgroup)

    def preflight(self) -> str | None:
        """Start a worker and run a tiny probe in it; None if it works, else why not."""
        code = ("def probe():\n    import os, mlops_course, numpy\n"
                "    status = open('/proc/self/status').read()\n"
                "    return {'uid': os.getuid(), 'cwd': os.getcwd(), 'status': status}\n")
        with self.start() as worker:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            if not worker.wait_ready(deadline):
                worker.wait(5.0)
                tail = worker.output_tail().strip().splitlines()
                return tail[-1] if tail else f"the worker did not start (mode {self.mode})"
            answer = worker.step({"op": "probes", "sources": {"preflight": code}}, 30.0,
                                 deadline)
            if isinstance(answer, dict) and answer.get("status") == "ok":
                if not worker.fork(deadline):
                    return "the worker could not start a child process"
                answer = worker.step({"op": "probe", "grade_id": "preflight"}, 30.0, deadline)
            if isinstance(answer, StepFailure):
                return answer.message
            if answer.get("status") != "ok":
                return answer.get("error", "preflight failed")
            worker.finish()
            if self.mode in ("namespaces", "uid") and answer["value"]["uid"] == 0:
                return "the worker still ran as root"
            _SECCOMP[self.mode] = "\nSeccomp:\t2" in str(answer["value"].get("status"))
        return None


_DETECTED: dict[tuple[str, ...], tuple[str, bool, tuple[str, ...]]] = {}
_SECCOMP: dict[str, bool] = {}  # mode -> the preflight's worker ran under the syscall filter


def _detect(modes: tuple[str, ...] | None) -> tuple[str, bool, tuple[str, ...]]:
    root = os.geteuid() == 0
    linux = sys.platform.startswith("linux")
    candidates = modes or tuple(m for m in MODES if (
        m == "limits" or (linux and (m in ("namespaces", "uid")) == root)))
    failures: list[str] = []
    for mode in candidates:
        for use_cgroup in ((True, False) if mode in ("namespaces", "uid") else (False,)):
            try:
                sandbox = Sandbox(mode, use_cgroup=use_cgroup)
                if use_cgroup and sandbox._cgroup_layout is None:
                    continue
                problem = sandbox.preflight()
            except (OSError, ValueError, SandboxError) as exc:
                problem = str(exc)
            if problem is None:
                return mode, use_cgroup, tuple(failures) + _weaknesses(mode)
            failures.append(f"mode {mode}{' with cgroup' if use_cgroup else ''} failed: "
                            f"{problem}")
    raise SandboxError("No sandbox could start a grading worker:\n  " + "\n  ".join(failures)
                       + "\nFix: check that `python -c 'import mlops_course'` works with this "
                         "interpreter and that the temporary folder is writable.")


def _weaknesses(mode: str) -> tuple[str, ...]:
    if mode == "namespaces":
        return ()
    if mode == "userns":
        return ("not root: submissions run as your own uid (inside a user namespace) and "
                "without a cgroup; run the grader as root for a separate uid",)
    if mode == "uid":
        return ("no namespaces: submissions can reach the network and read every "
                "world-readable file (solutions/ and .git included); run as root where "
                "`unshare --net --mount --pid` works (a VM or a privileged container)",)
    who = "as root (!)" if os.geteuid() == 0 else "as your user"
    return (f"limits only: submissions run {who}, can read your files (solutions/ "
            "included), reach the network and signal your processes; grade untrusted work "
            "as root on Linux where `unshare` works (a VM or a privileged container)",)


def _worker_env(cwd: str) -> dict[str, str]:
    """The complete environment of the worker: nothing is inherited from the grader."""
    venv_bin = os.path.dirname(sys.executable)
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": cwd,
        "TMPDIR": cwd,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
        "VECLIB_MAXIMUM_THREADS": "1",
        "LOKY_MAX_CPU_COUNT": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{cwd}/.matplotlib",
        "XDG_CACHE_HOME": f"{cwd}/.cache",
        "TORCHINDUCTOR_CACHE_DIR": f"{cwd}/.torchinductor",
        "MLOPS_COURSE_HOME": str(config.project_root()),
        "MLOPS_COURSE_DATA_DIR": str(config.data_dir()),
        "MLOPS_COURSE_BUILD_DIR": f"{cwd}/build",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DVC_NO_ANALYTICS": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
