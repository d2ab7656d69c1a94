"""The student side of grading: ``python -m mlops_course.course.autograde.worker FD_IN FD_OUT``.

The grader starts this process inside the sandbox and talks to it over two pipes,
one JSON object per line, one step at a time. This first process (the *zygote*)
never runs student code: it runs the template's setup cells (imports, data),
compiles the tests' probes, then forks a *child* per attempt; only children run the
student's answer cells and the probes::

    zygote -> grader   {"hello": 1}
    grader -> zygote   {"op": "cell", "label": "setup cell 1", "source": ..., "token": t}
    grader -> zygote   {"op": "probes", "sources": {grade_id: source}, "token": t}
    grader -> zygote   {"op": "fork", "token": t}
    child  -> grader   {"token": t, "status": "ok", "pid": ...}
    grader -> child    {"op": "cell", "label": "answer rmse_usd", "source": ..., "token": t}
    grader -> child    {"op": "probe", "grade_id": ..., "timeout": s, "token": t}
    child  -> grader   {"token": t, "status": "ok", "value": <plain data>, "tampered": [...]}
    grader -> child    {"op": "bye"}
    zygote -> grader   {"token": <the fork's token>, "ended": <exit status>}
    grader -> zygote   {"op": "probes", ...}  (the next phase: hidden tests), "fork", ...

Probes are compiled in the zygote, before any student code exists in any process,
and run in a scope whose builtins are a copy taken at start, so replacing
``builtins.compile`` or ``isinstance`` does not reach them. Probes only observe (see
:mod:`mlops_course.course.observe`); every verdict is made by ``verify`` on the
grader's side, which this process never sees. After every step the child compares
the interpreter with a snapshot taken at start (builtins, this module's functions,
the JSON encoder, the reply pipe) and lists what changed in ``tampered``; the grader
flags such a submission for review. That check runs in the same interpreter as the
student's code, so it finds the usual tampering, not a determined attacker's: the
guarantee rests on probes that only observe and on verdicts made outside.

A step that raises reports ``status: "error"``, one that overruns its time budget
(``SIGALRM``) reports ``"timeout"``, ``MemoryError`` reports ``"memory"``; the child
then goes on with the next step. Before each fork the zygote kills every other
process of its user (in a PID namespace only), so nothing a child started survives
into the next attempt or phase.

A *warm* zygote (see :mod:`mlops_course.course.autograde.warm`) serves many submissions:
after its setup cells it takes only ``{"op": "spawn", "token": t}``, which checks that
nothing of the last submission is left (:func:`_reset_for_next`) and forks the
submission's zygote, which then speaks the protocol above; when that one ends, the warm
zygote sends ``{"token": t, "ended": status}``. Any other message ends the warm zygote.
"""

import builtins

# every function below looks builtins up in this copy, taken before student code runs
__builtins__ = dict(vars(builtins))  # noqa: A001

import _json  # noqa: E402
import contextlib  # noqa: E402 - after the builtins copy, on purpose
import ctypes  # noqa: E402
import errno  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import json.decoder  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import stat  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from typing import Any  # noqa: E402

from mlops_course.course import observe  # noqa: E402

# observe.raised, rebuilt to see the builtins copy as well (it runs inside probes)
_raised = types.FunctionType(observe.raised.__code__,
                             {**vars(observe), "__builtins__": __builtins__}, "raised")

MAX_VALUE_BYTES = 1_000_000


class StepTimeout(BaseException):  # noqa: N818 - read as "step timeout", like KeyboardInterrupt
    """Raised by SIGALRM when a step overruns its budget (a BaseException, so that a bare
    ``except Exception`` in student code does not swallow it)."""


_armed = False


def _on_alarm(signum: int, frame: Any) -> None:
    if _armed:
        raise StepTimeout()


def plain(value: Any, depth: int = 0) -> Any:
    """Convert a probe's value to plain JSON data, or raise TypeError.

    Numbers, strings, booleans, None, lists, tuples and dicts are kept; NumPy
    scalars and arrays become numbers and lists; a non-finite float becomes its
    ``repr`` (JSON has no NaN). Anything else is refused, so no object a student
    defines (say, one whose ``__eq__`` is always true) reaches the trusted side.

    Examples
    --------
    >>> plain({"a": (1, 2.5, None)})
    {'a': [1, 2.5, None]}
    >>> plain(float("nan"))
    'nan'
    """
    if depth > 100:
        raise TypeError("probe() returned data nested more than 100 levels deep")
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):  # exact types from here on: no subclass reaches the grader
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        number = float.__float__(value)
        return number if math.isfinite(number) else repr(number)
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic | numpy.ndarray):
        return plain(value.tolist(), depth + 1)
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str.__str__(str(k)): plain(v, depth + 1) for k, v in value.items()}
    raise TypeError(f"probe() returned a {type(value).__name__}, which is not plain data "
                    "(numbers, strings, lists and dicts only)")


