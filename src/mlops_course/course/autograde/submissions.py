"""Read student submissions: find them in a folder, take only their answer cells.

A submission is a notebook (``.ipynb``) or its py:percent text (``.py``); the student
id is the file name without extension, or the name of a folder that holds exactly one
notebook. Only the student's *answer cells* are kept, matched by their ``grade_id``
metadata (or, if a tool stripped it, by the order of the cells tagged ``solution``):
they are placed into the released template, so edited, deleted, duplicated or
reordered test cells change nothing. A file that cannot be read still gives a
:class:`Submission` (with ``problem`` set), so that it still gets a row in the
gradebook.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_course.course.exercises import BEGIN_SOLUTION, END_SOLUTION, Exercise

SUFFIXES = (".ipynb", ".py")
MAX_SUBMISSION_BYTES = 20_000_000
MAX_PY_BYTES = 2_000_000  # a .py holds no outputs: 2 MB is a hundred times an exercise
MAX_CELLS = 500  # an exercise has about 20 cells; parsing .py cells is superlinear
MAX_ANSWER_BYTES = 200_000
MAX_ID_CHARS = 80
# every line jupytext may read as a cell marker (py:percent, and the formats it also accepts)
_CELL_MARKER = re.compile(r"^[ \t]*#[ \t]*(?:%%|In\s*\[|<codecell>|<markdowncell>|<rawcell>)",
                          re.MULTILINE)
_ID_OK = re.compile(r"[^\W]|[.\-]")  # letters, digits, underscore, dot, hyphen


@dataclass(frozen=True)
class Submission:
    """One student's submission, read and reduced to answer cells.

    Attributes
    ----------
    student:
        The id: file name without extension, or the folder's name.
    path:
        The file that was read (or the folder / file that could not be).
    sha256:
        Hash of the file's bytes (None if it could not be read at all).
    answers:
        grade_id -> source of the student's answer cell.
    problem:
        Why the submission could not be graded at all, or None.
    notes:
        What a human should look at (answers matched by order, duplicated or
        missing answer cells, answers identical to the model solution).
    """

    student: str
    path: Path
    sha256: str | None = None
    answers: dict[str, str] = field(default_factory=dict)
    problem: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubmissionFile:
    """A submission found in the folder, not read yet (``problem``: why it cannot be)."""

    student: str
    path: Path
    problem: str | None = None


def find_submissions(folder: Path, *, exclude: tuple[Path, ...] = ()
                     ) -> tuple[list[SubmissionFile], list[str]]:
    """The submissions in ``folder``, sorted by student id, and the names it ignored.

    Files other than ``.ipynb`` / ``.py`` and hidden entries are ignored (and
    listed, so that the caller can say so). Two submissions with one id, or a
    folder without exactly one notebook, give an entry with a ``problem``.

    Raises
    ------
    FileNotFoundError
        ``folder`` is not a folder.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"The submissions folder {folder} does not exist or is not "
                                "a folder. Fix: pass the folder that holds one notebook per "
                                "student (alice.ipynb, bob.py, carol/…)")
    excluded = {p.resolve() for p in exclude}
    found: dict[str, list[SubmissionFile]] = {}
    ignored = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.resolve() in excluded:
            continue
        info = entry.lstat()
        if stat.S_ISDIR(info.st_mode):
            found.setdefault(student_id(entry.name), []).append(_folder_submission(entry))
        elif entry.suffix in SUFFIXES:
            problem = None if stat.S_ISREG(info.st_mode) else (
                f"{student_id(entry.name)} is not a regular file (a symbolic link?); the "
                "grader reads only plain files: replace it by the file itself")
            student = student_id(entry.stem)
            found.setdefault(student, []).append(SubmissionFile(student, entry, problem))
        else:
            ignored.append(student_id(entry.name))
    submissions = []
    for student, entries in sorted(found.items()):
        if len(entries) > 1:
            names = ", ".join(student_id(e.path.name) for e in entries)
            submissions.append(SubmissionFile(student, folder, (
                f"{len(entries)} submissions for {student!r}: {names}; keep one and grade "
                "again")))
        else:
            submissions.append(entries[0])
    return submissions, ignored


