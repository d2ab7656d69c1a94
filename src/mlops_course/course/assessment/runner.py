"""Run a student's repository, untrusted, in a throwaway sandbox: the checker's command runner.

The checker never runs anything of a student's repository in its own process. It copies the
repository into a fresh temporary folder and runs each command (``dvc repro``, ``pytest``,
the service) through :class:`ProjectSandbox`, with the same layers as the exercise grader
(:mod:`mlops_course.course.autograde`), built from standard tools:

``namespaces`` (root, ``unshare`` works)
    new network (loopback only, brought up), mount, PID, IPC and UTS namespaces; private
    ``/tmp``, ``/var/tmp`` and ``/dev/shm`` (the job's folder bound back in); the
    checkout's instructor folders (``assessment/``, ``solutions/``, ``tests/``, ``.git``,
    ``build/``) and the home folder are hidden under empty read-only mounts (the Python
    installation that lives there is bound back in, read-only); then a separate
    unprivileged uid (``setpriv``, no capabilities, ``no_new_privs``).
``limits`` (anything else, e.g. a student laptop)
    resource limits, a process group and the wall clock only: the repository runs with
    your user and your network. The report says so.

Always: a copy of the repository (the original is never touched), a scrubbed environment
(the course venv's tools on ``PATH``, one BLAS thread, ``HOME`` in the temporary folder, no
DVC analytics), ``RLIMIT_AS``/``CPU``/``FSIZE``/``NOFILE``/``CORE`` (``NPROC`` too once the
uid is dropped), a wall-clock limit per command and per repository, ``SIGKILL`` to the whole
process group (and PID namespace) when a command ends or runs out of time, output capped.
"""

from __future__ import annotations

import itertools
import os
import re
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from mlops_course import config
from mlops_course.errors import MlopsCourseError

UID_BASE = 58000  # sandbox uids: UID_BASE + 1 .. UID_BASE + 999, one per sandbox
SANDBOX_PORT = 8000  # the service's port inside its own network namespace
PROBE = Path(__file__).with_name("probe.py")
_counter = itertools.count(1)

_SETUP = r"""
set -eu
ip link set lo up 2>/dev/null || "$CHECK_PYTHON" -I -S -c "$CHECK_LO_UP" || true
if [ -n "$CHECK_STAGE" ]; then
  mount --bind "$CHECK_PYHOME" "$CHECK_STAGE"
  mount -t tmpfs -o mode=0755,size=1m tmpfs "$CHECK_HIDE_TOP"
  mkdir -p "$CHECK_PYHOME"
  mount --bind "$CHECK_STAGE" "$CHECK_PYHOME"
  mount -o remount,bind,ro "$CHECK_PYHOME"
fi
if [ -n "$CHECK_JOB" ]; then
  # a private /tmp (and /var/tmp, /dev/shm): nothing the repository writes there outlives
  # it; the job folder, held open on fd 3, is bound back in at the same path
  exec 3<"$CHECK_JOB"
  # the course itself (its venv) when it lives under one of those folders (a checkout in
  # /tmp): held open on fds 4.., bound back in read-only
  n=4
  for k in $CHECK_KEEP; do eval "exec $n<\"$k\""; n=$((n + 1)); done
  for d in /tmp /var/tmp /dev/shm; do
    if [ -d "$d" ]; then mount -t tmpfs -o mode=1777,size=64m tmpfs "$d"; fi
  done
  mkdir -p "$CHECK_JOB"
  mount --no-canonicalize --bind /proc/self/fd/3 "$CHECK_JOB"
  exec 3<&-
  n=4
  for k in $CHECK_KEEP; do
    mkdir -p "$k"
    mount --no-canonicalize --bind "/proc/self/fd/$n" "$k"
    mount -o remount,bind,ro "$k"
    eval "exec $n<&-"; n=$((n + 1))
  done
fi
for d in $CHECK_HIDE; do
  if [ -d "$d" ]; then mount -t tmpfs -o mode=0755,size=1m,ro tmpfs "$d"; fi
done
# every other mount read-only: nothing but the job folder and the private /tmp, /var/tmp
# and /dev/shm is writable (not the host's world-writable folders, such as /run/lock)
while read -r _ _ _ _ point _; do
  case "$point" in
    /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/tmp|/var/tmp|"$CHECK_JOB") ;;
    *) mount -o remount,bind,ro "$point" 2>/dev/null || true ;;
  esac
done </proc/self/mountinfo
exec setpriv --reuid="$CHECK_UID" --regid="$CHECK_UID" --clear-groups --no-new-privs \
  --inh-caps=-all --bounding-set=-all -- "$@"
"""


