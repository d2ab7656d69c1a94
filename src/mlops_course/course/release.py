"""The student edition: the course without anything that gives answers away.

Instructors keep this repository (solutions, hidden tests, the grading corpus, the
grader's tests); students get the edition, e.g. as a repository of its own::

    mlops-course release OUT        # or: make release OUT=...

It holds the lectures, the lesson notebooks (with their stored outputs), the exercises
generated afresh from ``solutions/`` (stubs and public tests only), the package, the
DVC pipeline of lesson 4, the tests that need no solution, the assessment's briefs, rubrics,
starters and viva guide (never its reference solutions or viva answers), a student README
(``edition/README.md``) and a Makefile without the instructor targets (``make lessons``,
``make lab`` and ``make test`` work). Nothing else is copied: the files come from an
allow-list, never from "everything but". Before it finishes, the release scans every file
it wrote for a line of a solution or of a hidden test and fails if it finds one.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mlops_course import config
from mlops_course.errors import MlopsCourseError

MARKER = ".mlops-course-edition"  # marks a folder this command wrote (safe to replace)
TOP_LEVEL_FILES = ("pyproject.toml", "constraints.txt", "environment.yml", "jupytext.toml",
                   ".gitignore", "dvc.yaml", "dvc.lock", "params.yaml", ".dvcignore",
                   ".dvc/config", ".dvc/.gitignore", ".pre-commit-config.yaml",
                   ".github/workflows/ci.yml", ".github/workflows/nightly.yml",
                   ".github/workflows/continuous-training.yml",
                   "Dockerfile", ".dockerignore", "compose.yaml")  # lesson 3's image
# the tests a student can run: lessons in fast and full mode, stored outputs (nbval), and
# the tests of feature code, data and model behaviour that lesson 10 runs and explains
STUDENT_TESTS = ("tests/conftest.py", "tests/lessons/test_notebooks.py",
                 "tests/lessons/test_outputs.py", "tests/lessons/expected", "tests/model")
INSTRUCTOR_BEGIN = "# >>> instructor edition only"
INSTRUCTOR_END = "# <<< instructor edition only"
_MIN_LINE = 20  # shorter lines are too common to count as a leak on their own
_WINDOW = 3  # this many consecutive lines of a secret, found together, are a leak


class ReleaseError(MlopsCourseError):
    """The student edition could not be written, or it would give answers away."""


@dataclass
class Edition:
    """What :func:`build_student_edition` wrote."""

    path: Path
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        folders = sorted({p.relative_to(self.path).parts[0] for p in self.files})
        return (f"Student edition written to {self.path}: {len(self.files)} files "
                f"({', '.join(folders)}); no solution or hidden test inside.")


@dataclass(frozen=True)
class Secret:
    """Text a student must not get: where it comes from and its lines."""

    origin: str
    lines: tuple[str, ...]
    names: tuple[str, ...] = ()  # identifiers that give it away (a hidden test's grade_id)


def _stripped(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def solution_secrets() -> list[Secret]:
    """The model answers (the code between the solution markers) and the hidden tests
    of every exercise."""
    from mlops_course.course.exercises import (
        BEGIN_SOLUTION,
        END_SOLUTION,
        list_exercises,
        load_exercise,
    )

    secrets = []
    for name in list_exercises():
        exercise = load_exercise(name)
        for grade_id, source in exercise.answers.items():
            for block in source.split(BEGIN_SOLUTION)[1:]:
                body = block.split(END_SOLUTION, 1)[0]
                secrets.append(Secret(f"solutions/{name}.py, answer {grade_id}",
                                      tuple(_stripped(body))))
        for test in exercise.tests:
            if test.hidden:
                secrets.append(Secret(f"solutions/{name}.py, hidden test {test.grade_id}",
                                      tuple(_stripped(test.source)), (test.grade_id,)))
    return secrets


@dataclass(frozen=True)
class PublicText:
    """What students get anyway, as sets of stripped lines."""

    taught: frozenset[str]  # lessons, lectures, the released exercises
    package: frozenset[str]  # the course package (common code: `except ValueError:` ...)


def public_text() -> PublicText:
    """The lines of the lessons, lectures, released exercises and package of this checkout."""
    from mlops_course.course.exercises import list_exercises, load_exercise, student_notebook

    root = config.project_root()
    taught: set[str] = set()
    for path in [*root.glob("notebooks/[0-9][0-9]_*.py"), *root.glob("lectures/*.md")]:
        taught.update(_stripped(path.read_text(encoding="utf-8")))
    for name in list_exercises():
        for cell in student_notebook(load_exercise(name)).cells:
            taught.update(_stripped(cell.source))
    from mlops_course.course.assessment.edition import student_files

    for relative, text in student_files().items():  # briefs, rubrics, starters
        text = text if text is not None else (root / relative).read_text("utf-8", "replace")
        taught.update(_stripped(_searchable(root / relative, text)))
    package: set[str] = set()
    for path in (root / "src" / "mlops_course").rglob("*.py"):
        package.update(_stripped(path.read_text(encoding="utf-8")))
    return PublicText(frozenset(taught), frozenset(package))


def find_leaks(folder: Path, secrets: list[Secret], public: PublicText | None = None
               ) -> list[str]:
    """Where a secret shows up in the files under ``folder``, as readable lines.

    A secret shows up when

    * a file names it (a hidden test's ``grade_id``), or
    * a file has one of its lines, longer than 20 characters, that is in none of the
      public text (a single line the package also has is common code), or
    * a file has :data:`_WINDOW` of its consecutive lines, in order, and one of them is
      not taught anywhere (that catches a copy of an answer into the package, too).

    Notebooks are searched with their sources and outputs decoded.
    """
    public = public or PublicText(frozenset(), frozenset())
    known = public.taught | public.package
    found = []
    files: dict[Path, tuple[set[str], str]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and ".git" not in path.relative_to(folder).parts:
            try:
                text = _searchable(path, path.read_text(encoding="utf-8"))
            except UnicodeDecodeError:
                continue
            lines = _stripped(text)
            files[path] = (set(lines), "\n".join(lines))
    for secret in secrets:
        distinctive = [line for line in secret.lines if len(line) > _MIN_LINE
                       and line not in known]
        windows = ["\n".join(secret.lines[i:i + _WINDOW])
                   for i in range(len(secret.lines) - _WINDOW + 1)
                   if not set(secret.lines[i:i + _WINDOW]) <= public.taught
                   and not all(_is_import(line) for line in secret.lines[i:i + _WINDOW])]
        names = [re.compile(rf"\b{re.escape(name)}\b") for name in secret.names]
        for path, (lines, joined) in files.items():
            where = path.relative_to(folder)
            if any(name.search(joined) for name in names):
                found.append(f"{where}: names {secret.origin}")
            elif hit := next((line for line in distinctive if line in lines), None):
                found.append(f"{where}: line of {secret.origin}: {hit!r}")
            elif hit := next((w for w in windows if w in joined), None):
                found.append(f"{where}: {_WINDOW} lines of {secret.origin}, from "
                             f"{hit.splitlines()[0]!r}")
    return found


def _is_import(line: str) -> bool:
    """A plain import line: three of them in a row (``import os`` ...) are in half the
    package and give no answer away."""
    return re.fullmatch(r"(from [\w.]+ )?import [\w., ]+", line) is not None


def _searchable(path: Path, text: str) -> str:
    if path.suffix != ".ipynb":
        return text
    import json

    try:
        notebook = json.loads(text)
    except ValueError:
        return text
    parts = [text]
    for cell in notebook.get("cells", []):
        source = cell.get("source", "")
        parts.append("".join(source) if isinstance(source, list) else str(source))
        for output in cell.get("outputs", []):
            for value in [output.get("text", ""), *output.get("data", {}).values()]:
                parts.append("".join(value) if isinstance(value, list) else str(value))
    return "\n".join(parts)


def without_marked_blocks(text: str, begin: str, end: str, what: str) -> str:
    """``text`` without the blocks between lines ``begin`` and ``end`` (instructor-only
    parts of a file); ReleaseError if a block is never closed."""
    out, skipping = [], False
    for line in text.splitlines():
        if line.strip() == begin:
            skipping = True
        elif line.strip() == end:
            skipping = False
        elif not skipping:
            out.append(line)
    if skipping:
        raise ReleaseError(f"{what}: {begin!r} without {end!r}")
    return "\n".join(out).rstrip("\n") + "\n"


def student_makefile(text: str) -> str:
    """The Makefile without the blocks between the instructor-only markers."""
    return without_marked_blocks(text, INSTRUCTOR_BEGIN, INSTRUCTOR_END, "Makefile")


def student_readme(template: str) -> str:
    """``edition/README.md`` with its ``{{lessons}}`` table filled in from the lessons."""
    from mlops_course.course.lessons import discover

    root = config.project_root()
    rows = ["| # | lesson | lecture | notebook | exercise |", "| --- | --- | --- | --- | --- |"]
    for lesson in discover():
        number = lesson.name[:2]
        lectures = sorted(root.glob(f"lectures/{number}-*.md"))
        lecture = f"[lecture](lectures/{lectures[0].name})" if lectures else "—"
        exercise = (f"[exercise](exercises/{lesson.name}.ipynb)"
                    if (config.solutions_dir() / f"{lesson.name}.py").exists() else "—")
        rows.append(f"| {int(number)} | {lesson.title.split(' — ', 1)[-1]} | {lecture} | "
                    f"[notebook](notebooks/{lesson.name}.ipynb) | {exercise} |")
    return template.replace("{{lessons}}", "\n".join(rows))


def _check_target(out: Path, root: Path) -> None:
    if out == root or out in root.parents:
        raise ReleaseError(f"{out} holds this checkout; choose a folder outside it "
                           "(e.g. ../mlops-course-student) or under build/.")
    if root in out.parents and config.build_dir() not in [out, *out.parents]:
        raise ReleaseError(f"{out} is inside the checkout; choose a folder outside it "
                           "(e.g. ../mlops-course-student) or under build/.")
    if out.exists() and not out.is_dir():
        raise ReleaseError(f"{out} is a file; choose a folder.")
    if out.is_dir() and any(p.name != ".git" for p in out.iterdir()) and not (
            out / MARKER).exists():
        raise ReleaseError(f"{out} is not empty and was not written by `mlops-course release`; "
                           "nothing was changed. Choose an empty or new folder.")


def build_student_edition(out: Path) -> Edition:
    """Write the student edition into ``out`` (new, empty, or an earlier edition: then
    everything but its ``.git`` folder is replaced, so an edition repository can be
    updated in place and committed)."""
    from mlops_course.course.exercises import list_exercises, load_exercise, render_student_notebook
    from mlops_course.course.lessons import discover

    root = config.project_root()
    out = out.expanduser().resolve()
    _check_target(out, root)
    template = root / "edition" / "README.md"
    if not template.is_file():
        raise ReleaseError(f"{template} is missing: the release needs the instructor "
                           "repository (the student edition cannot release itself).")
    if out.is_dir():
        for entry in out.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else \
                    entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    edition = Edition(out)

    def write(relative: str, text: str | None = None, source: Path | None = None) -> None:
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if text is not None:
            target.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(source or root / relative, target)
        edition.files.append(target)

    for name in TOP_LEVEL_FILES:
        if (root / name).is_file():
            write(name)
    write("Makefile", student_makefile((root / "Makefile").read_text(encoding="utf-8")))
    write("README.md", student_readme(template.read_text(encoding="utf-8")))
    for path in sorted((root / "lectures").rglob("*")):
        if path.is_file() and not any(p.startswith(".") for p in path.relative_to(root).parts):
            write(str(path.relative_to(root)))
    for lesson in discover():
        write(f"notebooks/{lesson.path.name}")
        if lesson.path.with_suffix(".ipynb").exists():
            write(f"notebooks/{lesson.name}.ipynb")
    for name in list_exercises():
        write(f"exercises/{name}.ipynb", render_student_notebook(load_exercise(name)))
    package = root / "src" / "mlops_course"
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" not in path.parts:
            write(str(path.relative_to(root)))
    for name in STUDENT_TESTS:
        source = root / name
        for path in sorted(source.rglob("*") if source.is_dir() else [source]):
            if path.is_file() and "__pycache__" not in path.parts:
                write(str(path.relative_to(root)))
    from mlops_course.course.assessment.edition import assessment_secrets, student_files

    for relative, text in student_files().items():  # never reference/ or the viva banks
        write(relative, text)
    (out / MARKER).write_text("Written by `mlops-course release`; the next release replaces "
                              "everything here but .git/.\n", encoding="utf-8")
    leaks = find_leaks(out, solution_secrets() + assessment_secrets(), public_text())
    if leaks:
        raise ReleaseError("The student edition would give answers away; fix the sources "
                           f"and release again ({out} is incomplete):\n  " + "\n  ".join(leaks))
    return edition