def _folder_submission(folder: Path) -> SubmissionFile:
    candidates = sorted(p for p in folder.iterdir()
                        if p.suffix == ".ipynb" and not p.name.startswith("."))
    if not candidates:
        candidates = sorted(p for p in folder.iterdir()
                            if p.suffix == ".py" and not p.name.startswith("."))
    student = student_id(folder.name)
    if len(candidates) != 1:
        names = ", ".join(student_id(p.name) for p in candidates[:10]) or "none"
        return SubmissionFile(student, folder, (
            f"the folder {student}/ must hold exactly one notebook, it holds "
            f"{len(candidates)} ({names}); keep one and grade again"))
    path = candidates[0]
    problem = None if stat.S_ISREG(path.lstat().st_mode) else (
        f"{student_id(path.name)} is not a regular file (a symbolic link?)")
    return SubmissionFile(student, path, problem)


def submission_digest(found: SubmissionFile, max_bytes: int = MAX_SUBMISSION_BYTES
                      ) -> str | None:
    """sha256 of the submission's bytes (None if it cannot or will not be read): cheap,
    so that a stored result is reused without parsing the file again."""
    if found.problem:
        return None
    try:
        if found.path.stat().st_size > max_bytes:
            return None
        with open(found.path, "rb") as handle:
            return hashlib.sha256(handle.read(max_bytes + 1)).hexdigest()
    except OSError:
        return None


def read_submission(found: SubmissionFile, exercise: Exercise, *,
                    max_bytes: int = MAX_SUBMISSION_BYTES) -> Submission:
    """Read one submission and keep only its answer cells (never raises for bad input)."""
    if found.problem:
        return Submission(found.student, found.path, problem=found.problem)
    if found.path.suffix == ".py":
        max_bytes = min(max_bytes, MAX_PY_BYTES)
    try:
        size = found.path.stat().st_size
        if size > max_bytes:
            return Submission(found.student, found.path, problem=(
                f"the file is {size / 1e6:.1f} MB, more than the {max_bytes / 1e6:g} MB "
                "limit: clear the outputs (Edit > Clear Outputs of All Cells), save, "
                "submit again"))
        with open(found.path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        return Submission(found.student, found.path,
                          problem=f"cannot read the file: {exc.strerror or type(exc).__name__}")
    digest = hashlib.sha256(data).hexdigest()
    if not data.strip():
        return Submission(found.student, found.path, digest, problem="the file is empty")
    try:
        cells = (_notebook_cells(data) if found.path.suffix == ".ipynb"
                 else _percent_cells(data))
    except ValueError as exc:
        return Submission(found.student, found.path, digest, problem=str(exc))
    answers, notes = match_answers(cells, exercise)
    return Submission(found.student, found.path, digest, answers, notes=tuple(notes))


def _notebook_cells(data: bytes) -> list[dict[str, Any]]:
    try:
        notebook = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"not a valid notebook (the file is not JSON: {exc}); open it in "
                         "Jupyter and save it again, or submit the .py file") from exc
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        if isinstance(notebook, dict) and "worksheets" in notebook:
            raise ValueError("a notebook in the old format 3; open it in Jupyter and save it "
                             "again (format 4)")
        raise ValueError("not a valid notebook (no list of cells); open it in Jupyter and "
                         "save it again")
    if len(notebook["cells"]) > MAX_CELLS:
        raise ValueError(_too_many_cells(len(notebook["cells"])))
    cells = []
    for cell in notebook["cells"]:
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        metadata = cell.get("metadata")
        cells.append({"cell_type": cell.get("cell_type"),
                      "source": source if isinstance(source, str) else "",
                      "metadata": metadata if isinstance(metadata, dict) else {}})
    return cells


def _percent_cells(data: bytes) -> list[dict[str, Any]]:
    import jupytext

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"the .py file is not UTF-8 text (byte {exc.start})") from exc
    markers = len(_CELL_MARKER.findall(text))
    if markers > MAX_CELLS:
        raise ValueError(_too_many_cells(markers))
    try:
        notebook = jupytext.reads(text, fmt="py:percent")
    except Exception as exc:  # noqa: BLE001 - jupytext raises many kinds on odd input
        raise ValueError(f"cannot read the .py file as py:percent cells: {exc}") from exc
    return [{"cell_type": c.cell_type, "source": c.source, "metadata": dict(c.metadata)}
            for c in notebook.cells]


