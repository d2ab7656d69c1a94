"""The lesson runner behind ``mlops-course lessons run`` and ``make lessons``.

Each lesson is a py:percent notebook ``notebooks/NN_name.py``. The runner reads
it with jupytext, executes it through papermill on the project's kernel (the
interpreter running this code) with the ``FAST`` parameter, writes the executed
notebook to ``build/lessons/`` and collects the metrics the lesson recorded with
:func:`mlops_course.course.results.record_metrics`. A failing lesson is reported with
its failing cell and error; the other lessons still run.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_course import config
from mlops_course.course.results import read_metrics
from mlops_course.errors import LessonError

LESSON_PATTERN = re.compile(r"^\d{2}_[a-z0-9_]+\.py$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class Lesson:
    """One lesson notebook: ``name`` is its file stem, e.g. ``01_traditional_workflow``."""

    name: str
    path: Path

    @property
    def number(self) -> int:
        return int(self.name[:2])

    @property
    def title(self) -> str:
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.startswith("# # "):
                return line[4:].strip()
        return self.name


@dataclass
class LessonResult:
    """What running one lesson gave: status ``ok`` or ``failed``, seconds, metrics, error."""

    name: str
    title: str
    status: str
    seconds: float
    fast: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    output: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def discover(names: list[str] | None = None) -> list[Lesson]:
    """Return the course's lessons in order, or those matching ``names``.

    A name matches a lesson by its full name, its number (``1`` or ``01``) or a
    prefix (``01_trad``). An unknown name raises LessonError listing the lessons.
    """
    lessons = [
        Lesson(path.stem, path)
        for path in sorted(config.notebooks_dir().glob("*.py"))
        if LESSON_PATTERN.match(path.name)
    ]
    if not names:
        return lessons
    chosen: list[Lesson] = []
    for wanted in names:
        key = f"{int(wanted):02d}_" if wanted.isdigit() else wanted
        matches = [lesson for lesson in lessons if lesson.name.startswith(key)]
        if not matches:
            known = ", ".join(lesson.name for lesson in lessons) or "none"
            raise LessonError(f"No lesson matches {wanted!r}. Lessons: {known}.")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def ensure_kernel() -> str:
    """Make sure the ``mlops-course`` kernel runs this interpreter; install it if needed.

    The kernel spec goes into this environment (``sys.prefix``), so the lessons run
    on the project's venv whatever Jupyter a user has elsewhere.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(config.KERNEL_NAME)
        if Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return config.KERNEL_NAME
    except NoSuchKernel:
        spec = None
    from ipykernel.kernelspec import install

    install(
        kernel_name=config.KERNEL_NAME,
        display_name="Python (mlops-course)",
        prefix=sys.prefix,
    )
    spec = KernelSpecManager().get_kernel_spec(config.KERNEL_NAME)
    if Path(spec.argv[0]).resolve() != Path(sys.executable).resolve():
        raise LessonError(
            f"The Jupyter kernel {config.KERNEL_NAME!r} found in {spec.resource_dir} runs "
            f"{spec.argv[0]}, not this project's {sys.executable}.\n"
            f"Fix: remove that folder (`jupyter kernelspec remove {config.KERNEL_NAME}`) "
            "and run again."
        )
    return config.KERNEL_NAME


def _kernel_manager_class() -> type:
    """A kernel manager that talks to the kernel over local IPC sockets, not TCP ports
    (nothing listens on the network, and the kernel prints no transport warning)."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            if os.name == "posix":
                kwargs.setdefault("transport", "ipc")
            super().__init__(**kwargs)

    return IPCKernelManager


def read_lesson(lesson: Lesson) -> Any:
    """Read a lesson's py:percent source as an nbformat notebook."""
    import jupytext

    notebook = jupytext.read(lesson.path)
    notebook.metadata["kernelspec"] = {
        "name": config.KERNEL_NAME, "display_name": "Python (mlops-course)", "language": "python"}
    notebook.metadata.setdefault("language_info", {"name": "python"})
    return notebook


def _describe_failure(exc: BaseException) -> str:
    """One readable block: which cell failed, its first lines and the error."""
    cell_index = getattr(exc, "cell_index", None)
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    source = getattr(exc, "source", "") or ""
    lines = [f"{ename}: {_ANSI.sub('', str(evalue))}".strip()]
    if cell_index is not None:
        excerpt = "\n".join("    " + line for line in source.splitlines()[-8:])
        lines.insert(0, f"in cell {cell_index}:\n{excerpt}")
    return "\n".join(lines)