# loopback up without iproute2 (SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP)
_LO_UP = """
import fcntl, socket, struct
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(sock, 0x8913, struct.pack("16sH", b"lo", 0)))[1]
fcntl.ioctl(sock, 0x8914, struct.pack("16sH", b"lo", flags | 1))
"""


class CheckError(MlopsCourseError):
    """A repository cannot be checked at all (not a folder, too large, ...)."""


@dataclass(frozen=True)
class Limits:
    """What one repository may use.

    Parameters
    ----------
    command_timeout_s:
        Wall-clock budget of one command (``dvc repro``, ``pytest``, the service's start).
    total_timeout_s:
        Budget of the whole repository; commands get what is left when it is less.
    memory_mb:
        ``RLIMIT_AS`` of each process (DVC and MLflow reserve a lot of address space).
    max_processes:
        ``RLIMIT_NPROC`` of the sandbox user (namespaces mode).
    max_file_mb:
        Largest file a command may write (``RLIMIT_FSIZE``), its output included.
    max_repo_mb:
        Largest repository that is copied in at all.
    disk_mb:
        Space of the job's folder (the copy, its home and temporary files): in the
        namespaces mode a tmpfs of this size, so that a repository cannot fill the disk.
    """

    command_timeout_s: float = 180.0
    total_timeout_s: float = 600.0
    memory_mb: int = 4096
    max_processes: int = 256
    max_file_mb: int = 256
    max_repo_mb: int = 200
    disk_mb: int = 2048

    def describe(self) -> str:
        return (f"{self.command_timeout_s:g} s per command, {self.total_timeout_s:g} s per "
                f"repository, {self.memory_mb} MB per process, {self.max_processes} processes")


@dataclass
class CommandResult:
    """What one command did: exit status (``None`` when killed at the time limit)."""

    command: str
    returncode: int | None
    seconds: float
    output: str = ""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def why(self) -> str:
        """One line for a report: how it ended and the last line of its output."""
        if self.timed_out:
            how = f"`{self.command}` was stopped after {self.seconds:.0f} s (time limit)"
        else:
            how = f"`{self.command}` exited with status {self.returncode}"
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()]
        last = (errors or lines)[-1:]
        return how + (f": {last[0][:300]}" if last else "")


@dataclass
class Service:
    """A command running in the background of the sandbox (the student's API)."""

    process: subprocess.Popen
    port: int
    log: Path
    netns_pid: int | None = None


MAX_ENTRIES = 100_000  # files and folders of one repository, at most
MAX_DEPTH = 64  # folders inside folders, at most (the copy and its checks recurse)


