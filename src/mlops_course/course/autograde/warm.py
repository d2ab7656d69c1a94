"""Warm zygotes: one sandbox per grading thread, reused across the submissions of one
exercise, so that only the first submission pays for the sandbox start and the
template's setup cells (imports, data)::

    zygotes = WarmZygotes()
    try:
        for answers in submissions:
            run_submission(exercise, answers, sandbox=sandbox, zygotes=zygotes)
    finally:
        zygotes.close()

The warm zygote never runs student code and never sees a probe or an answer: for each
submission it forks a *submission zygote* that gets the probes and forks the attempts,
exactly as a fresh sandbox's zygote would (see :mod:`mlops_course.course.autograde.worker`).
Before each fork it kills every other process in the PID namespace, removes what the
last submission left in ``/tmp``, ``/dev/shm`` and the working folder and every System V
IPC object, and compares the files the setup left and its own limits, priorities and
CPU affinity with how they were before the first submission; anything it cannot
restore, a message it does not expect, or a zygote that died, and the grader starts a
fresh sandbox instead. Only the PID-namespace modes (``namespaces``, ``userns``) reuse
zygotes; the others start a fresh sandbox per submission as before.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any

MAX_USES = 500  # submissions per warm zygote, then a fresh one (its CPU-time limit grows)
SPAWN_TIMEOUT_S = 5.0  # a warm zygote that does not spawn in this time is replaced


@dataclass
class Warm:
    """One warm sandbox: its context manager, worker, and the setup cells' results."""

    key: Any
    context: Any
    worker: Any
    setup: dict[int, Any] = field(default_factory=dict)
    uses: int = 0

    def alive(self) -> bool:
        return self.worker.popen.poll() is None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.worker.kill()
        self.context.__exit__(None, None, None)


class WarmZygotes:
    """Warm sandboxes, one per thread that grades (each thread is one job)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: dict[int, Warm] = {}
        self.spawned = 0  # submissions that ran in a warm zygote
        self.replaced = 0  # warm zygotes given up (dead, not clean, other exercise)

    @staticmethod
    def reusable(sandbox: Any) -> bool:
        return sandbox.mode in ("namespaces", "userns")

    def take(self, key: Any) -> Warm | None:
        """This thread's warm sandbox for ``key``, or None (the caller starts one)."""
        warm = getattr(self._local, "warm", None)
        self._local.warm = None
        if warm is None:
            return None
        with self._lock:
            self._all.pop(id(warm), None)
        if warm.key != key or warm.uses >= MAX_USES or not warm.alive():
            self.replaced += 1
            warm.close()
            return None
        return warm

    def give_back(self, warm: Warm) -> None:
        """Keep ``warm`` (its last submission ended cleanly) for this thread's next one."""
        old = getattr(self._local, "warm", None)
        if old is not None and old is not warm:
            self.take(old.key)
        self._local.warm = warm
        with self._lock:
            self._all[id(warm)] = warm

    def count(self) -> None:
        with self._lock:
            self.spawned += 1

    def close(self) -> None:
        """Kill every warm sandbox (each is idle: no submission runs in it)."""
        with self._lock:
            held, self._all = list(self._all.values()), {}
        for warm in held:
            warm.close()

    def __enter__(self) -> WarmZygotes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