def run_lesson(
    lesson: Lesson,
    *,
    fast: bool,
    output_dir: Path | None = None,
    progress: bool | str = True,
    cell_timeout_s: int = 1800,
) -> LessonResult:
    """Execute one lesson through papermill and return its result (never raises for a
    failing notebook: the failure is in the result)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output_dir = output_dir or config.build_dir() / "lessons"
    output_dir.mkdir(parents=True, exist_ok=True)
    output_path = output_dir / f"{lesson.name}.ipynb"
    kernel = ensure_kernel()
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    start = time.perf_counter()
    status, error, executed = "ok", None, None
    try:
        executed = papermill.execute_notebook(
            read_lesson(lesson),
            str(output_path),
            parameters={"FAST": fast},
            kernel_name=kernel,
            progress_bar={"desc": progress if isinstance(progress, str) else lesson.name,
                          "leave": False} if progress else False,
            cwd=str(output_dir),
            execution_timeout=cell_timeout_s,
            kernel_manager_class=_kernel_manager_class(),
        )
    except PapermillExecutionError as exc:
        status, error = "failed", _describe_failure(exc)
    except Exception as exc:  # a dead kernel or a timeout is a failed lesson, not a crash
        status, error = "failed", _describe_failure(exc)
    seconds = time.perf_counter() - start
    if executed is None and output_path.exists():
        import nbformat

        executed = nbformat.read(output_path, as_version=4)
    metrics = read_metrics(executed) if executed is not None else {}
    return LessonResult(
        name=lesson.name,
        title=lesson.title,
        status=status,
        seconds=round(seconds, 1),
        fast=fast,
        metrics=metrics,
        error=error,
        output=str(output_path),
    )


def _format_metric(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def format_table(results: list[LessonResult]) -> str:
    """Return the summary as a plain-text table, one row a lesson."""
    rows = [("lesson", "status", "seconds", "key metrics")]
    for result in results:
        metrics = ", ".join(f"{k}={_format_metric(v)}" for k, v in result.metrics.items())
        rows.append((result.name, result.status, f"{result.seconds:.1f}", metrics))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for i, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
        lines.append("  ".join(cells) + "  " + row[3])
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 11)
    return "\n".join(lines)


def write_summary(results: list[LessonResult], path: Path, *, fast: bool) -> dict[str, Any]:
    """Write ``summary.json``: the run's mode, machine and one entry a lesson.

    Running some lessons updates their entries and keeps those of the other lessons
    from an earlier run in the same mode, so the file always covers the whole course.
    """
    mode = "fast" if fast else "full"
    entries = {result.name: asdict(result) for result in results}
    if path.exists():
        try:
            earlier = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            earlier = {}
        if earlier.get("mode") == mode:
            known = {lesson.name for lesson in discover()}
            for entry in earlier.get("lessons", []):
                if entry.get("name") in known:
                    entries.setdefault(entry["name"], entry)
    lessons = [entries[name] for name in sorted(entries)]
    summary = {
        "mode": mode,
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "ok": all(entry["status"] == "ok" for entry in lessons),
        "lessons": lessons,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def run_lessons(
    names: list[str] | None = None,
    *,
    fast: bool,
    output_dir: Path | None = None,
    progress: bool = True,
) -> list[LessonResult]:
    """Run the chosen lessons in order, print each result and the summary table,
    and write ``summary.json`` beside the executed notebooks."""
    output_dir = output_dir or config.build_dir() / "lessons"
    lessons = discover(names)
    mode = "fast" if fast else "full"
    print(f"Running {len(lessons)} lesson(s) in {mode} mode -> {output_dir}", flush=True)
    results = []
    for i, lesson in enumerate(lessons, 1):
        label = f"[{i}/{len(lessons)}] {lesson.name}" if progress else False
        result = run_lesson(lesson, fast=fast, output_dir=output_dir, progress=label)
        results.append(result)
        mark = "ok    " if result.ok else "FAILED"
        print(f"[{i}/{len(lessons)}] {mark} {lesson.name} ({result.seconds:.1f} s)", flush=True)
        if result.error:
            print("       " + result.error.replace("\n", "\n       "), file=sys.stderr, flush=True)
    summary_path = output_dir / "summary.json"
    write_summary(results, summary_path, fast=fast)
    print()
    print(format_table(results))
    print(f"\nSummary written to {summary_path}")
    return results