def _too_many_cells(count: int) -> str:
    return (f"the file has {count:,} cells, more than the {MAX_CELLS} the grader reads (the "
            "exercise has about 20): submit the exercise notebook itself")


def match_answers(cells: list[dict[str, Any]], exercise: Exercise
                  ) -> tuple[dict[str, str], list[str]]:
    """Pick the student's answer cells: by ``grade_id``, else by order of solution tags.

    Returns grade_id -> source and the notes for a human reviewer.
    """
    wanted = list(exercise.answers)
    code = [c for c in cells if c["cell_type"] == "code"]
    answers: dict[str, str] = {}
    notes: list[str] = []
    duplicated = set()
    for cell in code:
        grade_id = cell["metadata"].get("grade_id")
        if isinstance(grade_id, str) and grade_id in wanted:
            if grade_id in answers:
                duplicated.add(grade_id)
            else:
                answers[grade_id] = cell["source"]
    for grade_id in sorted(duplicated):
        notes.append(f"answer cell {grade_id!r} appears more than once; the first was graded")
    if not answers:
        tagged = [c["source"] for c in code if _has_tag(c["metadata"], "solution")]
        if tagged:
            answers = dict(zip(wanted, tagged, strict=False))
            notes.append(f"no answer cell carries its grade_id: matched {len(answers)} cells "
                         "tagged 'solution' by their order")
    missing = [g for g in wanted if g not in answers]
    if missing and len(missing) == len(wanted):
        notes.append("no answer cell found (no grade_id metadata, no 'solution' tags): was "
                     "the notebook saved by another tool? Grade it by hand")
    elif missing:
        notes.append(f"answer cell(s) not found: {', '.join(missing)} (deleted?)")
    for grade_id, source in list(answers.items()):
        if len(source.encode()) > MAX_ANSWER_BYTES:
            answers[grade_id] = (f"raise RuntimeError('this answer cell is "
                                 f"{len(source.encode()):,} bytes, more than the "
                                 f"{MAX_ANSWER_BYTES:,} the grader runs')\n")
            notes.append(f"answer cell {grade_id!r} is too large to run")
    model = {g: _normalized(s) for g, s in exercise.answers.items()}
    if answers and all(_normalized(s) == model[g] for g, s in answers.items()) and (
            len(answers) == len(model)):
        notes.append("the answers are the model solution, word for word")
    return answers, notes


def _has_tag(metadata: dict[str, Any], tag: str) -> bool:
    tags = metadata.get("tags")
    return isinstance(tags, list) and tag in tags


def _normalized(source: str) -> str:
    lines = [line.rstrip() for line in source.strip().splitlines()]
    return "\n".join(line for line in lines
                     if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION) and line.strip())


def student_id(name: str) -> str:
    """A student id safe to print and to use as a file name, from a file or folder name.

    Letters, digits, ``_``, ``.`` and ``-`` are kept; anything else (spaces, control
    characters, undecodable bytes, path separators) becomes ``_``. An id that had to be
    changed, or is longer than 90 characters, ends in ``-`` and 8 hex digits of the
    original name's hash, so that two names never share an id.

    Examples
    --------
    >>> student_id("alice")
    'alice'
    >>> student_id("bob\x1b[2J")
    'bob__2J-842e3273'
    """
    kept = "".join(c if _ID_OK.fullmatch(c) else "_" for c in name)
    if kept == name and len(name) <= MAX_ID_CHARS + 10 and name[:1] not in ("", ".", "-"):
        return name
    raw = name.encode("utf-8", "surrogateescape")
    stem = kept.lstrip(".-")[:MAX_ID_CHARS] or "student"
    return f"{stem}-{hashlib.sha256(raw).hexdigest()[:8]}"


def safe_student_id(student: str) -> str:
    """The id as a file name for the output folder: :func:`student_id`, which never
    starts with ``.`` or ``-`` and never maps two names to one id."""
    return student_id(student)
