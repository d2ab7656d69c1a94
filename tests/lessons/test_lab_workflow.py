"""Working in JupyterLab, as a student does, never fails the checks with advice that
loses work.

A lab session is simulated with the code that JupyterLab's server runs when you open and
save (jupytext's contents manager over jupyter_server's file manager, checkpoints
included), on a copy of the course; what the browser changes before a save is applied
here: the kernel's ``language_info``, outputs and execution counts, numbers written back
as JavaScript writes them (``8.0`` -> ``8``). Then the same checks that ``make test``
runs look at the copy, and the fixes they advise are followed. A last test starts a real
``jupyter lab`` with the course's settings.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import pytest

from mlops_course import config
from mlops_course.course import lab as course_lab
from mlops_course.course import lessons
from mlops_course.course.exercises import (
    generate_exercises,
    inspect_exercise_file,
    list_exercises,
    load_exercise,
    stray_exercise_files,
)
from mlops_course.course.outputs import CHECK_TAG, check_outputs, check_pair, execute_notebook

LANGUAGE_INFO = {"codemirror_mode": {"name": "ipython", "version": 3},
                 "file_extension": ".py", "mimetype": "text/x-python", "name": "python",
                 "nbconvert_exporter": "python", "pygments_lexer": "ipython3",
                 "version": "3.11.7"}
# advice that may lose a student's work, whatever it is about
DESTRUCTIVE = re.compile(r"git (checkout|restore|reset|clean|stash)|\brm\b|--force|"
                         r"--pristine|clear (them|the outputs)|overwrite", re.I)
LESSON = lessons.discover()[0].name
EXERCISE = list_exercises()[0]


def assert_safe(advice: str) -> None:
    assert advice and not DESTRUCTIVE.search(advice), advice


class Lab:
    """JupyterLab's server side on a folder, as `make lab` runs it."""

    def __init__(self, root: Path) -> None:
        from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
        from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class

        manager = build_async_jupytext_contents_manager_class(AsyncLargeFileManager)
        self.contents = manager(root_dir=str(root))

    def open(self, path: str) -> dict[str, Any]:
        """Open a notebook: a checkpoint, then the content the browser gets."""
        async def run() -> dict[str, Any]:
            await self.contents.create_checkpoint(path)
            return (await self.contents.get(path, content=True))["content"]
        return json.loads(json.dumps(asyncio.run(run())))

    def save(self, path: str, notebook: dict[str, Any]) -> None:
        """Save as the browser does: the kernel's language_info, JavaScript numbers."""
        notebook["metadata"]["language_info"] = LANGUAGE_INFO
        as_js = json.loads(json.dumps(notebook), parse_float=lambda s: int(float(s))
                           if float(s).is_integer() else float(s))
        asyncio.run(self.contents.save({"type": "notebook", "format": "json",
                                        "content": as_js}, path))


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the course (lessons in sync, exercises as generated) that the checks see."""
    root = tmp_path / "course"
    for folder in ("notebooks", "solutions"):
        shutil.copytree(config.project_root() / folder, root / folder,
                        ignore=shutil.ignore_patterns(".*", "__pycache__"))
    shutil.copy(config.project_root() / "jupytext.toml", root)
    monkeypatch.setenv("MLOPS_COURSE_HOME", str(root))
    for lesson in lessons.discover():  # `make sync`, in case the checkout is mid-edit
        jupytext.write(jupytext.read(lesson.path), lesson.path.with_suffix(".ipynb"))
        os.utime(lesson.path)
    generate_exercises()
    return root


def _outputs_of_a_run(notebook: dict[str, Any]) -> None:
    """What Run All leaves in a notebook: counts, text with times and paths, a plot."""
    count = 0
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            count += 1
            cell["execution_count"] = count
            cell["outputs"] = [
                {"output_type": "stream", "name": "stdout",
                 "text": f"took {0.1 * count:.2f} s in /home/student/course\n"},
                {"output_type": "display_data", "metadata": {},
                 "data": {"text/plain": "<Figure size 640x480 with 1 Axes>",
                          "image/png": "iVBORw0KGgo="}}]


def _sync(root: Path) -> None:
    """`make sync`, as the Makefile runs it."""
    jupytext_cli = Path(sys.executable).with_name("jupytext")
    subprocess.run([str(jupytext_cli), "--sync",
                    *sorted(str(p) for p in root.glob("notebooks/[0-9][0-9]_*.py"))],
                   cwd=root, check=True, capture_output=True)


def test_opening_a_lesson_changes_nothing_that_is_checked(course: Path) -> None:
    lesson = lessons.discover([LESSON])[0]
    source = lesson.path.read_bytes()
    lab = Lab(course)
    notebook = lab.open(f"notebooks/{lesson.path.name}")
    lab.save(f"notebooks/{lesson.path.name}", notebook)  # the autosave after two minutes
    assert lesson.path.read_bytes() == source, "a mere open rewrote the lesson's source"
    assert (course / "notebooks" / ".ipynb_checkpoints").is_dir()
    assert check_pair(lesson) == []


def test_run_all_and_save_keeps_the_checks_green_and_sync_keeps_the_outputs(
        course: Path) -> None:
    lesson = lessons.discover([LESSON])[0]
    lab = Lab(course)
    notebook = lab.open(f"notebooks/{lesson.path.name}")
    _outputs_of_a_run(notebook)
    lab.save(f"notebooks/{lesson.path.name}", notebook)
    paired = nbformat.read(lesson.path.with_suffix(".ipynb"), as_version=4)
    assert any(c.get("outputs") for c in paired.cells), "the outputs are saved"
    assert check_pair(lesson) == [], "outputs in the paired notebook are expected"

    # the student edits the .py in a text editor: the check advises `make sync` ...
    text = lesson.path.read_text(encoding="utf-8")
    lesson.path.write_text(text + "\n# %%\nprint('my experiment')\n", encoding="utf-8")
    problems = check_pair(lesson)
    assert problems and "make sync" in problems[0]
    assert_safe(problems[0])
    _sync(course)  # ... which keeps the edit and the outputs of the unchanged cells
    assert check_pair(lesson) == []
    paired = nbformat.read(lesson.path.with_suffix(".ipynb"), as_version=4)
    assert paired.cells[-1].source == "print('my experiment')"
    assert sum(bool(c.get("outputs")) for c in paired.cells) == sum(
        c["cell_type"] == "code" for c in notebook["cells"])


def test_opening_and_saving_an_exercise_keeps_it_up_to_date(course: Path) -> None:
    lab = Lab(course)
    path = f"exercises/{EXERCISE}.ipynb"
    lab.save(path, lab.open(path))
    saved = json.loads((course / path).read_text())
    assert saved["metadata"]["language_info"] == LANGUAGE_INFO
    assert (course / "exercises" / ".ipynb_checkpoints").is_dir()
    state = inspect_exercise_file(load_exercise(EXERCISE))
    assert state.up_to_date and not state.work, state.advice()
    assert stray_exercise_files() == [], "checkpoints are not stray exercises"


def test_answers_saved_in_the_lab_survive_every_fix_the_checks_advise(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exercise = load_exercise(EXERCISE)
    grade_id, answer = next(iter(exercise.answers.items()))
    mine = answer.replace("### BEGIN SOLUTION\n", "").replace("### END SOLUTION\n", "") + \
        "\n# my own note\n"
    lab = Lab(course)
    path = f"exercises/{EXERCISE}.ipynb"
    notebook = lab.open(path)
    for cell in notebook["cells"]:
        if cell["metadata"].get("grade_id") == grade_id:
            cell["source"] = mine
    _outputs_of_a_run(notebook)
    notebook["cells"].append(nbformat.v4.new_code_cell("scratch = 1", id="mine-001"))
    lab.save(path, notebook)
    target = course / path
    saved = target.read_bytes()

    state = inspect_exercise_file(exercise)
    assert state.up_to_date, state.advice()
    assert dict(state.answers) == {grade_id: mine} and "outputs" in state.work
    notes: list[str] = []
    generate_exercises(notes=notes)  # `make exercises` leaves an up-to-date file alone
    assert target.read_bytes() == saved and "kept" in notes[0]

    # the instructor changes the exercise (the student updates the course): out of date
    solution = course / "solutions" / f"{EXERCISE}.py"
    solution.write_text(solution.read_text().replace("# %% [markdown]\n# ## Part 1",
                                                     "# %% [markdown]\n# ## Part 1 (revised)",
                                                     1))
    exercise = load_exercise(EXERCISE)
    state = inspect_exercise_file(exercise)
    assert not state.up_to_date
    advice = state.advice()
    assert "make exercises" in advice and grade_id in advice and "backup" in advice
    assert_safe(advice)
    notes = []
    generate_exercises(notes=notes)  # following the advice
    assert inspect_exercise_file(exercise).up_to_date
    rewritten = nbformat.read(target, as_version=4)
    assert [c.source for c in rewritten.cells if c.metadata.get("grade_id") == grade_id] == [
        mine], "the answer is carried into the new exercise"
    assert any("(revised)" in c.source for c in rewritten.cells)
    backups = sorted(target.parent.glob(f"{EXERCISE}.backup-*.ipynb"))
    assert len(backups) == 1 and backups[0].read_bytes() == saved, "the old file is kept"
    assert backups[0].name in notes[0]
    assert stray_exercise_files() == [], "a backup is not a stray exercise"


def test_a_run_saved_from_the_lab_passes_nbval(course: Path, tmp_path: Path) -> None:
    """End to end: a lesson run on a real kernel, saved by the lab, checked by nbval."""
    tiny = course / "notebooks" / "99_tiny.py"
    tiny.write_text('# %% [markdown]\n# # Lesson 99 — tiny\n\n# %% tags=["parameters"]\n'
                    f'FAST = False\n\n# %% tags=["{CHECK_TAG}"]\nprint(6 * 7)\n\n'
                    f'# %% tags=["{CHECK_TAG}"]\nimport time\n'
                    'print(f"{time.perf_counter() % 1:.3f} s", object())\n', encoding="utf-8")
    jupytext.write(jupytext.read(tiny), tiny.with_suffix(".ipynb"))
    lab = Lab(course)
    notebook = nbformat.from_dict(lab.open("notebooks/99_tiny.py"))
    execute_notebook(notebook, cwd=tmp_path)
    lab.save("notebooks/99_tiny.py", json.loads(json.dumps(notebook)))
    lesson = lessons.discover(["99"])[0]
    assert check_pair(lesson) == []
    result = check_outputs(lesson, workdir=tmp_path / "nbval")
    assert result.ok, result.report


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.notebook
def test_lab_kernels_use_ipc_and_the_settings_hold(tmp_path: Path) -> None:
    """A real `jupyter lab` with the settings `make lab` writes: an IPC kernel that prints
    no transport warning, kernels shut down with their tab, no news, idle culling."""
    prefix = tmp_path / "prefix"
    course_lab.configure_lab(prefix)
    assert course_lab.configure_lab(prefix) == [], "configure_lab is idempotent"
    root = tmp_path / "root"
    root.mkdir()
    # the runtime folder as short as Jupyter's usual one (a socket path has <= 107 bytes)
    runtime = Path(tempfile.mkdtemp(prefix="mlc-", dir="/tmp"))
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(prefix / "etc" / "jupyter"),
           "JUPYTER_RUNTIME_DIR": str(runtime)}
    jupyter = str(Path(sys.executable).with_name("jupyter"))
    shown = subprocess.run([jupyter, "lab", "--show-config"], env=env, capture_output=True,
                           text=True, timeout=60, check=True).stdout
    assert "cull_idle_timeout = 1800" in shown and "cull_connected = False" in shown
    assert "LabKernelManager" in shown
    port = _free_port()
    server = subprocess.Popen(
        [jupyter, "lab", "--no-browser", f"--port={port}", "--ServerApp.port_retries=0",
         "--IdentityProvider.token=course", f"--ServerApp.root_dir={root}",
         f"--LabApp.app_settings_dir={course_lab.lab_settings_path(prefix).parent}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def call(method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": "token course"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
        return json.loads(text) if text.lstrip().startswith(("{", "[")) else text

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                call("GET", "/api/status")
                break
            except OSError:
                assert time.monotonic() < deadline, "jupyter lab did not start"
                time.sleep(0.3)
        kernel = call("POST", "/api/kernels", {"name": config.KERNEL_NAME})
        connection = runtime / f"kernel-{kernel['id']}.json"
        while not connection.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert json.loads(connection.read_text())["transport"] == "ipc"
        time.sleep(3)  # the kernel's start-up warnings, if any
        tracker = call("GET", "/lab/api/settings/@jupyterlab/notebook-extension:tracker")
        assert tracker["schema"]["properties"]["kernelShutdown"]["default"] is True
        notes = call("GET", "/lab/api/settings/@jupyterlab/apputils-extension:notification")
        assert notes["schema"]["properties"]["fetchNews"]["default"] == "false"
        assert '"news": {"disabled": true}' in call("GET", "/lab")
        call("DELETE", f"/api/kernels/{kernel['id']}")
    except Exception:
        server.terminate()
        print(server.communicate(timeout=30)[0][-4000:])
        raise
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0] if server.stdout and not server.stdout.closed \
            else ""
        shutil.rmtree(runtime, ignore_errors=True)
    assert "without encryption" not in log, log[-2000:]


def test_make_lab_configures_then_starts_jupyter_lab_with_its_arguments(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mlops_course import cli

    class Started(Exception):  # os.execv never returns: JupyterLab replaces the command
        pass

    def execv(path: str, argv: list[str]) -> None:
        raise Started(argv)

    monkeypatch.setattr(course_lab, "configure_lab", lambda prefix=None: [])
    monkeypatch.setattr(os, "execv", execv)
    with pytest.raises(Started) as started:
        cli.main(["lab", "--no-browser", "--port", "8899"])
    command = started.value.args[0]
    assert command[1:3] == ["lab", f"--notebook-dir={config.project_root()}"]
    assert command[-3:] == ["--no-browser", "--port", "8899"]
    assert ("--allow-root" in command) == (os.geteuid() == 0)