# The reply channel's JSON, made of C functions taken before student code runs and of
# code in this module (which sees only the builtins copy): patching ``json``,
# ``isinstance`` and friends does not change what is sent or read.
_quote = _json.encode_basestring_ascii
_scan = _json.make_scanner(json.decoder.JSONDecoder())


def _dumps(value: Any) -> str:
    """JSON text of plain data (None, bool, exact int/float/str, list, dict)."""
    kind = type(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return float.__repr__(value) if math.isfinite(value) else _quote(float.__repr__(value))
    if kind is str:
        return _quote(value)
    if kind is list or kind is tuple:
        return "[" + ", ".join([_dumps(v) for v in value]) + "]"
    if kind is dict:
        return "{" + ", ".join([_quote(str.__str__(str(k))) + ": " + _dumps(v)
                                for k, v in value.items()]) + "}"
    return _quote(f"<{kind.__name__}>")


def _loads(line: bytes) -> Any:
    return _scan(line.decode("utf-8"), 0)[0]


def _short_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    text = text if len(text) <= 500 else text[:500] + "…"
    where = None
    tb = exc.__traceback__
    while tb is not None:  # the last line of the student's own code it went through
        name = tb.tb_frame.f_code.co_filename
        if name.startswith("<answer "):
            where = f"line {tb.tb_lineno} of answer cell {name[len('<answer '):-1]}"
        tb = tb.tb_next
    return f"{text} ({where})" if where else text


class _State:
    """What the worker keeps between steps; filled by :func:`main` before student code."""

    role = "zygote"
    probes: dict[str, types.CodeType] = {}
    pristine: dict[str, Any] = {}
    snapshot: dict[str, Any] = {}
    snapshot_probes: dict[str, types.CodeType] = {}
    scratch: dict[str, set[str]] | None = None  # entries the template's setup left
    fds: tuple[int, int] = (-1, -1)
    writer: Any = None
    warm_pid = 0  # in a submission's zygote: the pid of the warm zygote it was forked from
    used = False  # the warm zygote got probes or forked: it may no longer spawn
    spawned = False  # this warm zygote has spawned: from now on it takes only spawns
    baseline: dict[str, Any] | None = None  # the warm zygote's state, checked before a spawn


_WATCHED_FUNCTIONS = ("plain", "_run_step", "_integrity", "_watched", "_short_error", "_send",
                      "_serve", "_fork", "_on_alarm", "_dumps", "_loads", "_raised", "main")


def _watched() -> dict[str, Any]:
    """The objects whose replacement means tampering, by name."""
    found: dict[str, Any] = {f"builtins.{k}": v for k, v in vars(builtins).items()}
    found.update({f"probe builtins.{k}": v for k, v in _State.pristine.items()})
    for name in _WATCHED_FUNCTIONS:
        func = globals().get(name)
        found[f"worker.{name}"] = func
        found[f"worker.{name}.__code__"] = getattr(func, "__code__", None)
        found[f"worker.{name}.__defaults__"] = getattr(func, "__defaults__", None)
        found[f"worker.{name}.__globals__"] = getattr(func, "__globals__", None)
    found["worker._raised"] = globals().get("_raised")
    found["worker._State"] = globals().get("_State")
    found["json.dumps"] = json.dumps
    found["json.loads"] = json.loads
    found["math.isfinite"] = math.isfinite
    found["worker._dumps"] = globals().get("_dumps")
    found["worker._loads"] = globals().get("_loads")
    found["worker._quote"] = globals().get("_quote")
    found["worker._scan"] = globals().get("_scan")
    found["os.write"] = os.write
    found["signal.setitimer"] = signal.setitimer
    found["sys.modules['json']"] = sys.modules.get("json")
    found["reply pipe"] = _State.writer
    return found


def _integrity() -> list[str]:
    """What differs from the snapshot taken before student code ran (names only)."""
    try:
        now = _watched()
        changed = [k for k, v in _State.snapshot.items() if now.get(k, _MISSING) is not v]
        changed += [k for k in now if k not in _State.snapshot]
        writer = _State.writer
        if type(writer) is not io.BufferedWriter or writer.fileno() != _State.fds[1]:
            changed.append("reply pipe")
        if len(_State.probes) != len(_State.snapshot_probes) or any(
                _State.probes.get(k) is not v for k, v in _State.snapshot_probes.items()):
            changed.append("compiled probes")
    except BaseException as exc:  # noqa: BLE001 - a broken interpreter is tampering too
        return [f"the integrity check itself failed: {type(exc).__name__}"]
    return sorted(set(changed))[:20]


_MISSING = object()


def _run_step(message: dict[str, Any], namespace: dict[str, Any],
              plain: Any = plain, dumps: Any = _dumps) -> dict[str, Any]:
    global _armed
    reply: dict[str, Any] = {"token": message["token"]}
    started = time.perf_counter()
    try:
        signal.setitimer(signal.ITIMER_REAL, max(float(message["timeout"]), 0.01))
        _armed = True
        if message["op"] == "cell":
            exec(compile(message["source"], f"<{message['label']}>", "exec"), namespace)
            _armed = False
        else:
            code = _State.probes[message["grade_id"]]  # compiled before student code ran
            scope = dict(namespace)
            scope["__builtins__"] = dict(_State.pristine)
            scope["raised"] = _raised
            exec(code, scope)
            value = scope["probe"]()
            _armed = False
            value = plain(value)
            own = scope["__builtins__"]  # this step's copy: changed while the probe ran?
            if type(own) is not dict or len(own) != len(_State.pristine) or any(
                    own.get(k, _MISSING) is not v for k, v in _State.pristine.items()):
                reply["tampered"] = ["this probe's builtins"]
            if len(dumps(value)) > MAX_VALUE_BYTES:
                raise ValueError(f"probe() returned more than {MAX_VALUE_BYTES:,} bytes of data")
            reply["value"] = value
        reply["status"] = "ok"
    except StepTimeout:
        _armed = False
        reply.update(status="timeout", error=f"took longer than {message['timeout']:.3g} s")
    except MemoryError:
        _armed = False
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        where = (f"its {limit >> 20} MB memory limit" if limit != resource.RLIM_INFINITY
                 else "the machine's memory")
        reply.update(status="memory", error=f"MemoryError: the code ran out of {where}")
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, anything
        _armed = False
        if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
            reply.update(status="error", error="OSError: wrote more than the file size limit "
                         "(a huge print or file)")
        else:
            reply.update(status="error", error=_short_error(exc))
    finally:
        _armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
    reply["seconds"] = round(time.perf_counter() - started, 4)
    return reply


def _send(record: dict[str, Any]) -> None:
    _State.writer.write(_dumps(record).encode() + b"\n")
    _State.writer.flush()


def _fork(message: dict[str, Any], pidns: bool) -> bool:
    """Zygote: start a child for one attempt, wait for it, report how it ended.
    True in the child (which goes on serving steps), False in the zygote."""
    if pidns:  # nothing an earlier child started may meet this one
        _kill_others()
        _clean_scratch()
    gc.freeze()  # the template's objects stay shared: the child's collector never copies them
    child = os.fork()
    if child == 0:
        _State.role = "child"
        _send({"token": message["token"], "status": "ok", "pid": os.getpid()})
        return True
    _report_end(child, message["token"])
    return False


def _report_end(child: int, token: Any) -> None:
    """Wait for ``child`` and tell the grader how it ended (exit status, or -signal)."""
    while True:
        try:
            _, status = os.waitpid(child, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            status = 0
        break
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    _send({"token": token, "ended": code})


def _kill_others() -> bool:
    """SIGKILL every process of the PID namespace but init, this one and the warm zygote
    above it (a submission's zygote spares it), until none is left; False if some stay."""
    spare = {1, os.getpid(), _State.warm_pid}
    if _State.warm_pid == 0:  # the top zygote: kill(-1) spares only init and itself
        with contextlib.suppress(OSError):
            os.kill(-1, signal.SIGKILL)
    for _ in range(500):
        others = [int(e) for e in os.listdir("/proc") if e.isdigit() and int(e) not in spare]
        if not others:
            return True
        for pid in others:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:  # our own children: reap them
                pass
        time.sleep(0.002)
    return False


def _clean_scratch() -> None:
    """Zygote, before each child: the scratch folders hold only what the template's setup
    left there (a child's files would change the next child's run)."""
    import shutil

    if _State.scratch is None:
        _State.scratch = {d: set(os.listdir(d)) for d in (os.getcwd(), "/tmp", "/dev/shm")
                          if os.path.isdir(d)}
        return
    for folder, kept in _State.scratch.items():
        with contextlib.suppress(OSError):
            for name in set(os.listdir(folder)) - kept:
                path = os.path.join(folder, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    _writable(path)  # a folder the code made unreadable is its own
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(path)


def _writable(top: str) -> None:
    """Give every folder under ``top`` (symbolic links aside) mode 0700 again, top down."""
    with contextlib.suppress(OSError):
        os.chmod(top, 0o700)
    for root, folders, _ in os.walk(top):
        for name in folders:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                with contextlib.suppress(OSError):
                    os.chmod(path, 0o700)


def _spawn(message: dict[str, Any]) -> None:
    """Warm zygote: check that nothing of the last submission is left (processes, files,
    IPC objects, changes to this process made from outside), then fork the zygote of the
    next submission and wait for it. Anything it cannot restore ends this process, and
    the grader starts a fresh sandbox instead."""
    problems = _reset_for_next()
    if problems:
        _send({"token": message["token"], "status": "error",
               "error": "not clean: " + "; ".join(problems)[:500]})
        os._exit(3)
    gc.freeze()
    child = os.fork()
    if child == 0:
        _State.warm_pid, _State.spawned = os.getppid(), False
        _send({"token": message["token"], "status": "ok", "pid": os.getpid()})
        return
    _State.spawned = True
    _report_end(child, message["token"])


_IPC = (("shm", 31), ("sem", 66), ("msg", 71))  # /proc/sysvipc/NAME, NAMEctl syscall


def _remove_ipc() -> list[str]:
    """Remove every System V shared memory segment, semaphore set and message queue
    (the namespace's own: nothing else exists in it); what cannot be removed."""
    libc = ctypes.CDLL(None, use_errno=True)
    left = []
    for name, number in _IPC:
        path = f"/proc/sysvipc/{name}"
        try:
            for line in _lines(path)[1:]:
                ident = int(line.split()[1])
                if name == "sem":
                    libc.syscall(number, ident, 0, 0, 0)  # semctl(id, 0, IPC_RMID)
                else:
                    libc.syscall(number, ident, 0, 0)  # shmctl/msgctl(id, IPC_RMID, NULL)
            if _lines(path)[1:]:
                left.append(f"System V {name} objects")
        except (OSError, ValueError, IndexError):
            left.append(f"could not read {path}")
    return left


def _lines(path: str) -> list[str]:
    with open(path) as handle:
        return handle.read().splitlines()


def _process_state() -> dict[str, Any]:
    """What another process of the same user could change about this one."""
    state: dict[str, Any] = {f"rlimit {name}": resource.getrlimit(getattr(resource, name))
                             for name in dir(resource) if name.startswith("RLIMIT_")}
    state["priority"] = os.getpriority(os.PRIO_PROCESS, 0)
    state["scheduler"] = os.sched_getscheduler(0)
    state["affinity"] = sorted(os.sched_getaffinity(0))
    state["io priority"] = ctypes.CDLL(None).syscall(252, 1, 0)  # ioprio_get(PROCESS, self)
    return state


def _tree_state() -> dict[str, tuple[int, ...]]:
    """Every entry the template's setup left in the scratch folders, with what a change of
    content, mode, owner, name or time would change (ctime cannot be set back)."""
    found: dict[str, tuple[int, ...]] = {}
    for folder, kept in (_State.scratch or {}).items():
        info = os.lstat(folder)  # and what it holds: an entry that could not be removed
        found[folder] = (info.st_ino, info.st_mode, info.st_uid, *sorted(os.listdir(folder)))
        stack = [os.path.join(folder, name) for name in kept]
        while stack and len(found) < 10_000:
            path = stack.pop()
            try:
                info = os.lstat(path)
            except OSError:
                found[path] = (-1,)
                continue
            if stat.S_ISDIR(info.st_mode):  # its entries are listed one by one instead
                found[path] = (info.st_ino, info.st_mode, info.st_uid)
                try:
                    stack += [os.path.join(path, n) for n in os.listdir(path)]
                except OSError:
                    found[path] = (-2,)
            else:
                found[path] = (info.st_ino, info.st_mode, info.st_uid, info.st_size,
                               info.st_mtime_ns, info.st_ctime_ns, info.st_nlink)
    return found


def _reset_for_next() -> list[str]:
    """Warm zygote, before each submission: kill, clean, compare with the state taken
    before the first submission; the list of what differs (empty: clean)."""
    problems = []
    try:
        if not _kill_others():
            problems.append("processes survived SIGKILL")
        _clean_scratch()
        problems += _remove_ipc()
        now = {"process": _process_state(), "files": _tree_state()}
        if _State.baseline is None:
            _State.baseline = now
        for part in ("process", "files"):
            changed = sorted(k for k in set(now[part]) | set(_State.baseline[part])
                             if now[part].get(k) != _State.baseline[part].get(k))
            if changed:
                problems.append(f"changed {part}: {', '.join(changed[:5])}")
    except BaseException as exc:  # noqa: BLE001 - a check that fails is a failed check
        problems.append(f"the check failed: {type(exc).__name__}: {exc}")
    return problems


def _serve(reader: Any, namespace: dict[str, Any], pidns: bool) -> None:
    # bound here, before any student code: rebinding the module's names changes nothing
    run_step, check, send = _run_step, _integrity, _send
    for line in reader:
        message = _loads(line)
        op = message.get("op")
        if op == "bye":
            return
        token = message.get("token")
        if _State.role == "zygote" and op == "probes":
            _State.used = _State.used or _State.warm_pid == 0
            try:
                _State.probes = {gid: compile(src, f"<probe {gid}>", "exec")
                                 for gid, src in message["sources"].items()}
                _State.snapshot_probes = dict(_State.probes)
                _send({"token": token, "status": "ok"})
            except SyntaxError as exc:
                _send({"token": token, "status": "error", "error": f"probe: {exc}"})
            continue
        if _State.role == "zygote" and op == "fork":
            _State.used = True
            _fork(message, pidns)
            continue
        if _State.spawned and op not in ("spawn", "bye"):
            os._exit(4)  # a warm zygote takes nothing but spawns: a broken run, start afresh
        if (_State.role == "zygote" and op == "spawn" and pidns and not _State.used
                and _State.warm_pid == 0):
            _spawn(message)  # returns in both: the submission's zygote serves its steps
            continue
        if op not in ("cell", "probe") or (op == "probe" and _State.role != "child"):
            _send({"token": token, "status": "error", "error": f"{op!r} is not a step here"})
            continue
        reply = run_step(message, namespace)
        if _State.role == "child":
            tampered = reply.get("tampered", []) + check()
            if tampered:
                reply["tampered"] = tampered
        send(reply)


def main(fd_in: int, fd_out: int, pidns: bool = False) -> int:
    """Serve steps from ``fd_in`` until ``bye``; answer each on ``fd_out``."""
    os.set_inheritable(fd_in, False)
    os.set_inheritable(fd_out, False)
    reader = os.fdopen(fd_in, "rb")
    _State.writer = os.fdopen(fd_out, "wb")
    _State.fds = (fd_in, fd_out)
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - student code never reads the job
    if sys.platform.startswith("linux"):  # children may not read this process's memory
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0

    def in_child() -> None:  # a fork of student code never talks to the grader
        if _State.role == "child":
            for fd in _State.fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    os.register_at_fork(after_in_child=in_child)
    _send({"hello": 1, "pid": os.getpid()})
    # Student code runs in a real module registered as __main__, as in Jupyter, so that
    # classes it defines can be pickled (scikit-learn's estimator checks do that).
    module = types.ModuleType("__main__")
    sys.modules["__main__"] = module
    namespace: dict[str, Any] = module.__dict__
    _State.pristine = dict(vars(builtins))
    _State.snapshot_probes = {}
    _State.snapshot = _watched()
    try:
        _serve(reader, namespace, pidns)
    finally:
        with contextlib.suppress(BaseException):
            _State.writer.flush()
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
        os._exit(0)  # skip atexit handlers and finalizers a submission may have registered


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2]), "--pidns" in sys.argv[3:]))