def _dir_size(path: Path, limit: int) -> int:
    """Bytes of the files under ``path`` (stops above ``limit``); CheckError for a tree
    too deep or with too many entries to copy (no recursion here: any depth is read)."""
    total, entries, stack = 0, 0, [(str(path), 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as found:
                for entry in found:
                    entries += 1
                    if entries > MAX_ENTRIES:
                        raise CheckError(f"{path} holds more than {MAX_ENTRIES:,} files and "
                                         "folders; hand in the repository, not its "
                                         "environment or data")
                    if entry.is_dir(follow_symlinks=False):
                        if depth + 1 > MAX_DEPTH:
                            raise CheckError(f"{path} nests folders more than {MAX_DEPTH} "
                                             "deep")
                        stack.append((entry.path, depth + 1))
                    else:
                        with suppress(OSError):
                            total += entry.stat(follow_symlinks=False).st_size
                    if total > limit:
                        return total
        except OSError:
            continue
    return total


def _special_files(folder: str, names: list[str]) -> set[str]:
    """What the copy leaves out: named pipes, sockets, devices (a pipe would block it)."""
    skipped = set()
    for name in names:
        try:
            mode = os.lstat(os.path.join(folder, name)).st_mode
        except OSError:
            skipped.add(name)
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            skipped.add(name)
    return skipped


def _under_private_tmp(paths: Sequence[Path]) -> list[Path]:
    """The folders of ``paths`` that the sandbox's private ``/tmp``, ``/var/tmp`` or
    ``/dev/shm`` would hide (a checkout under ``/tmp``), outermost only, at most five
    (fds 4-8), and without characters the setup script cannot quote."""
    private = [Path(d) for d in ("/tmp", "/var/tmp", "/dev/shm")]
    found: list[Path] = []
    for path in sorted({p.resolve() for p in paths}, key=lambda p: len(p.parts)):
        if not any(d in path.parents for d in private):
            continue
        if any(k == path or k in path.parents for k in found):
            continue
        if re.fullmatch(r"[\w./+-]+", str(path)) is None:
            raise CheckError(f"the course's folder {path} has characters the sandbox cannot "
                             "bind back in; move the checkout")
        found.append(path)
    if len(found) > 5:
        raise CheckError(f"too many course folders under /tmp: {found}")
    return found


def _hidden_home(prefix: Path) -> Path | None:
    """The first folder above the Python installation that other users cannot enter."""
    for parent in reversed(prefix.parents):
        if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
            return parent
    return None


def _hand_ins(source: Path, needed: list[Path]) -> list[Path]:
    """What to hide of the folder that holds ``source`` (the other students' hand-ins):
    that folder, or where the sandbox needs something inside it, each of its
    sub-folders but those (the copy the sandbox works on is elsewhere)."""
    needed = [Path(os.path.realpath(p)) for p in needed]

    def hideable(folder: Path) -> bool:
        return folder != Path("/") and not any(
            p == folder or folder in p.parents for p in needed)

    parent = Path(os.path.realpath(source)).parent
    if hideable(parent):
        return [parent]
    try:
        entries = sorted(parent.iterdir())[:1000]
    except OSError:
        return []
    return [e for e in entries if e.is_dir() and not e.is_symlink() and hideable(e)]


def _namespaces_work() -> bool:
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "setpriv", "nsenter")):
        return False
    try:
        return subprocess.run(["unshare", "--net", "--pid", "--mount", "--fork", "true"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class ProjectSandbox:
    """A copy of one repository and the means to run commands on it, untrusted.

    Use as a context manager; everything it started is killed and its folder removed on
    exit::

        with ProjectSandbox(Path("alice"), Limits()) as box:
            result = box.run(["dvc", "repro"])
    """

    def __init__(self, repo: Path, limits: Limits | None = None, *,
                 mode: str | None = None) -> None:
        self.source = Path(repo)
        self.limits = limits or Limits()
        self.mode = mode or ("namespaces" if _namespaces_work() else "limits")
        self.uid = UID_BASE + 1 + (os.getpid() * 31 + next(_counter)) % 999
        self.folder: Path | None = None
        self.logs: Path | None = None
        self.deadline = 0.0
        self._services: list[Service] = []
        self._logs = itertools.count(1)
        self._mounted = False

    # ------------------------------------------------------------------ set up / tear down
    def __enter__(self) -> ProjectSandbox:
        if not self.source.is_dir():
            raise CheckError(f"{self.source} is not a folder; hand in the repository's folder")
        limit = self.limits.max_repo_mb << 20
        if _dir_size(self.source, limit) > limit:
            raise CheckError(f"{self.source} is larger than {self.limits.max_repo_mb} MB; "
                             "data and models belong in DVC's cache, not in the hand-in")
        self.folder = Path(tempfile.mkdtemp(prefix="mlops-check-"))
        self.deadline = time.monotonic() + self.limits.total_timeout_s
        try:
            if self.mode == "namespaces":  # many files under RLIMIT_FSIZE could fill the disk
                mounted = subprocess.run(
                    ["mount", "-t", "tmpfs", "-o", f"size={self.limits.disk_mb}m,mode=0700",
                     "tmpfs", str(self.folder)], capture_output=True, text=True, timeout=30)
                if mounted.returncode:
                    raise CheckError(f"could not mount the job's tmpfs: {mounted.stderr}")
                self._mounted = True
            shutil.copytree(self.source, self.repo, symlinks=True, ignore=_special_files)
            self.logs = Path(tempfile.mkdtemp(prefix="mlops-check-logs-"))  # off the tmpfs
            for sub in ("home", "stage", "tmp", "inputs"):
                (self.folder / sub).mkdir(mode=0o755)
            if self.mode == "namespaces":
                os.chmod(self.folder, 0o711)
                for path in [self.repo, self.folder / "home", self.folder / "tmp"]:
                    for root, dirs, files in os.walk(path):
                        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                            os.lchown(name, self.uid, self.uid)
        except BaseException:
            self._remove_folder()
            raise
        return self

    def _remove_folder(self) -> None:
        if self.folder is None:
            return
        if self._mounted:
            subprocess.run(["umount", "-l", str(self.folder)], capture_output=True, timeout=30)
            self._mounted = False
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None
        if self.logs is not None:
            shutil.rmtree(self.logs, ignore_errors=True)
            self.logs = None

    def __exit__(self, *exc: object) -> None:
        for service in self._services:
            self._kill(service.process)
        self._services.clear()
        self._remove_folder()

    @property
    def repo(self) -> Path:
        assert self.folder is not None, "use ProjectSandbox as a context manager"
        return self.folder / "repo"

    def remaining_s(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    # ------------------------------------------------------------------ commands
    def _environment(self) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        home = str(self.folder / "home")
        return {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": home,
                "USER": "student", "LOGNAME": "student",
                "TMPDIR": str(self.folder / "tmp"), "LANG": "C.UTF-8",
                "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
                "DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": f"{home}/dvc-site",
                "DVC_GLOBAL_CONFIG_DIR": f"{home}/dvc-global",
                "DVC_SYSTEM_CONFIG_DIR": f"{home}/dvc-system",
                "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
                "MPLCONFIGDIR": f"{home}/mpl", "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_TERMINAL_PROMPT": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
                "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

    def _argv(self, command: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        env_args = ["env", "-i", *(f"{k}={v}" for k, v in self._environment().items())]
        if self.mode != "namespaces":
            return [*env_args, *command], {}
        root = config.project_root()
        prefix = Path(sys.base_prefix).resolve()
        top = _hidden_home(prefix)
        hide = [root / name for name in ("assessment", "solutions", "tests", ".git", "build")]
        hide += _hand_ins(self.source, [root, prefix, Path(sys.prefix), self.folder,
                                        config.data_dir(), Path(__file__)])
        setup_env = {"CHECK_UID": str(self.uid), "CHECK_PYHOME": str(prefix),
                     "CHECK_JOB": str(self.folder), "CHECK_PYTHON": sys.executable,
                     "CHECK_LO_UP": _LO_UP,
                     "CHECK_STAGE": str(self.folder / "stage") if top else "",
                     "CHECK_HIDE_TOP": str(top or ""),
                     "CHECK_HIDE": " ".join(str(p) for p in hide if " " not in str(p)),
                     "CHECK_KEEP": " ".join(str(p) for p in _under_private_tmp(
                         [root, Path(sys.prefix).resolve()])),
                     "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        argv = ["unshare", "--net", "--ipc", "--pid", "--uts", "--mount", "--propagation",
                "private", "--kill-child", "--mount-proc", "--", "/bin/sh", "-c", _SETUP,
                "sandbox-setup", *env_args, *command]
        return argv, setup_env

    def _preexec(self, cpu_s: float):  # noqa: ANN202 - a preexec_fn
        limits = self.limits
        nproc = limits.max_processes

        def apply() -> None:
            memory = limits.memory_mb << 20
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            cpu = int(cpu_s) + 5
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            size = limits.max_file_mb << 20
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
            resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if os.geteuid() == 0:  # counted for the sandbox uid once setpriv dropped root
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))

        return apply

    def _start(self, command: Sequence[str], budget_s: float, log: Path,
               pipe: bool = False) -> subprocess.Popen:
        """Start ``command``; its output goes to ``log``, or (``pipe``) to a pipe that
        :func:`_copy_output` empties into ``log``: a file it writes to directly, the
        command could also truncate and rewrite (say, hide the stages `dvc repro` ran)."""
        argv, setup_env = self._argv(command)
        env = setup_env or self._environment()
        with open(log, "wb") as out:
            return subprocess.Popen(argv, cwd=self.repo, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE if pipe else out,
                                    stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=self._preexec(budget_s))

    @staticmethod
    def _kill(process: subprocess.Popen) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _tail(self, log: Path, max_bytes: int = 20_000) -> str:
        try:
            with open(log, "rb") as handle:
                handle.seek(max(0, log.stat().st_size - max_bytes))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def run(self, command: Sequence[str], timeout_s: float | None = None) -> CommandResult:
        """Run ``command`` in the repository's copy; never raises for what it does."""
        budget = min(timeout_s or self.limits.command_timeout_s, self.remaining_s())
        label = " ".join(command)
        if budget <= 0:
            return CommandResult(label, None, 0.0, "no time left for this repository", True)
        log = self.logs / f"{next(self._logs)}.log"
        start = time.monotonic()
        process = self._start(command, budget, log, pipe=True)
        copier = threading.Thread(target=_copy_output,
                                  args=(process.stdout, log, self.limits.max_file_mb << 20),
                                  daemon=True)
        copier.start()
        timed_out = False
        try:
            process.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            self._kill(process)  # also whatever it left running in the background
            copier.join(timeout=10)  # at the end of the output (a PID namespace: all died)
        returncode = None if timed_out else process.returncode
        return CommandResult(label, returncode, time.monotonic() - start, self._tail(log),
                             timed_out)

    # ------------------------------------------------------------------ services
    @contextmanager
    def service(self, command: Sequence[str]) -> Iterator[Service]:
        """Start ``command`` (``{port}`` in it is replaced) and stop it, whatever happens."""
        port = SANDBOX_PORT if self.mode == "namespaces" else _free_port()
        command = [part.replace("{port}", str(port)) for part in command]
        log = self.logs / f"service-{next(self._logs)}.log"
        process = self._start(command, self.remaining_s(), log)
        service = Service(process, port, log)
        self._services.append(service)
        try:
            if self.mode == "namespaces":
                service.netns_pid = _first_child(process.pid)
            yield service
        finally:
            self._kill(process)
            self._services.remove(service)

    def probe(self, service: Service, requests_json: str, ready_timeout_s: float
              ) -> tuple[str | None, str]:
        """Run :mod:`probe` (trusted, standard library only) against ``service``: wait until
        it answers, send ``requests_json``, return (the probe's JSON or ``None``, why not)."""
        argv = [sys.executable, "-I", "-S", str(PROBE), str(service.port),
                str(ready_timeout_s)]
        if service.netns_pid is not None:
            argv = ["nsenter", f"--net=/proc/{service.netns_pid}/ns/net", "--", *argv]
        probe = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
        deadline = time.monotonic() + ready_timeout_s + 60
        try:
            probe.stdin.write(requests_json)
            probe.stdin.close()
            while probe.poll() is None:
                if service.process.poll() is not None:
                    return None, (f"the service exited with status {service.process.returncode} "
                                  f"before answering: {self._last_line(service.log)}")
                if time.monotonic() > deadline or self.remaining_s() <= 0:
                    return None, "the probe ran out of time"
                time.sleep(0.1)
            out = probe.stdout.read()
            if probe.returncode != 0:
                return None, (f"the service never answered on its port within "
                              f"{ready_timeout_s:g} s: {self._last_line(service.log)}")
            return out, ""
        finally:
            self._kill(probe)

    def _last_line(self, log: Path) -> str:
        lines = [line for line in self._tail(log, 4000).splitlines() if line.strip()]
        return f"its last output: {lines[-1].strip()[:300]}" if lines else "it printed nothing"


def _copy_output(stream, log: Path, cap: int) -> None:  # noqa: ANN001 - a pipe's reader
    """Copy a command's output from its pipe into ``log`` until the pipe ends, keeping the
    first ``cap`` bytes (the rest is read and dropped, so that the command never blocks)."""
    written = 0
    try:
        with open(log, "ab") as out:
            while chunk := os.read(stream.fileno(), 1 << 16):
                if written < cap:
                    out.write(chunk[:cap - written])
                    out.flush()
                    written += len(chunk)
    except (OSError, ValueError):
        pass
    finally:
        with suppress(OSError):
            stream.close()


def _first_child(pid: int, timeout_s: float = 10.0) -> int | None:
    """The first child of ``pid`` (unshare's forked child: the new namespaces' init)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return None
        if children:
            return int(children[0])
        time.sleep(0.02)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
