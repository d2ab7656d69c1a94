"""Stored outputs: the paired ``notebooks/NN_name.ipynb`` carry the outputs of a full run.

A student on a code host reads every result and plot of a lesson without running
anything, and the outputs double as a regression test: nbval executes the notebook
again and compares the stored outputs of the cells tagged ``nbval-check-output`` with
the fresh ones (lax mode: other cells must only run without error), after sanitizers
have replaced what changes from run to run (times, paths, addresses, dates).

    refresh_outputs()        run each lesson in full mode, store its outputs (make outputs)
    check_outputs(lesson)    nbval: stored outputs against a fresh run (make test)
    check_pair(lesson)       the .py and the .ipynb hold the same cells (make test)

Which cells are compared is marked in the lesson source, in the cell header:
``# %% tags=["nbval-check-output"]``. Mark cells whose output is a result the lesson
teaches and that a seed fixes (an RMSE, a table of dtypes); never a measured time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_course import config
from mlops_course.course.lessons import Lesson, _kernel_manager_class, discover, ensure_kernel
from mlops_course.errors import LessonError

CHECK_TAG = "nbval-check-output"
# pattern -> replacement, applied by nbval to stored and fresh outputs before comparing
SANITIZERS: dict[str, tuple[str, str]] = {
    "addresses": (r"0x[0-9a-fA-F]+", "0xADDRESS"),
    "dates": (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:?\d{2}|Z)?", "DATE"),
    "paths": (r"(?<![\w.$~])/(?:[\w.+@~-]+/)+[\w.+@~-]*", "PATH"),
    "durations": (r"\d+(?:[.,]\d+)?\s?(?:ns|µs|us|ms|s|sec|seconds|min)\b", "DURATION"),
}
_FAST_VARIABLES = ("MLOPS_COURSE_FAST", "FAST")


@dataclass(frozen=True)
class OutputsCheck:
    """The result of :func:`check_outputs`: ``ok``, nbval's report, and the metrics the
    fresh run recorded (``record_metrics``)."""

    lesson: str
    ok: bool
    report: str
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)


def paired_notebook(lesson: Lesson) -> Path:
    """The paired ``.ipynb`` of a lesson (same folder, same stem)."""
    return lesson.path.with_suffix(".ipynb")


def checked_cells(notebook: Any) -> list[int]:
    """Indices of the cells whose outputs nbval compares."""
    return [i for i, cell in enumerate(notebook.cells)
            if CHECK_TAG in cell.get("metadata", {}).get("tags", [])]


def _inputs(notebook: Any) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", [])))
            for c in notebook.cells]


def check_pair(lesson: Lesson) -> list[str]:
    """Problems with a lesson's pair (empty: in sync), each with a fix that keeps work.

    Only the inputs are compared (cell kinds, sources, tags): outputs, execution counts
    and the metadata a JupyterLab session adds are expected in the ``.ipynb``.
    """
    import jupytext
    import nbformat

    ipynb = paired_notebook(lesson)
    if not ipynb.exists():
        return [f"{ipynb.name} is missing: run `make sync` (it writes it from {lesson.path.name})"]
    try:
        paired = nbformat.read(ipynb, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        return [f"{ipynb.name} is not a readable notebook ({exc}). Your code is in "
                f"{lesson.path.name}; move the broken file aside (`mv notebooks/{ipynb.name} "
                f"notebooks/{ipynb.stem}.broken.ipynb`) and run `make sync`"]
    source = jupytext.read(lesson.path)
    if _inputs(source) != _inputs(paired):
        newer = ipynb.name if ipynb.stat().st_mtime > lesson.path.stat().st_mtime else \
            lesson.path.name
        return [f"{lesson.path.name} and {ipynb.name} hold different cells. Run `make sync`: "
                f"it copies the cells of the newer file ({newer}) into the other and keeps the "
                "outputs of unchanged cells; then commit both"]
    return []


def _kernel_env(build_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _FAST_VARIABLES}
    env["MLOPS_COURSE_BUILD_DIR"] = str(build_dir)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


def ipc_kernel_manager() -> Any:
    """A kernel manager for the course kernel over IPC sockets with absolute paths (in
    Jupyter's runtime folder), so that the kernel may run in another working folder."""
    import uuid

    from jupyter_core.paths import jupyter_runtime_dir

    from mlops_course.course.lab import ipc_fits

    runtime = Path(jupyter_runtime_dir())
    runtime.mkdir(parents=True, exist_ok=True)
    connection_file = str(runtime / f"kernel-{uuid.uuid4()}.json")
    return _kernel_manager_class()(  # TCP on loopback where a socket path would be too long
        kernel_name=ensure_kernel(), connection_file=connection_file,
        transport="ipc" if ipc_fits(connection_file) else "tcp")


def execute_notebook(notebook: Any, *, cwd: Path, env: dict[str, str] | None = None,
                     timeout_s: int = 1800) -> Any:
    """Execute a notebook on the course kernel in ``cwd``, as JupyterLab's *Run All*
    does (a cell tagged ``raises-exception`` may fail; any other error stops the run)."""
    from nbclient import NotebookClient

    client = NotebookClient(notebook, km=ipc_kernel_manager(), timeout=timeout_s,
                            resources={"metadata": {"path": str(cwd)}}, record_timing=False)
    client.execute(env=env or dict(os.environ), cleanup_kc=True)  # shut the kernel down
    return notebook


def execute_full(notebook: Any, *, cwd: Path, build_dir: Path, timeout_s: int = 1800) -> Any:
    """Execute a notebook in full mode (FAST unset), its build folder ``build_dir``."""
    return execute_notebook(notebook, cwd=cwd, env=_kernel_env(build_dir), timeout_s=timeout_s)


def refresh_outputs(names: list[str] | None = None, *, progress: bool = True) -> list[Path]:
    """Run each lesson in full mode and store its outputs in the paired ``.ipynb``.

    The inputs are not touched: the pair must be in sync first (``make sync``). The
    ``.py`` gets the newer time stamp, as ``jupytext --sync`` leaves it, so that
    JupyterLab keeps reading the inputs from it. A lesson that fails stores nothing.
    """
    import nbformat

    written = []
    for lesson in discover(names):
        problems = check_pair(lesson)
        if problems:
            raise LessonError(problems[0])
        ipynb = paired_notebook(lesson)
        notebook = nbformat.read(ipynb, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
                cell.metadata.pop("execution", None)
        if progress:
            print(f"{lesson.name}: running in full mode ...", flush=True)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"mlops-course-{lesson.name[:2]}-") as tmp:
            try:
                execute_full(notebook, cwd=Path(tmp), build_dir=config.build_dir())
            except Exception as exc:  # a failing cell: report it, store nothing
                raise LessonError(f"{lesson.name} failed in full mode, nothing was stored:\n"
                                  f"{str(exc)[-2000:]}") from exc
        ipynb.write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
        os.utime(lesson.path)  # the .py stays the newer file of the pair
        written.append(ipynb)
        if progress:
            print(f"{lesson.name}: stored the outputs in {ipynb.name} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    return written


def sanitize_file(folder: Path) -> Path:
    """Write :data:`SANITIZERS` as an nbval sanitize file into ``folder``."""
    lines = []
    for name, (pattern, replacement) in SANITIZERS.items():
        lines += [f"[{name}]", f"regex: {pattern}", f"replace: {replacement}", ""]
    path = folder / "nbval-sanitize.cfg"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def check_outputs(lesson: Lesson | Path, *, workdir: Path | None = None,
                  timeout_s: int = 1800) -> OutputsCheck:
    """Run nbval (lax mode, with :data:`SANITIZERS`) on a lesson, in full mode.

    For a :class:`Lesson` the notebook that runs is the ``.py``'s cells with the outputs
    stored in the ``.ipynb`` (cells changed since ``make outputs`` have none), so the
    current code is what runs; a path to an ``.ipynb`` runs as it is. The notebook runs in
    ``workdir`` (a temporary folder by default), its build folder there too: nothing is
    written beside the lesson.
    """
    import jupytext
    import nbformat
    from jupytext.combine import combine_inputs_with_outputs

    ipynb = paired_notebook(lesson) if isinstance(lesson, Lesson) else lesson
    name = ipynb.stem
    ensure_kernel()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlops-course-nbval-") as tmp:
        folder = Path(workdir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / ipynb.name
        if isinstance(lesson, Lesson):
            stored = nbformat.read(ipynb, as_version=4)
            notebook = combine_inputs_with_outputs(jupytext.read(lesson.path), stored)
            nbformat.write(notebook, copy)
        else:
            shutil.copyfile(ipynb, copy)
        (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        metrics_file = folder / "metrics.json"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "-p", "no:xdist", "-p", "mlops_course.course.nbval_metrics",
                   "-c", str(folder / "pytest.ini"), "--rootdir", str(folder), "--nbval-lax",
                   "--nbval-sanitize-with", str(sanitize_file(folder)),
                   "--nbval-kernel-name", config.KERNEL_NAME,
                   "--nbval-cell-timeout", str(timeout_s), copy.name]
        env = {**_kernel_env(folder / "build"), "MLOPS_COURSE_METRICS_OUT": str(metrics_file)}
        proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                              check=False)
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    report = (proc.stdout + proc.stderr).strip()
    return OutputsCheck(name, proc.returncode == 0, report, time.perf_counter() - start,
                        metrics)


def outputs_advice(check: OutputsCheck) -> str:
    """What a failed :func:`check_outputs` means and the fix; the fix keeps all code."""
    return (f"notebooks/{check.lesson}.ipynb: the stored outputs differ from a fresh "
            "full-mode run (nbval's report above).\n"
            "- If you ran the lesson in JupyterLab and saved, or changed the lesson: "
            "`make outputs` runs it again and stores fresh outputs (your code in the .py is "
            "kept; only outputs are rewritten).\n"
            "- If you changed nothing, a result of the lesson moved: read the diff, and "
            "refresh the outputs with `make outputs` only if the change is intended.")
