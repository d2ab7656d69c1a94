"""The student side of grading: ``python -m mlops_course.course.autograde.worker FD_IN FD_OUT``.

The grader starts this process inside the sandbox and talks to it over two pipes,
one JSON object per line, one step at a time::

    worker -> grader   {"hello": 1}
    grader -> worker   {"op": "cell", "label": ..., "source": ..., "timeout": s, "token": t}
    worker -> grader   {"token": t, "status": "ok", "seconds": ...}
    grader -> worker   {"op": "probe", "grade_id": ..., "source": ..., "timeout": s, "token": t}
    worker -> grader   {"token": t, "status": "ok", "value": <plain data>, "seconds": ...}
    grader -> worker   {"op": "bye"}

Cells run in one namespace (setup cells from the template, the student's answer
cells); each probe runs in a copy of it. A step that raises reports
``status: "error"``, one that overruns its time budget (``SIGALRM``) reports
``"timeout"``, ``MemoryError`` reports ``"memory"``; the worker then goes on with
the next step. The next step is sent only after the current one answered, with a
fresh token, so nothing the student's code writes ahead of time can pass for a
later answer. This process never sees a ``verify`` function or an expected value:
the grader checks the returned data itself.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import resource
import signal
import sys
import time
import types
from typing import Any

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
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else repr(float(value))
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic | numpy.ndarray):
        return plain(value.tolist(), depth + 1)
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    raise TypeError(f"probe() returned a {type(value).__name__}, which is not plain data "
                    "(numbers, strings, lists and dicts only)")


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


def _run_step(message: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
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
            scope = dict(namespace)
            exec(compile(message["source"], f"<probe {message['grade_id']}>", "exec"), scope)
            value = scope["probe"]()
            _armed = False
            value = plain(value)
            if len(json.dumps(value)) > MAX_VALUE_BYTES:
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


def main(fd_in: int, fd_out: int) -> int:
    """Serve steps from ``fd_in`` until ``bye``; answer each on ``fd_out``."""
    os.set_inheritable(fd_in, False)
    os.set_inheritable(fd_out, False)
    reader = os.fdopen(fd_in, "rb")
    writer = os.fdopen(fd_out, "wb")
    signal.signal(signal.SIGALRM, _on_alarm)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - student code never reads the job

    def send(record: dict[str, Any]) -> None:
        writer.write(json.dumps(record).encode() + b"\n")
        writer.flush()

    main_pid = os.getpid()

    def in_child() -> None:  # a fork of student code never talks to the grader
        for fd in (fd_in, fd_out):
            with contextlib.suppress(OSError):
                os.close(fd)

    os.register_at_fork(after_in_child=in_child)
    send({"hello": 1, "pid": main_pid})
    # Student code runs in a real module registered as __main__, as in Jupyter, so that
    # classes it defines can be pickled (scikit-learn's estimator checks do that).
    module = types.ModuleType("__main__")
    sys.modules["__main__"] = module
    namespace: dict[str, Any] = module.__dict__
    for line in reader:
        message = json.loads(line)
        if message.get("op") == "bye":
            break
        reply = _run_step(message, namespace)
        if os.getpid() != main_pid:  # a forked copy got back here: it must not go on
            os._exit(0)
        send(reply)
    writer.flush()
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
    os._exit(0)  # skip atexit handlers and finalizers a submission may have registered


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
