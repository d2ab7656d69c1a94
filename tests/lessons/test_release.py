"""The student edition (`make release`): what students need, nothing that gives answers away,
and its lessons run from that tree with its own package and Makefile."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

from mlops_course import config
from mlops_course.course import lessons
from mlops_course.course.exercises import list_exercises, load_exercise
from mlops_course.course.release import (
    MARKER,
    ReleaseError,
    Secret,
    build_student_edition,
    find_leaks,
    public_text,
    solution_secrets,
)

ROOT = config.project_root()
CORPUS = ROOT / "tests" / "grading" / "submissions"


@pytest.fixture(scope="module")
def edition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release") / "mlops-course"
    build_student_edition(out)
    return out


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def _corpus_secrets() -> list[Secret]:
    """The answer cells of every submission in the grading corpus (full solutions in
    students' words, and hostile code)."""
    secrets = []
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix not in (".ipynb", ".py") or not path.is_file():
            continue
        exercise = load_exercise(path.relative_to(CORPUS).parts[0])
        try:
            if path.suffix == ".ipynb":
                cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
            else:
                cells = jupytext.reads(path.read_text(encoding="utf-8"), fmt="py:percent").cells
        except (ValueError, UnicodeDecodeError):
            continue  # the corpus's broken files on purpose
        for cell in cells:
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            if cell.get("metadata", {}).get("grade_id") in exercise.answers:
                lines = tuple(line.strip() for line in source.splitlines() if line.strip())
                secrets.append(Secret(f"{path.relative_to(ROOT)}", lines))
    return secrets


def test_edition_holds_the_course_and_no_instructor_material(edition: Path) -> None:
    files = _files(edition)
    for lesson in lessons.discover():
        assert {f"notebooks/{lesson.name}.py", f"notebooks/{lesson.name}.ipynb"} <= files
    assert {f"exercises/{name}.ipynb" for name in list_exercises()} <= files
    assert {str(p.relative_to(ROOT)) for p in (ROOT / "lectures").glob("*.md")} <= files
    assert {"README.md", "Makefile", "pyproject.toml", "constraints.txt", "jupytext.toml",
            "src/mlops_course/__init__.py", "tests/lessons/test_notebooks.py", MARKER} <= files
    forbidden = ("solutions/", "tests/grading/", "tests/code/", "benchmarks/", ".ci/",
                 "edition/", "tests/lessons/test_exercises.py", "tests/lessons/test_release.py")
    assert not [f for f in files if f.startswith(forbidden)]
    assert not [f for f in files if "__pycache__" in f or ".ipynb_checkpoints" in f]


def test_student_readme_and_makefile(edition: Path) -> None:
    readme = (edition / "README.md").read_text()
    assert "student edition" in readme and "{{" not in readme and "../shared" not in readme
    for lesson in lessons.discover():
        assert f"(notebooks/{lesson.name}.ipynb)" in readme
    for link in [part.split(")")[0] for part in readme.split("](")[1:]]:
        if not link.startswith("http"):
            assert (edition / link).exists(), f"README links to {link}, not in the edition"
    helped = subprocess.run(["make", "-s", "help"], cwd=edition, capture_output=True,
                            text=True, check=True).stdout
    for target in ("lessons", "lab", "test", "outputs", "sync"):
        assert f"make {target} " in helped
    for target in ("exercises", "grade", "release"):
        assert f"make {target} " not in helped
        assert f"\n{target}:" not in (edition / "Makefile").read_text()


def test_no_solution_hidden_test_or_corpus_answer_is_inside(edition: Path) -> None:
    public = public_text()
    secrets = solution_secrets() + _corpus_secrets()
    assert len(secrets) > 10
    leaks = find_leaks(edition, secrets, public)
    assert not leaks, "\n".join(leaks)


def test_the_leak_scan_finds_a_planted_answer(edition: Path, tmp_path: Path) -> None:
    """The scan above would see an answer in an output, a package file or a hidden name."""
    exercise = load_exercise(list_exercises()[0])
    answer = next(s for s in solution_secrets() if "answer" in s.origin)
    hidden = next(t for t in exercise.tests if t.hidden)
    copy = tmp_path / "copy"
    shutil.copytree(edition, copy)
    notebook = copy / "notebooks" / f"{lessons.discover()[0].name}.ipynb"
    data = json.loads(notebook.read_text())
    code = next(c for c in data["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout",
                        "text": "\n".join(answer.lines) + "\n"}]
    notebook.write_text(json.dumps(data))
    (copy / "src" / "mlops_course" / "helpers.py").write_text(
        f"# {hidden.grade_id}\n" + "\n".join(answer.lines) + "\n")
    leaks = find_leaks(copy, solution_secrets(), public_text())
    assert any(notebook.name in leak and answer.origin in leak for leak in leaks), leaks
    assert any("helpers.py" in leak and hidden.grade_id in leak for leak in leaks), leaks


# The lessons whose files reach furthest outside the package: lesson 1 (data, Flask app),
# lesson 4 (dvc.yaml, params.yaml, a DVC remote) and lesson 10 (tests/model, workflows).
# Every lesson already runs from the checkout in fast and full mode (test_notebooks.py);
# what can differ in the edition is the file set, which the import check below covers for
# the package. Running all of them again here cost ~220 s of the suite's 15-minute budget.
EDITION_LESSONS = ("01", "04", "10")


@pytest.mark.notebook
def test_edition_runs_its_lessons_in_fast_mode_with_its_own_package(
        edition: Path, housing_csv: Path) -> None:
    """`make lessons FAST=1` in the edition (three lessons, see EDITION_LESSONS), on this
    checkout's environment (the `-o` keeps make from reinstalling it) and data cache,
    importing the edition's package."""
    venv = Path(sys.prefix)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MLOPS_COURSE_") and k not in ("FAST", "PYTHONPATH", "LESSONS")}
    env.update(PYTHONPATH=str(edition / "src"), MLOPS_COURSE_DATA_DIR=str(config.data_dir()))
    probe = subprocess.run([sys.executable, "-c", "import mlops_course.config as c; "
                            "print(c.__file__); print(c.project_root())"], env=env,
                           capture_output=True, text=True, check=True).stdout.split()
    assert probe == [str(edition / "src" / "mlops_course" / "config.py"), str(edition)]
    proc = subprocess.run(["make", "-o", str(venv / ".installed"), "lessons", "FAST=1",
                           f"LESSONS={' '.join(EDITION_LESSONS)}", f"VENV={venv}"], cwd=edition,
                          env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((edition / "build" / "lessons" / "summary.json").read_text())
    assert summary["mode"] == "fast" and summary["ok"]
    assert sorted(e["name"][:2] for e in summary["lessons"]) == list(EDITION_LESSONS)


def test_every_module_of_the_edition_package_imports(edition: Path) -> None:
    """Each module of the edition's package imports from the edition (nothing it needs was
    left out); the lessons not run above import only these modules and the data."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_COURSE_")}
    env["PYTHONPATH"] = str(edition / "src")
    code = ("import importlib, pkgutil, mlops_course as m\n"
            f"assert m.__file__.startswith({str(edition)!r}), m.__file__\n"
            "names = [i.name for i in pkgutil.walk_packages(m.__path__, 'mlops_course.')]\n"
            "[importlib.import_module(n) for n in names]\n"
            "print(len(names))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=edition, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) > 20


def test_edition_tests_collect_without_solutions(edition: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_COURSE_")}
    env["PYTHONPATH"] = str(edition / "src")
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                           "no:cacheprovider"], cwd=edition, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "test_notebooks.py" in proc.stdout and "test_outputs.py" in proc.stdout


def test_release_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_course import cli

    assert cli.main(["release", str(tmp_path / "edition")]) == 0
    assert "no solution or hidden test inside" in capsys.readouterr().out
    assert cli.main(["release", str(ROOT)]) == 2
    assert "holds this checkout" in capsys.readouterr().err


def test_release_never_replaces_a_folder_it_did_not_write(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my work")
    with pytest.raises(ReleaseError, match="not empty"):
        build_student_edition(mine)
    assert (mine / "notes.txt").read_text() == "my work"
    with pytest.raises(ReleaseError, match="inside the checkout"):
        build_student_edition(ROOT / "notebooks" / "edition")


def test_release_updates_an_earlier_edition_and_keeps_its_git_folder(tmp_path: Path) -> None:
    out = tmp_path / "edition"
    build_student_edition(out)
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (out / "stale.txt").write_text("from an older release")
    build_student_edition(out)
    assert (out / ".git" / "HEAD").exists() and not (out / "stale.txt").exists()


def test_edition_carries_assessment_briefs_and_starters_never_answers(
        edition: Path, tmp_path: Path) -> None:
    from mlops_course.course.assessment.edition import assessment_secrets

    files = _files(edition)
    assert {"assessment/assignment-1/brief.md", "assessment/assignment-1/rubric.yaml",
            "assessment/assignment-1/starter/analysis.ipynb", "assessment/major/brief.md",
            "assessment/major/rubric.yaml", "assessment/viva/guide.md"} <= files
    assert not [f for f in files if "/reference/" in f or "viva/questions" in f
                or f == "assessment/README.md"]
    guide = (edition / "assessment" / "viva" / "guide.md").read_text()
    assert "What to expect" in guide and "Marking scheme" not in guide
    # the scan finds a reference solution or a viva answer copied anywhere in the edition
    secrets, public = assessment_secrets(), public_text()
    assert find_leaks(edition / "assessment", secrets, public) == []
    planted = tmp_path / "planted"
    planted.mkdir()
    reference = ROOT / "assessment" / "major" / "reference"
    shutil.copy(reference / "diabetes" / "service.py", planted / "notes.py")
    shutil.copy(ROOT / "assessment" / "viva" / "questions" / "04-versioning.yaml",
                planted / "viva.md")
    leaks = find_leaks(planted, secrets, public)
    assert any("notes.py" in leak and "reference solution" in leak for leak in leaks), leaks
    assert any("viva.md" in leak and "viva model answers" in leak for leak in leaks), leaks
